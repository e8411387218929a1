package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where and how the workflow's policy is stored in the target registry.
const (
	// PolicyRepository holds the policy artifacts, as in ACR.
	PolicyRepository = "csscpolicies/patchpolicy"
	// PolicyTag is the tag of the active policy.
	PolicyTag = "v1"
	// DryRunPolicyTag is the tag a dry run pushes to.
	DryRunPolicyTag = "dryrun"
	// PolicyArtifactType is the manifest's artifactType.
	PolicyArtifactType = "application/vnd.patchloop.continuouspatch.policy.v1"
	// PolicyMediaType is the media type of the one layer, the policy JSON.
	PolicyMediaType types.MediaType = "application/vnd.patchloop.continuouspatch.policy.v1+json"
	// EmptyConfigMediaType is the OCI empty descriptor's media type; its
	// blob is "{}".
	EmptyConfigMediaType types.MediaType = "application/vnd.oci.empty.v1+json"
	// MaxPolicySize caps the policy blob read back (the policy file limit).
	MaxPolicySize = 10 << 20
)

// ErrNotPolicy: the manifest at the policy tag is not a patchloop policy.
var ErrNotPolicy = errors.New("not a patchloop policy artifact")

// rawManifest is a manifest pushed as bytes.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

var _ remote.Taggable = rawManifest{}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// PushPolicy stores policy (the policy's JSON) as an OCI artifact at
// PolicyRepository:tag: an image manifest with artifactType
// PolicyArtifactType, the empty config and one PolicyMediaType layer. Blobs
// and the manifest are written by digest before the tag is set.
func (c *Client) PushPolicy(ctx context.Context, tag string, policy []byte) (v1.Hash, error) {
	if len(policy) > MaxPolicySize {
		return v1.Hash{}, fmt.Errorf("registry %s: repository %q: policy is %d bytes, over the %d byte limit", c.Name(), PolicyRepository, len(policy), MaxPolicySize)
	}
	t, err := c.Tag(PolicyRepository, tag)
	if err != nil {
		return v1.Hash{}, err
	}
	cfg := static.NewLayer([]byte("{}"), EmptyConfigMediaType)
	layer := static.NewLayer(policy, PolicyMediaType)
	var m v1.Manifest
	m.SchemaVersion = 2
	m.MediaType = types.OCIManifestSchema1
	m.ArtifactType = PolicyArtifactType
	if m.Config, err = describe(cfg); err != nil {
		return v1.Hash{}, err
	}
	ld, err := describe(layer)
	if err != nil {
		return v1.Hash{}, err
	}
	ld.Annotations = map[string]string{"org.opencontainers.image.title": "continuouspatching.json"}
	m.Layers = []v1.Descriptor{ld}
	raw, err := json.Marshal(m)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("encoding policy manifest: %w", err)
	}
	for _, l := range []v1.Layer{cfg, layer} {
		if err := c.pusher.Upload(ctx, t.Context(), l); err != nil {
			return v1.Hash{}, c.wrap(err, PolicyRepository, "uploading policy blob")
		}
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, err
	}
	return h, c.writeThenTag(ctx, t, h, rawManifest{raw: raw, mt: types.OCIManifestSchema1})
}

func describe(l v1.Layer) (v1.Descriptor, error) {
	d, err := l.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	size, err := l.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := l.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Size: size, Digest: d}, nil
}

// PullPolicy reads back the policy JSON stored at PolicyRepository:tag,
// checking the artifact type, the layer media type, its size and digest.
func (c *Client) PullPolicy(ctx context.Context, tag string) ([]byte, error) {
	t, err := c.Tag(PolicyRepository, tag)
	if err != nil {
		return nil, err
	}
	d, err := c.Get(ctx, t)
	if err != nil {
		return nil, err
	}
	notPolicy := func(why string) error {
		return &Error{Registry: c.Name(), Repository: PolicyRepository, Op: "reading policy " + tag, Kind: ErrNotPolicy, detail: why}
	}
	if d.MediaType != types.OCIManifestSchema1 {
		return nil, notPolicy("manifest media type is " + string(d.MediaType))
	}
	var m v1.Manifest
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		return nil, notPolicy("manifest does not parse: " + err.Error())
	}
	if m.ArtifactType != PolicyArtifactType {
		return nil, notPolicy(fmt.Sprintf("artifact type is %q", m.ArtifactType))
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != PolicyMediaType {
		return nil, notPolicy(fmt.Sprintf("want one %s layer", PolicyMediaType))
	}
	ld := m.Layers[0]
	if ld.Size > MaxPolicySize {
		return nil, notPolicy(fmt.Sprintf("policy layer is %d bytes, over the %d byte limit", ld.Size, MaxPolicySize))
	}
	l, err := c.puller.Layer(ctx, t.Context().Digest(ld.Digest.String()))
	if err != nil {
		return nil, c.wrap(err, PolicyRepository, "fetching policy blob")
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, c.wrap(err, PolicyRepository, "fetching policy blob")
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, ld.Size+1))
	if err != nil {
		return nil, c.wrap(err, PolicyRepository, "reading policy blob")
	}
	if int64(len(data)) != ld.Size {
		return nil, notPolicy(fmt.Sprintf("policy blob is not %d bytes", ld.Size))
	}
	if h, _, _ := v1.SHA256(bytes.NewReader(data)); h != ld.Digest {
		return nil, notPolicy("policy blob digest is " + h.String() + ", manifest says " + ld.Digest.String())
	}
	return data, nil
}

// DeletePolicies deletes every manifest in PolicyRepository: it lists the
// tags, resolves each to a digest and deletes each digest once. A missing
// repository deletes nothing. It returns the digests deleted.
func (c *Client) DeletePolicies(ctx context.Context) ([]v1.Hash, error) {
	tags, err := c.Tags(ctx, PolicyRepository)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	seen := map[v1.Hash]bool{}
	var digests []v1.Hash
	for _, tag := range tags {
		t, err := c.Tag(PolicyRepository, tag)
		if err != nil {
			return nil, err
		}
		d, err := c.Head(ctx, t)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !seen[d.Digest] {
			seen[d.Digest] = true
			digests = append(digests, d.Digest)
		}
	}
	var deleted []v1.Hash
	for _, h := range digests {
		ref, err := c.Digest(PolicyRepository, h)
		if err != nil {
			return deleted, err
		}
		if err := c.Delete(ctx, ref); err != nil && !errors.Is(err, ErrNotFound) {
			return deleted, err
		}
		deleted = append(deleted, h)
	}
	return deleted, nil
}
