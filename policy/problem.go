package policy

import (
	"fmt"
	"strings"
)

// Pos is a place in a policy file. Line and Col are 1-based; Col counts
// Unicode characters, not bytes, so it matches what an editor shows.
type Pos struct {
	File string
	Line int
	Col  int
}

// String formats p as file:line:col.
func (p Pos) String() string {
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Problem is one thing wrong with a policy file, at the position of the
// offending key or value.
type Problem struct {
	Pos     Pos
	Message string
}

// String formats the problem as file:line:col: message.
func (p Problem) String() string { return p.Pos.String() + ": " + p.Message }

// Warning is something accepted in a policy file that a strict JSON tool
// would reject or that is probably a mistake, such as a trailing comma or an
// unknown field.
type Warning struct {
	Pos     Pos
	Message string
}

// String formats the warning as file:line:col: message.
func (w Warning) String() string { return w.Pos.String() + ": " + w.Message }

// ValidationError holds every problem found in a policy file, in file order.
type ValidationError struct {
	Problems []Problem
	// Truncated is true when reading stopped after MaxProblems problems;
	// the rest of the file was not checked.
	Truncated bool
}

// Error gives one line per problem.
func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.String())
	}
	if e.Truncated {
		fmt.Fprintf(&b, "\nstopped after %d problems; fix these and check again", len(e.Problems))
	}
	return b.String()
}
