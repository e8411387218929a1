// Package deps pins the project's chosen dependencies while the packages
// that use them are being written. It is removed once each has a real user.
package deps

import (
	_ "github.com/ProtonMail/go-crypto/openpgp"
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/knqyf263/go-apk-version"
	_ "github.com/knqyf263/go-deb-version"
	_ "github.com/knqyf263/go-rpm-version"
	_ "github.com/knqyf263/go-rpmdb/pkg"
	_ "github.com/openvex/go-vex/pkg/vex"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/riverqueue/river"
	_ "github.com/riverqueue/river/riverdriver/riverpgxv5"
	_ "github.com/riverqueue/river/riverdriver/riversqlite"
	_ "github.com/spf13/cobra"
	_ "github.com/tailscale/hujson"
	_ "github.com/ulikunitz/xz"
	_ "go.etcd.io/bbolt"
	_ "modernc.org/sqlite"
	_ "pault.ag/go/debian/control"
)
