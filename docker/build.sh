#!/usr/bin/env bash
# Builds static `server`, `client` and `loadtest` on the host and the image `switchboard:local`
# (FROM scratch: no registry needed). Run from anywhere: docker/build.sh
#
#   SWITCHBOARD_STATIC=musl|glibc   which static build (default: musl, glibc if the musl target
#                                   cannot be installed)
#   CARGO_TARGET_DIR                defaults to target/docker, apart from the normal build
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/docker}
# Smaller binaries, same code: no debug info in the image.
export CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols

kind=${SWITCHBOARD_STATIC:-musl}
if [ "$kind" = musl ]; then
  target=x86_64-unknown-linux-musl
  if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    echo "== rustup target add $target"
    if ! rustup target add "$target"; then
      echo "== the musl target is not available: falling back to static glibc"
      kind=glibc
    fi
  fi
fi
if [ "$kind" = musl ]; then
  # The TLS library's C and assembly parts are compiled for musl too: musl-gcc (musl-tools).
  if ! command -v musl-gcc >/dev/null; then
    echo "== installing musl-tools (a C compiler for the musl target)"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends musl-tools >/dev/null; }; then
      echo "== musl-gcc cannot be installed: falling back to static glibc"
      kind=glibc
    fi
  fi
  export CC_x86_64_unknown_linux_musl=${CC_x86_64_unknown_linux_musl:-musl-gcc}
fi
if [ "$kind" = glibc ]; then
  target=x86_64-unknown-linux-gnu
  export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
fi
echo "== static build ($kind, $target) into $CARGO_TARGET_DIR"
cargo build --release --target "$target" -p server -p client -p loadtest

rm -rf docker/bin
mkdir -p docker/bin/hist
for bin in server client loadtest; do
  cp "$CARGO_TARGET_DIR/$target/release/$bin" docker/bin/
  if command -v readelf >/dev/null && readelf -d "docker/bin/$bin" | grep -q NEEDED; then
    echo "docker/bin/$bin is not static" >&2
    exit 1
  fi
done
echo "== docker build -t switchboard:local docker"
docker build -q -t switchboard:local docker
# The compose file bind-mounts docker/results; its containers write as uid 65534 unless
# LOADTEST_USER says otherwise.
mkdir -p docker/results
chmod 777 docker/results 2>/dev/null || true
