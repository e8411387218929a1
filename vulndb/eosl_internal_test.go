package vulndb

import (
	"testing"
	"time"
)

func TestEOSLTableIsWellFormed(t *testing.T) {
	for id, tab := range eoslTables {
		for ver, d := range tab.dates {
			k, err := tab.key(ver)
			if err != nil || k != ver {
				t.Errorf("%s %s: key %q %v, want the version itself", id, ver, k, err)
			}
			if _, err := time.Parse(time.DateOnly, d); err != nil {
				t.Errorf("%s %s: %v", id, ver, err)
			}
		}
	}
	for id := range eoslTables {
		if _, ok := platforms[id]; !ok {
			t.Errorf("EOSL table has %q, which the platform table does not know", id)
		}
	}
}
