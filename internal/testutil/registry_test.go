package testutil

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestStartRegistryServesPushedImages(t *testing.T) {
	reg := StartRegistry(t)
	img := reg.PushRandom(t, "library/python:3.11")
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(reg.Ref(t, "library/python:3.11"))
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	if desc.Digest != want {
		t.Fatalf("digest = %s, want %s", desc.Digest, want)
	}
	tags, err := remote.List(reg.Ref(t, "library/python:3.11").Context())
	if err != nil || len(tags) != 1 || tags[0] != "3.11" {
		t.Fatalf("tags = %v, %v", tags, err)
	}
}
