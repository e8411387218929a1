#!/bin/sh
# Builds syft, used only as an external oracle by slow tests (never
# imported). Prints the path of the binary. Cached under the test cache.
set -eu
# Pinned: catalogue flags change between syft releases.
version="${SYFT_VERSION:-v1.57.1}"
cache="${PATCHLOOP_TEST_CACHE:-$HOME/.cache/patchloop-test}/bin/syft-$version"
if [ ! -x "$cache/syft" ]; then
	mkdir -p "$cache"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# A separate module cache and GOFLAGS keep syft's dependencies out of ours.
	(cd "$tmp" && GOFLAGS=-buildvcs=false GOBIN="$cache" go install "github.com/anchore/syft/cmd/syft@$version") >&2
fi
echo "$cache/syft"
