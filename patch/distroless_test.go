package patch

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// distrolessFrom builds a distroless-style system from the old packages:
// their files unpacked by dpkg-deb and a status.d/<pkg> paragraph and
// status.d/<pkg>.md5sums per package, with no info directory and no apt.
func distrolessFrom(t *testing.T, b *dpkgBundle) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "distroless")
	must(t, os.MkdirAll(filepath.Join(root, "var/lib/dpkg/status.d"), 0o755))
	for _, deb := range b.oldDebs {
		run(t, "", "dpkg-deb", "-x", deb, root)
		name := strings.TrimSpace(run(t, "", "dpkg-deb", "-f", deb, "Package"))
		fields := run(t, "", "dpkg-deb", "-f", deb)
		fields = strings.Replace(fields, "\nMaintainer:", "\nStatus: install ok installed\nMaintainer:", 1)
		must(t, os.WriteFile(filepath.Join(root, "var/lib/dpkg/status.d", name), []byte(fields), 0o644))
		// md5sums as dh_md5sums makes them: regular files but conffiles.
		sums := []byte(run(t, root, "sh", "-c", `dpkg-deb -c "$1" | awk '$1 ~ /^-/ {print substr($6, 3)}' | grep -v '^etc/' | xargs -r md5sum`, "sh", deb))
		must(t, os.WriteFile(filepath.Join(root, "var/lib/dpkg/status.d", name+".md5sums"), sums, 0o644))
	}
	return root
}

func TestDpkgLayerDistroless(t *testing.T) {
	t.Parallel()
	b := setupDemo(t)
	orig := distrolessFrom(t, b)
	lf, report, err := BuildLayer(context.Background(), &Dpkg{}, LayerParams{
		Root: os.DirFS(orig), RootComplete: true, Upgrades: b.upgrades, Debs: DirDebs{Dir: b.debs},
	}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := unpackWithUmoci(t, mustImage(t, ImageParams{Base: ociImageFromDir(t, orig), BaseName: "example.org/distroless:1", Layer: lf, Report: report}))

	// The oracle: the real dpkg upgrading the same packages on a plain
	// system (no usr merge, like the distroless tree).
	want := newSkeleton(t, false)
	dpkgInstall(t, want, b.oldDebs...)
	dpkgInstall(t, want, b.newDebs...)
	outsideDB := func(rel string) bool { return strings.HasPrefix(rel, "var/lib/dpkg") }
	d := diffTrees(snapshot(t, want, outsideDB), snapshot(t, root, outsideDB), nil)
	var unexpected []string
	for _, l := range d {
		// Without file lists nothing says who owns a directory, so emptied
		// directories stay; the skeleton's own files are not in the image.
		switch l {
		case "only in second: usr/share/demo/olddir", "only in first: etc/passwd", "only in first: etc/group", "only in first: usr/lib":
			continue
		}
		unexpected = append(unexpected, l)
	}
	if len(unexpected) > 0 {
		t.Errorf("distroless result differs from dpkg's:\n%s", strings.Join(unexpected, "\n"))
	}

	t.Run("status.d paragraphs are what dpkg records", func(t *testing.T) {
		for _, pkg := range []string{"demo", "libdemo1"} {
			got, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status.d", pkg))
			must(t, err)
			status := run(t, "", "dpkg-query", "--admindir="+filepath.Join(want, "var/lib/dpkg"), "-s", pkg)
			// status.d has no Conffiles of the old version, so the patch
			// cannot know which ones the new version made obsolete.
			var keep []string
			for _, l := range strings.Split(status, "\n") {
				if !strings.HasSuffix(l, " obsolete") {
					keep = append(keep, l)
				}
			}
			status = strings.Join(keep, "\n")
			if strings.TrimSpace(string(got)) != strings.TrimSpace(status) {
				t.Errorf("status.d/%s:\n%s\ndpkg has:\n%s", pkg, got, status)
			}
		}
	})
	t.Run("md5sums check out with md5sum -c", func(t *testing.T) {
		for _, pkg := range []string{"demo", "libdemo1"} {
			cmd := exec.Command("md5sum", "--quiet", "-c", filepath.Join(root, "var/lib/dpkg/status.d", pkg+".md5sums"))
			cmd.Dir = root
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Errorf("md5sum -c %s: %v\n%s", pkg, err, out.String())
			}
		}
	})
}

func mustImage(t *testing.T, p ImageParams) v1.Image {
	t.Helper()
	img, err := Image(p)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
