package distrorepo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits on control-file input, so a hostile index cannot make the parser
// allocate without bound.
const (
	maxLineLen   = 1 << 20 // one physical line
	maxStanzaLen = 8 << 20 // one paragraph with its continuation lines
)

// ErrMalformed marks input that does not follow the deb822 control syntax.
var ErrMalformed = errors.New("malformed control data")

// Paragraph is one deb822 paragraph: its fields in order. Continuation
// lines are joined to the field's value with "\n", each without its
// leading space.
type Paragraph []Field

// Field is one "Name: value" of a paragraph.
type Field struct {
	Name, Value string
}

// Get returns the value of the named field, matched case-insensitively,
// and whether it is present.
func (p Paragraph) Get(name string) (string, bool) {
	for _, f := range p {
		if strings.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// Value returns the value of the named field or "".
func (p Paragraph) Value(name string) string {
	v, _ := p.Get(name)
	return v
}

// stanzaScanner reads deb822 paragraphs line by line.
type stanzaScanner struct {
	r    *bufio.Reader
	line int
}

func newStanzaScanner(r io.Reader) *stanzaScanner {
	return &stanzaScanner{r: bufio.NewReaderSize(r, 256<<10)}
}

// readLine returns the next line without its newline. Lines longer than
// maxLineLen are an error. The slice is valid until the next call.
func (s *stanzaScanner) readLine(buf []byte) ([]byte, []byte, error) {
	buf = buf[:0]
	for {
		frag, err := s.r.ReadSlice('\n')
		if len(buf)+len(frag) > maxLineLen {
			return nil, buf, fmt.Errorf("line %d: longer than %d bytes: %w", s.line+1, maxLineLen, ErrMalformed)
		}
		if err == bufio.ErrBufferFull {
			buf = append(buf, frag...)
			continue
		}
		if err != nil && (err != io.EOF || len(frag)+len(buf) == 0) {
			return nil, buf, err
		}
		s.line++
		if len(buf) > 0 {
			buf = append(buf, frag...)
			frag = buf
		}
		frag = bytes.TrimSuffix(frag, []byte("\n"))
		frag = bytes.TrimSuffix(frag, []byte("\r"))
		return frag, buf, nil
	}
}

// next reads one paragraph. want says which fields the caller needs; the
// others are skipped without copying. field is called for each wanted
// field with its name and value, valid only during the call. next reports
// false at the end of input.
func (s *stanzaScanner) next(want func(name []byte) bool, field func(name, value []byte) error) (bool, error) {
	var (
		line, lbuf []byte
		err        error
		name       []byte
		nameBuf    []byte
		value      []byte
		keep       bool
		inStanza   bool
		size       int
	)
	flush := func() error {
		if name != nil && keep {
			if err := field(name, value); err == errSkipStanza {
				return s.skipStanza()
			} else if err != nil {
				return fmt.Errorf("line %d: field %s: %w", s.line, name, err)
			}
		}
		name, value = nil, value[:0]
		return nil
	}
	for {
		line, lbuf, err = s.readLine(lbuf)
		if err == io.EOF {
			if err := flush(); err != nil && err != errStanzaSkipped {
				return false, err
			}
			return inStanza, nil
		}
		if err != nil {
			return false, err
		}
		size += len(line)
		if size > maxStanzaLen {
			return false, fmt.Errorf("line %d: paragraph longer than %d bytes: %w", s.line, maxStanzaLen, ErrMalformed)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			if inStanza {
				if err := flush(); err != nil && err != errStanzaSkipped {
					return false, err
				}
				return true, nil
			}
			continue
		}
		if line[0] == '#' {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name == nil {
				return false, fmt.Errorf("line %d: continuation line outside a field: %w", s.line, ErrMalformed)
			}
			if keep {
				value = append(value, '\n')
				value = append(value, bytes.TrimSpace(line)...)
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return false, fmt.Errorf("line %d: no field name: %w", s.line, ErrMalformed)
		}
		if err := flush(); err == errStanzaSkipped {
			return true, nil
		} else if err != nil {
			return false, err
		}
		inStanza = true
		// Copy the name: lbuf is reused by the next readLine.
		n := bytes.TrimSpace(line[:colon])
		keep = want == nil || want(n)
		nameBuf = append(nameBuf[:0], n...)
		name = nameBuf
		if keep {
			value = append(value[:0], bytes.TrimSpace(line[colon+1:])...)
		}
	}
}

// errSkipStanza, returned by a field callback, skips the rest of the
// paragraph without parsing it; next then reports errStanzaSkipped
// internally and the paragraph as read.
var (
	errSkipStanza    = errors.New("skip paragraph")
	errStanzaSkipped = errors.New("paragraph skipped")
)

// skipStanza reads up to and including the next blank line.
func (s *stanzaScanner) skipStanza() error {
	for {
		line, err := s.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			return errStanzaSkipped
		}
		if err != nil {
			return err
		}
		s.line++
		if len(bytes.TrimSpace(line)) == 0 {
			return errStanzaSkipped
		}
	}
}

// ParseParagraphs reads every paragraph of deb822 data.
func ParseParagraphs(r io.Reader) ([]Paragraph, error) {
	s := newStanzaScanner(r)
	var out []Paragraph
	for {
		var p Paragraph
		ok, err := s.next(nil, func(name, value []byte) error {
			p = append(p, Field{Name: string(name), Value: string(value)})
			return nil
		})
		if err != nil {
			return out, err
		}
		if !ok {
			return out, nil
		}
		out = append(out, p)
	}
}
