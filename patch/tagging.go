package patch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Writer pushes manifests in the order Run needs: everything by digest
// first, the tag last.
type Writer interface {
	// PushDigest writes t (an image, an index or a raw manifest) and every
	// blob and child manifest it references by digest, tagging nothing.
	// A manifest with a subject is also recorded as a referrer (the
	// referrers API, or the sha256-<hex> tag-schema fallback).
	PushDigest(ctx context.Context, ref name.Digest, t remote.Taggable) error
	// Tag points tag at t, whose manifest and blobs are already pushed.
	Tag(ctx context.Context, tag name.Tag, t remote.Taggable) error
}

// RemoteWriter is a Writer over go-containerregistry's remote package.
type RemoteWriter struct {
	p *remote.Pusher
}

var _ Writer = (*RemoteWriter)(nil)

// NewRemoteWriter returns a writer using opts (authentication, transport,
// retries). The referrers tag fallback is on, as go-containerregistry
// defaults.
func NewRemoteWriter(opts ...remote.Option) (*RemoteWriter, error) {
	p, err := remote.NewPusher(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating registry pusher: %w", err)
	}
	return &RemoteWriter{p: p}, nil
}

// PushDigest implements Writer.
func (w *RemoteWriter) PushDigest(ctx context.Context, ref name.Digest, t remote.Taggable) error {
	if err := w.p.Push(ctx, ref, t); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
}

// Tag implements Writer.
func (w *RemoteWriter) Tag(ctx context.Context, tag name.Tag, t remote.Taggable) error {
	if err := w.p.Put(ctx, tag, t); err != nil {
		return fmt.Errorf("tagging %s: %w", tag, err)
	}
	return nil
}

// rawManifest is a manifest pushed as its bytes.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// pushPatched pushes the patched platforms, then the image or index that
// ties them together, by digest; then, for an incremental tag, checks the
// tag is still free, and writes it. It returns the pushed top descriptor.
func pushPatched(ctx context.Context, req Request, o *original, tag name.Tag, built []*platformBuild) (*v1.Descriptor, error) {
	repo := tag.Context()
	anns := map[string]string{AnnotationBaseDigest: o.desc.Digest.String(), AnnotationBaseName: o.name}
	maps.Copy(anns, req.Annotations)

	var top remote.Taggable
	var desc v1.Descriptor
	if !o.desc.MediaType.IsIndex() {
		b := built[0]
		m, err := b.patched.Manifest()
		if err != nil {
			return nil, fmt.Errorf("reading patched manifest: %w", err)
		}
		all := maps.Clone(m.Annotations)
		if all == nil {
			all = map[string]string{}
		}
		maps.Copy(all, req.Annotations)
		img, ok := mutate.Annotations(b.patched, all).(v1.Image)
		if !ok {
			return nil, fmt.Errorf("annotating patched image: not an image")
		}
		b.patched = img
		if desc, err = describe(img); err != nil {
			return nil, err
		}
		top = img
	} else {
		idx, err := o.desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("reading index %s: %w", o.ref, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("reading index %s: %w", o.ref, err)
		}
		out := *im.DeepCopy()
		for i, b := range built {
			if b.patched == nil {
				continue
			}
			d, err := describe(b.patched)
			if err != nil {
				return nil, err
			}
			if err := req.Writer.PushDigest(ctx, repo.Digest(d.Digest.String()), b.patched); err != nil {
				return nil, err
			}
			out.Manifests[i].MediaType, out.Manifests[i].Digest, out.Manifests[i].Size = d.MediaType, d.Digest, d.Size
		}
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		maps.Copy(out.Annotations, anns)
		raw, err := json.Marshal(out)
		if err != nil {
			return nil, fmt.Errorf("encoding patched index: %w", err)
		}
		mt := o.desc.MediaType
		h, n, err := v1.SHA256(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		desc = v1.Descriptor{MediaType: mt, Digest: h, Size: n}
		top = rawManifest{raw: raw, mt: mt}
	}
	if err := req.Writer.PushDigest(ctx, repo.Digest(desc.Digest.String()), top); err != nil {
		return nil, err
	}
	if req.incremental() {
		// Immediately before the tag is written: another patch may have
		// taken it since the tag was chosen.
		taken, err := req.Registry.Exists(ctx, tag)
		if err != nil {
			return nil, err
		}
		if taken {
			return nil, fmt.Errorf("%s: %w; not overwritten (the patched image is pushed as %s@%s, untagged)", tag, ErrTagTaken, repo, desc.Digest)
		}
	}
	if err := req.Writer.Tag(ctx, tag, top); err != nil {
		return nil, err
	}
	return &desc, nil
}

// describe is the descriptor of an image's manifest.
func describe(img v1.Image) (v1.Descriptor, error) {
	d, err := img.Digest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("computing patched digest: %w", err)
	}
	n, err := img.Size()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("computing patched manifest size: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading patched media type: %w", err)
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: n}, nil
}
