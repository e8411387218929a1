package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Head resolves ref to its manifest descriptor with a HEAD request.
func (c *Client) Head(ctx context.Context, ref name.Reference) (*v1.Descriptor, error) {
	d, err := c.puller.Head(ctx, ref)
	if err != nil {
		return nil, c.wrap(err, ref.Context().RepositoryStr(), "resolving "+ref.Identifier())
	}
	return d, nil
}

// Exists reports whether ref resolves to a manifest. A missing repository
// or tag is false, not an error.
func (c *Client) Exists(ctx context.Context, ref name.Reference) (bool, error) {
	_, err := c.Head(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, err
}

// Get fetches the manifest at ref. The result is lazy: Image and
// ImageIndex on it stream layers from the registry.
func (c *Client) Get(ctx context.Context, ref name.Reference) (*remote.Descriptor, error) {
	d, err := c.puller.Get(ctx, ref)
	if err != nil {
		return nil, c.wrap(err, ref.Context().RepositoryStr(), "fetching manifest "+ref.Identifier())
	}
	return d, nil
}

// Image fetches the image at ref. An index resolves to its linux/amd64
// image.
func (c *Client) Image(ctx context.Context, ref name.Reference) (v1.Image, error) {
	d, err := c.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	img, err := d.Image()
	if err != nil {
		return nil, c.wrap(err, ref.Context().RepositoryStr(), "reading image "+ref.Identifier())
	}
	return img, nil
}

// Index fetches the image index at ref.
func (c *Client) Index(ctx context.Context, ref name.Reference) (v1.ImageIndex, error) {
	d, err := c.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	idx, err := d.ImageIndex()
	if err != nil {
		return nil, c.wrap(err, ref.Context().RepositoryStr(), "reading index "+ref.Identifier())
	}
	return idx, nil
}

// WriteImage pushes img to tag's repository by digest, then points tag at
// it, so the tag never names a partly written image. It returns the digest.
func (c *Client) WriteImage(ctx context.Context, tag name.Tag, img v1.Image) (v1.Hash, error) {
	h, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("registry %s: repository %q: digest of image for %s: %w", c.Name(), tag.RepositoryStr(), tag.TagStr(), err)
	}
	return h, c.writeThenTag(ctx, tag, h, img)
}

// WriteIndex pushes idx and its children by digest, then points tag at it.
func (c *Client) WriteIndex(ctx context.Context, tag name.Tag, idx v1.ImageIndex) (v1.Hash, error) {
	h, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("registry %s: repository %q: digest of index for %s: %w", c.Name(), tag.RepositoryStr(), tag.TagStr(), err)
	}
	return h, c.writeThenTag(ctx, tag, h, idx)
}

func (c *Client) writeThenTag(ctx context.Context, tag name.Tag, h v1.Hash, t remote.Taggable) error {
	p := c.Pusher()
	if err := p.PushDigest(ctx, tag.Context().Digest(h.String()), t); err != nil {
		return err
	}
	return p.Tag(ctx, tag, t)
}

// Pusher writes manifests by digest and moves tags with this client's
// credentials and retries, and reports failures as classified *Error values
// with secrets masked. It is what the patch engine pushes through
// (patch.Writer).
type Pusher struct{ c *Client }

// Pusher returns the client's Pusher.
func (c *Client) Pusher() *Pusher { return &Pusher{c: c} }

// PushDigest writes t and every blob and child manifest it references,
// by digest, tagging nothing. A manifest with a subject is also recorded
// as a referrer.
func (p *Pusher) PushDigest(ctx context.Context, ref name.Digest, t remote.Taggable) error {
	if err := p.c.pusher.Push(ctx, ref, t); err != nil {
		return p.c.wrap(err, ref.RepositoryStr(), "pushing "+ref.DigestStr())
	}
	return nil
}

// Tag points tag at t, whose manifest and blobs are already pushed.
func (p *Pusher) Tag(ctx context.Context, tag name.Tag, t remote.Taggable) error {
	if err := p.c.pusher.Put(ctx, tag, t); err != nil {
		return p.c.wrap(err, tag.RepositoryStr(), "tagging "+tag.TagStr())
	}
	return nil
}

// Delete removes the manifest with digest d. Registries delete manifests by
// digest; every tag pointing at it goes with it.
func (c *Client) Delete(ctx context.Context, d name.Digest) error {
	if err := c.pusher.Delete(ctx, d); err != nil {
		return c.wrap(err, d.RepositoryStr(), "deleting "+d.DigestStr())
	}
	return nil
}
