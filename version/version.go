// Package version orders package versions the way each family's own tools
// do: dpkg for deb, apk-tools for apk, rpm's vercmp for rpm.
package version

// Comparer orders version strings of one family.
type Comparer interface {
	// Compare returns -1, 0 or +1 as a is older than, equal to or newer
	// than b, or an error naming the version that does not parse.
	Compare(a, b string) (int, error)
}
