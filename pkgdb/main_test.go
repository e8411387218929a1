package pkgdb_test

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if rpmBuildDir != "" {
		_ = os.RemoveAll(rpmBuildDir)
	}
	os.Exit(code)
}
