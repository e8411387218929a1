package policy

import (
	"errors"
	"reflect"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/patchloop/patchloop/internal/testutil"
)

// TestSelectFromRealRegistry pushes the registry-like inventory to the
// real distribution registry, lists the tags back as the workflow will,
// and selects from them with the seed example policy.
func TestSelectFromRealRegistry(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	var refs []string
	for _, tag := range registryTags {
		refs = append(refs, "python:"+tag)
	}
	reg.PushRandom(t, refs...)
	reg.PushRandom(t, "ubuntu:jammy-20240111", "ubuntu:jammy-20240111-1", "ubuntu:jammy-20240111-patched")

	inventory := map[string][]string{}
	for _, repo := range []string{"python", "ubuntu", "missing"} {
		r, err := name.NewRepository(reg.Addr+"/"+repo, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		tags, err := remote.List(r)
		var terr *transport.Error
		if errors.As(err, &terr) && len(terr.Errors) > 0 && terr.Errors[0].Code == transport.NameUnknownErrorCode {
			continue // not in the inventory
		}
		if err != nil {
			t.Fatalf("listing %s: %v", repo, err)
		}
		inventory[repo] = tags
	}
	if _, ok := inventory["missing"]; ok {
		t.Fatal("registry listed a repository that was never pushed")
	}

	data, _, _ := marked("p.json", seedExample)
	p, _, err := Parse("p.json", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	got := p.Select(inventory)
	want := Selection{
		Images: []Image{
			img("python", "3.9", nil, "3.9-1"),
			img("python", "3.11", []string{"3.11-1", "3.11-2"}, "3.11-3"),
			img("python", "3.12-1000", nil, "3.12-1000-1"),
			img("python", "jammy-20240111", []string{"jammy-20240111-1"}, "jammy-20240111-2"),
			img("python", "latest", nil, "latest-1"),
			img("ubuntu", "jammy-20240111", []string{"jammy-20240111-1"}, "jammy-20240111-2"),
		},
		Missing: []Missing{{Repository: "ubuntu", Tag: "jammy-20240125"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Select =\n%+v\nwant\n%+v", got, want)
	}
}
