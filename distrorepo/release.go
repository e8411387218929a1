package distrorepo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Release is a parsed Release (or InRelease) file of one suite.
type Release struct {
	Origin, Label, Suite, Codename, Version string
	Date, ValidUntil                        time.Time
	Architectures, Components               []string
	AcquireByHash                           bool
	// NoArchAllIndex is true when the arch-specific Packages files also
	// list the Architecture: all packages
	// ("No-Support-for-Architecture-all: Packages").
	NoArchAllIndex bool
	// SHA256 lists the index files by path relative to the suite directory.
	SHA256 map[string]FileSum
}

// FileSum is one entry of a Release checksum list.
type FileSum struct {
	Size   int64
	SHA256 string
}

// ParseRelease parses the text of a Release file (the cleartext of an
// InRelease file).
func ParseRelease(b []byte) (*Release, error) {
	ps, err := ParseParagraphs(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("parsing Release: %w", err)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("parsing Release: empty: %w", ErrMalformed)
	}
	p := ps[0]
	r := &Release{
		Origin: p.Value("Origin"), Label: p.Value("Label"), Suite: p.Value("Suite"),
		Codename: p.Value("Codename"), Version: p.Value("Version"),
		Architectures:  strings.Fields(p.Value("Architectures")),
		Components:     strings.Fields(p.Value("Components")),
		AcquireByHash:  strings.EqualFold(p.Value("Acquire-By-Hash"), "yes"),
		NoArchAllIndex: strings.EqualFold(p.Value("No-Support-for-Architecture-all"), "Packages"),
		SHA256:         map[string]FileSum{},
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"Date", &r.Date}, {"Valid-Until", &r.ValidUntil}} {
		v, ok := p.Get(f.name)
		if !ok {
			continue
		}
		t, err := parseReleaseDate(v)
		if err != nil {
			return nil, fmt.Errorf("parsing Release %s %q: %w", f.name, v, err)
		}
		*f.dst = t
	}
	for _, line := range strings.Split(p.Value("SHA256"), "\n") {
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		if len(fs) != 3 || len(fs[0]) != 64 {
			return nil, fmt.Errorf("parsing Release SHA256 line %q: %w", line, ErrMalformed)
		}
		size, err := strconv.ParseInt(fs[1], 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("parsing Release SHA256 size %q: %w", fs[1], ErrMalformed)
		}
		r.SHA256[fs[2]] = FileSum{Size: size, SHA256: strings.ToLower(fs[0])}
	}
	return r, nil
}

// parseReleaseDate parses the RFC 2822 dates of Release files, in the
// spellings archives use ("Sat, 11 Jul 2026 10:16:37 UTC", "+0000").
func parseReleaseDate(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	for _, layout := range []string{
		time.RFC1123, time.RFC1123Z,
		"Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700",
		"Mon, 02 Jan 2006 15:04:05 Z", "Mon, 2 Jan 2006 15:04:05 Z",
	} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, ErrMalformed
}

// ErrSignature marks a Release whose signature is missing or not valid for
// any trusted key.
var ErrSignature = errors.New("signature is not valid for any trusted key")

// verifyInRelease checks a clearsigned InRelease against keys and returns
// its signed text. Text outside the signed block is refused rather than
// ignored, as apt does.
func verifyInRelease(data []byte, keys openpgp.EntityList, now time.Time) ([]byte, *openpgp.Entity, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
		return nil, nil, fmt.Errorf("InRelease is not a clearsigned message: %w", ErrSignature)
	}
	block, rest := clearsign.Decode(trimmed)
	if block == nil {
		return nil, nil, fmt.Errorf("InRelease clearsigned block does not parse: %w", ErrSignature)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, nil, fmt.Errorf("InRelease has data after its signature: %w", ErrSignature)
	}
	sig, err := readAllBytes(block.ArmoredSignature.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("reading InRelease signature: %w", err)
	}
	signer, err := verifyAnySignature(block.Bytes, sig, keys, now)
	if err != nil {
		return nil, nil, err
	}
	return block.Plaintext, signer, nil
}

// verifyDetached checks Release against a detached Release.gpg (armored
// or binary).
func verifyDetached(release, sig []byte, keys openpgp.EntityList, now time.Time) (*openpgp.Entity, error) {
	if bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN PGP")) {
		blk, err := armor.Decode(bytes.NewReader(sig))
		if err != nil {
			return nil, fmt.Errorf("decoding Release.gpg armor: %w", ErrSignature)
		}
		if sig, err = readAllBytes(blk.Body); err != nil {
			return nil, fmt.Errorf("reading Release.gpg: %w", ErrSignature)
		}
	}
	return verifyAnySignature(release, sig, keys, now)
}

// verifyAnySignature verifies each signature packet in sigs on its own and
// succeeds when one of them is good: archives sign with several keys, some
// of which may have expired or be unknown to us.
func verifyAnySignature(signed, sigs []byte, keys openpgp.EntityList, now time.Time) (*openpgp.Entity, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("no trusted keys: %w", ErrSignature)
	}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	r := bytes.NewReader(sigs)
	var reasons []string
	for n := 0; r.Len() > 0 && n < 64; n++ {
		start := len(sigs) - r.Len()
		p, err := packet.Read(r)
		if err != nil {
			reasons = append(reasons, "unreadable signature packet")
			break
		}
		one := sigs[start : len(sigs)-r.Len()]
		s, ok := p.(*packet.Signature)
		if !ok {
			continue
		}
		signer, err := openpgp.CheckDetachedSignature(keys, bytes.NewReader(signed), bytes.NewReader(one), cfg)
		if err == nil {
			return signer, nil
		}
		id := "unknown issuer"
		if s.IssuerKeyId != nil {
			id = fmt.Sprintf("key %016X", *s.IssuerKeyId)
		}
		reasons = append(reasons, id+": "+err.Error())
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "no signatures")
	}
	return nil, fmt.Errorf("%s: %w", strings.Join(reasons, "; "), ErrSignature)
}

func readAllBytes(r io.Reader) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, 1<<20))
}
