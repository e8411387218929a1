// Command benchtool sets up the scan benchmark from a shell script
// (scripts/bench-scan): it serves the in-process distribution registry and
// pushes root filesystems to it as images. It is a test tool, never part of
// the patchloop binary.
//
//	benchtool serve -dir DIR              print host:port, serve until killed
//	benchtool push -registry ADDR -ref REPO:TAG -rootfs DIR [-layer-out FILE] [-pad-mib N] [-env K=V]
package main

import (
	"compress/gzip"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/patchloop/patchloop/internal/regserver"
	"github.com/patchloop/patchloop/internal/testutil"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool serve|push …")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "push":
		err = push(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

func serve(args []string) error {
	fl := flag.NewFlagSet("serve", flag.ExitOnError)
	dir := fl.String("dir", "", "registry storage directory")
	_ = fl.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := regserver.Start(ctx, regserver.Config{Dir: *dir})
	if err != nil {
		return err
	}
	fmt.Println(s.Addr)
	<-ctx.Done()
	return s.Close()
}

func push(args []string) error {
	fl := flag.NewFlagSet("push", flag.ExitOnError)
	reg := fl.String("registry", "", "registry host:port")
	ref := fl.String("ref", "", "repo:tag")
	rootfs := fl.String("rootfs", "", "root filesystem directory")
	layerOut := fl.String("layer-out", "", "keep the compressed layer at this path")
	padMiB := fl.Int("pad-mib", 0, "add a file of this many MiB of random data to the layer")
	env := fl.String("env", "", "add K=V to the config's environment (same layers, new digest)")
	_ = fl.Parse(args)
	if *reg == "" || *ref == "" || *rootfs == "" {
		return errors.New("push needs -registry, -ref and -rootfs")
	}
	layerPath := *layerOut
	if layerPath == "" {
		tmp, err := os.MkdirTemp("", "benchtool-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		layerPath = filepath.Join(tmp, "layer.tar.gz")
	}
	if _, err := os.Stat(layerPath); err != nil {
		if err := writeLayer(layerPath, *rootfs, *padMiB); err != nil {
			return err
		}
	}
	layer, err := tarball.LayerFromFile(layerPath)
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if *env != "" {
		cf.Config.Env = append(cf.Config.Env, *env)
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return err
	}
	r, err := name.ParseReference(*reg+"/"+*ref, name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.Write(r, img); err != nil {
		return fmt.Errorf("pushing %s: %w", r, err)
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Println(d)
	return nil
}

// writeLayer writes the tree at dir, plus an optional file of padMiB
// random (incompressible) MiB at /usr/share/pad.bin, as a gzip layer at
// path, compressed at gzip's default level as docker builds layers.
func writeLayer(path, dir string, padMiB int) error {
	src := dir
	if padMiB > 0 {
		tmp, err := os.MkdirTemp(filepath.Dir(path), "pad-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		src = filepath.Join(tmp, "root")
		if out, err := exec.Command("cp", "-a", dir, src).CombinedOutput(); err != nil {
			return fmt.Errorf("copying %s: %v: %s", dir, err, out)
		}
		pf, err := os.Create(filepath.Join(src, "usr/share/pad.bin"))
		if err != nil {
			return err
		}
		if _, err := io.CopyN(pf, rand.Reader, int64(padMiB)<<20); err != nil {
			return err
		}
		if err := pf.Close(); err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	gz := gzip.NewWriter(f)
	if err := testutil.WriteTree(gz, src); err != nil {
		return fmt.Errorf("archiving %s: %w", src, err)
	}
	if err := gz.Close(); err != nil {
		return err
	}
	return f.Close()
}
