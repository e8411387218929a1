package version

import "testing"

// orderLaws checks what any ordering must satisfy on valid versions a, b, c:
// a result in {-1, 0, 1}, reflexivity, antisymmetry and transitivity.
func orderLaws(t *testing.T, cmp func(x, y string) int, a, b, c string) {
	t.Helper()
	ab, ba := cmp(a, b), cmp(b, a)
	if ab < -1 || ab > 1 {
		t.Fatalf("Compare(%q, %q) = %d, not -1, 0 or 1", a, b, ab)
	}
	if cmp(a, a) != 0 {
		t.Fatalf("Compare(%q, %q) = %d, want 0", a, a, cmp(a, a))
	}
	if ab != -ba {
		t.Fatalf("Compare(%q, %q) = %d but Compare(%q, %q) = %d", a, b, ab, b, a, ba)
	}
	bc, ac := cmp(b, c), cmp(a, c)
	if ab <= 0 && bc <= 0 && ac > 0 {
		t.Fatalf("not transitive: %q <= %q <= %q but Compare(%q, %q) = %d", a, b, c, a, c, ac)
	}
	if ab == 0 && bc == 0 && ac != 0 {
		t.Fatalf("equality not transitive: %q = %q = %q but Compare(%q, %q) = %d", a, b, c, a, c, ac)
	}
}

func seedEdges(f *testing.F, edges []edge, invalid []string) {
	for i, e := range edges {
		f.Add(e.a, e.b, edges[(i+1)%len(edges)].a)
	}
	for _, v := range invalid {
		f.Add(v, "1", "1.0")
	}
}

func FuzzDeb(f *testing.F) {
	seedEdges(f, debEdges, debInvalid)
	f.Fuzz(func(t *testing.T, a, b, c string) {
		va, errA := ParseDeb(a)
		vb, errB := ParseDeb(b)
		vc, errC := ParseDeb(c)
		if errA == nil {
			back, err := ParseDeb(va.String())
			if err != nil {
				t.Fatalf("ParseDeb(%q).String() = %q does not parse: %v", a, va.String(), err)
			}
			if back != va {
				t.Fatalf("ParseDeb(%q) = %#v, but its String %q parses to %#v", a, va, va.String(), back)
			}
		}
		if errA != nil || errB != nil || errC != nil {
			return
		}
		parsed := map[string]Deb{a: va, b: vb, c: vc}
		orderLaws(t, func(x, y string) int { return parsed[x].Compare(parsed[y]) }, a, b, c)
	})
}

func FuzzAPK(f *testing.F) {
	seedEdges(f, apkEdges, apkInvalidVersions)
	f.Fuzz(func(t *testing.T, a, b, c string) {
		_ = apkCompare(a, b) // defined, and must not panic, on any input
		va, errA := ParseAPK(a)
		_, errB := ParseAPK(b)
		_, errC := ParseAPK(c)
		if errA == nil && va.String() != a {
			t.Fatalf("ParseAPK(%q).String() = %q", a, va.String())
		}
		if errA != nil || errB != nil || errC != nil {
			return
		}
		orderLaws(t, apkCompare, a, b, c)
	})
}

func FuzzRPM(f *testing.F) {
	seedEdges(f, rpmEdges, []string{""})
	f.Fuzz(func(t *testing.T, a, b, c string) {
		va, errA := ParseRPM(a)
		vb, errB := ParseRPM(b)
		vc, errC := ParseRPM(c)
		if errA == nil {
			back, err := ParseRPM(va.String())
			if err != nil || back != va {
				t.Fatalf("ParseRPM(%q).String() = %q parses to %#v, %v", a, va.String(), back, err)
			}
		}
		if errA != nil || errB != nil || errC != nil {
			return
		}
		parsed := map[string]RPM{a: va, b: vb, c: vc}
		orderLaws(t, func(x, y string) int { return parsed[x].Compare(parsed[y]) }, a, b, c)
	})
}
