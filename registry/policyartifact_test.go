package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/patchloop/patchloop/internal/testutil"
	"github.com/patchloop/patchloop/registry"
)

func TestPolicyArtifactRoundTrip(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	c := newClient(t, reg.Addr)
	ctx := context.Background()
	policy := []byte(`{"version":"v1","repositories":[{"repository":"python","tags":["3.11"]}]}`)

	h, err := c.PushPolicy(ctx, registry.PolicyTag, policy)
	if err != nil {
		t.Fatal(err)
	}

	// Read it with go-containerregistry directly, not through our reader.
	d, err := remote.Get(reg.Ref(t, registry.PolicyRepository+":"+registry.PolicyTag))
	if err != nil {
		t.Fatal(err)
	}
	if d.Digest != h {
		t.Fatalf("digest = %s, want %s", d.Digest, h)
	}
	var m v1.Manifest
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.ArtifactType != registry.PolicyArtifactType ||
		m.Config.MediaType != "application/vnd.oci.empty.v1+json" || m.Config.Size != 2 ||
		len(m.Layers) != 1 || m.Layers[0].MediaType != registry.PolicyMediaType {
		t.Fatalf("manifest = %s", d.Manifest)
	}
	cfg, err := remote.Layer(reg.Ref(t, registry.PolicyRepository+"@"+m.Config.Digest.String()).(name.Digest))
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := cfg.Compressed()
	b, _ := io.ReadAll(rc)
	if string(b) != "{}" {
		t.Fatalf("config blob = %q, want {}", b)
	}

	got, err := c.PullPolicy(ctx, registry.PolicyTag)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, policy) {
		t.Fatalf("pulled %q, want %q", got, policy)
	}
	if _, err := c.PullPolicy(ctx, registry.DryRunPolicyTag); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("pull of missing dryrun: %v", err)
	}
}

func TestPullPolicyRejectsOtherArtifacts(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	reg.PushRandom(t, registry.PolicyRepository+":"+registry.PolicyTag)
	_, err := newClient(t, reg.Addr).PullPolicy(context.Background(), registry.PolicyTag)
	if !errors.Is(err, registry.ErrNotPolicy) {
		t.Fatalf("err = %v, want ErrNotPolicy", err)
	}
}

func TestDeletePoliciesRemovesEveryManifest(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	c := newClient(t, reg.Addr)
	ctx := context.Background()

	if got, err := c.DeletePolicies(ctx); err != nil || len(got) != 0 {
		t.Fatalf("delete on empty registry = %v, %v", got, err)
	}
	a, err := c.PushPolicy(ctx, registry.PolicyTag, []byte(`{"version":"v1","a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.PushPolicy(ctx, registry.DryRunPolicyTag, []byte(`{"version":"v1","b":2}`))
	if err != nil {
		t.Fatal(err)
	}
	// Same content under a third tag: one digest, deleted once.
	if _, err := c.PushPolicy(ctx, "old", []byte(`{"version":"v1","a":1}`)); err != nil {
		t.Fatal(err)
	}
	reg.PushRandom(t, "python:3.11")

	deleted, err := c.DeletePolicies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 2 || !(deleted[0] == a || deleted[1] == a) || !(deleted[0] == b || deleted[1] == b) {
		t.Fatalf("deleted %v, want %s and %s", deleted, a, b)
	}
	for _, tag := range []string{registry.PolicyTag, registry.DryRunPolicyTag, "old"} {
		if _, err := remote.Head(reg.Ref(t, registry.PolicyRepository+":"+tag)); err == nil {
			t.Fatalf("%s still resolves", tag)
		}
	}
	for _, h := range []v1.Hash{a, b} {
		if _, err := remote.Head(reg.Ref(t, registry.PolicyRepository+"@"+h.String())); err == nil {
			t.Fatalf("%s still resolves", h)
		}
	}
	if _, err := remote.Head(reg.Ref(t, "python:3.11")); err != nil {
		t.Fatalf("other repositories were touched: %v", err)
	}
}
