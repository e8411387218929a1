package pkgdb_test

import (
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/patchloop/patchloop/pkgdb"
	"github.com/patchloop/patchloop/pkgdb/pkgdbtest"
)

var apkSamples = []pkgdb.Package{
	{Name: "musl", Version: "1.2.4_git20230717-r4", Arch: "x86_64", SourceName: "musl", SourceVersion: "1.2.4_git20230717-r4"},
	{Name: "busybox", Version: "1.36.1-r15", Arch: "x86_64", SourceName: "busybox", SourceVersion: "1.36.1-r15"},
	{Name: "busybox-binsh", Version: "1.36.1-r15", Arch: "x86_64", SourceName: "busybox", SourceVersion: "1.36.1-r15"},
	{Name: "libcrypto3", Version: "3.1.7-r0", Arch: "x86_64", SourceName: "openssl", SourceVersion: "3.1.7-r0"},
	{Name: "libssl3", Version: "3.1.7-r0", Arch: "x86_64", SourceName: "openssl", SourceVersion: "3.1.7-r0"},
	{Name: "alpine-baselayout-data", Version: "3.4.3-r2", Arch: "x86_64", SourceName: "alpine-baselayout", SourceVersion: "3.4.3-r2"},
	{Name: "ca-certificates-bundle", Version: "20240226-r0", Arch: "x86_64", SourceName: "ca-certificates", SourceVersion: "20240226-r0"},
}

func apkRecord(p pkgdb.Package) string {
	return fmt.Sprintf("C:Q1abc=\nP:%s\nV:%s\nA:%s\nS:1234\nI:5678\nT:sample\nU:https://example.org\nL:MIT\no:%s\nm:Someone <x@example.org>\nt:1700000000\nD:so:libc.musl-x86_64.so.1\nF:usr/lib\nR:lib%s.so\na:0:0:755\nZ:Q1xyz=\n",
		p.Name, p.Version, p.Arch, p.SourceName, p.Name)
}

func writeAPK(t testing.TB, installed, _ []pkgdb.Package) fs.FS {
	var recs []string
	for _, p := range installed {
		recs = append(recs, apkRecord(p))
	}
	data := strings.Join(recs, "\n")
	if data != "" {
		data += "\n"
	}
	return fstest.MapFS{"lib/apk/db/installed": {Data: []byte(data)}}
}

func TestAPKConformance(t *testing.T) {
	pkgdbtest.Run(t, pkgdbtest.Harness{Reader: pkgdb.APKReader{}, Installed: apkSamples, Write: writeAPK})
}

func FuzzParseAPKInstalled(f *testing.F) {
	f.Add([]byte(apkRecord(apkSamples[0]) + "\n" + apkRecord(apkSamples[1])))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := pkgdb.ParseAPKInstalled(data)
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || p.SourceName == "" {
				t.Fatalf("incomplete package %+v", p)
			}
		}
	})
}
