#!/usr/bin/env bash
# make images: Wiber's two OCI images without a container daemon, from a release build.
#
#   ghcr.io/wiber-io/wiber:<version>           wiber-api (entrypoint) and wiber-consumer
#   ghcr.io/wiber-io/wiber-operator:<version>  wiber-operator
#
# The names and the tag (the workspace version) are what the operator's WiberCluster `spec.image`
# and the charts default to. Each image is one layer: the binaries, exactly the shared libraries
# `ldd` says they link (from this Debian machine's packages, with those packages' copyright files),
# the CA bundle, and a passwd naming the non-root user 65532 it runs as. umoci (Debian) builds it;
# the result is an OCI archive that `podman load` and `docker load` (25 and later) accept, named by
# both the OCI ref annotation and containerd's.
# Scanners can read them as they read distroless: each Debian package a library came from has its
# status paragraph in /var/lib/dpkg/status.d/<package> (and the copied files' md5sums beside it),
# /etc/os-release names the Debian release, and the binaries are built with `cargo auditable`
# (their crates and versions in a `.dep-v0` section). An SPDX SBOM written by syft (both tools
# built into $WIBER_CACHE/bin from crates.io and the Go module proxy) lies beside each archive.
#
#   dev/images.sh build   release build, then $WIBER_IMAGES_DIR/{wiber,wiber-operator}-<version>.oci.tar
#                         and the kubectl plugin released beside them,
#                         $WIBER_IMAGES_DIR/kubectl-wiber-<version>-linux-<arch>.tar.gz; each with
#                         its SBOM, <archive name>.spdx.json
#   dev/images.sh dir     prints $WIBER_IMAGES_DIR (default: <target dir>/images)
#   dev/images.sh podman  prints the path of Debian's podman (installed when missing), which the
#                         image test loads the archives with
#
# WIBER_IMAGE_REGISTRY (default ghcr.io/wiber-io) names the repository the images belong to.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WIBER_ROOT"

TARGET_DIR="${CARGO_TARGET_DIR:-$WIBER_ROOT/target}"
IMAGES_DIR="${WIBER_IMAGES_DIR:-$TARGET_DIR/images}"
REGISTRY="${WIBER_IMAGE_REGISTRY:-ghcr.io/wiber-io}"
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
SOURCE_URL=https://github.com/wiber-io/wiber
# The user distroless calls `nonroot`; the operator's pod security context names the same id.
USER_ID=65532

CARGO_AUDITABLE_VERSION=0.7.7
CARGO_AUDITABLE_ROOT="$WIBER_CACHE/cargo-auditable-$CARGO_AUDITABLE_VERSION"
SYFT_VERSION=v1.57.2
SYFT_BIN="$WIBER_CACHE/bin/syft-$SYFT_VERSION"

ensure_image_tools() {
  if ! command -v umoci >/dev/null || ! command -v ldd >/dev/null || ! command -v dpkg >/dev/null; then
    apt_install umoci ca-certificates || die "could not install Debian's umoci"
  fi
  if [[ ! -x $CARGO_AUDITABLE_ROOT/bin/cargo-auditable ]]; then
    log "building cargo-auditable $CARGO_AUDITABLE_VERSION (crates.io)"
    cargo install --quiet --locked --root "$CARGO_AUDITABLE_ROOT" "cargo-auditable@$CARGO_AUDITABLE_VERSION" ||
      die "installing cargo-auditable failed"
  fi
  if [[ ! -x $SYFT_BIN ]]; then
    log "building syft $SYFT_VERSION (Go module proxy, for the images' SBOMs) into $SYFT_BIN"
    go_install "$SYFT_BIN" "github.com/anchore/syft/cmd/syft@$SYFT_VERSION"
  fi
}

# sbom SOURCE OUT NAME: syft's SPDX document of SOURCE (oci-archive:PATH or dir:PATH), offline,
# naming what it describes NAME (the published name, not this machine's path).
sbom() {
  SYFT_CHECK_FOR_APP_UPDATE=false "$SYFT_BIN" scan --quiet "$1" --source-name "$3" \
    --source-version "$VERSION" --output "spdx-json=$2.tmp" || die "syft could not describe $1"
  mv "$2.tmp" "$2"
}

# owner PATH...: the Debian package that installed the first of the paths dpkg knows. With merged
# /usr, dpkg records a library under the path its package shipped, /lib/... or /usr/lib/...
owner() {
  local path found
  for path in "$@"; do
    if found=$(dpkg -S "$path" 2>/dev/null); then
      echo "${found%%:*}"
      return 0
    fi
  done
  die "no Debian package owns $1: the image would carry a library of unknown origin"
}

# add_libraries ROOT BINARY...: copies every library the binaries link into ROOT at its real path,
# with the names the loader asks for as symlinks, and the owning packages' copyright files.
add_libraries() {
  local root=$1; shift
  local lib real link pkg status="$root/var/lib/dpkg/status.d"
  mkdir -p "$status"
  # Debian 12 merged /usr: /lib and /lib64 are symlinks, and the loader path in the binaries goes
  # through them.
  for lib in lib lib64; do
    if [[ -L /$lib ]]; then ln -sfn "$(readlink "/$lib")" "$root/$lib"; fi
  done
  for lib in $(ldd "$@" | grep -o '/[^ ]*\.so[^ ]*' | sort -u); do
    real=$(realpath "$lib")
    install -D -m 0755 "$real" "$root$real"
    link="$(realpath "$(dirname "$lib")")/$(basename "$lib")"
    if [[ $link != "$real" ]]; then
      mkdir -p "$root$(dirname "$link")"
      ln -sfn "$real" "$root$link"
    fi
    pkg=$(owner "$real" "$lib" "${real#/usr}")
    echo "$pkg $(dpkg-query -W -f='${Version}' "$pkg") $real" >>"$root/usr/share/doc/wiber/libraries"
    # What a scanner reads in distroless: the package's status paragraph, and the sums of the
    # files of it the image carries.
    [[ -f $status/$pkg ]] || dpkg-query -s "$pkg" >"$status/$pkg"
    (cd "$root" && md5sum "${real#/}") >>"$status/$pkg.md5sums"
    if [[ -f /usr/share/doc/$pkg/copyright ]]; then
      install -D -m 0644 "/usr/share/doc/$pkg/copyright" "$root/usr/share/doc/$pkg/copyright"
    fi
  done
  sort -u -o "$root/usr/share/doc/wiber/libraries" "$root/usr/share/doc/wiber/libraries"
}

# os_release: the image's /etc/os-release, naming the Debian release its libraries come from, as
# distroless does, so that scanners match the packages against that release's advisories.
os_release() {
  local ID VERSION_ID VERSION_CODENAME
  # shellcheck source=/dev/null
  ID=$(. /etc/os-release && echo "$ID")
  VERSION_ID=$(. /etc/os-release && echo "$VERSION_ID")
  VERSION_CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [[ $ID == debian ]] || die "the images carry Debian's libraries: build them on Debian (this is $ID)"
  printf 'PRETTY_NAME="Wiber on Debian %s libraries"\nNAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="%s"\nVERSION_CODENAME=%s\nHOME_URL="%s"\n' \
    "$VERSION_ID" "$VERSION_ID" "$VERSION_CODENAME" "$SOURCE_URL"
}

# rootfs ROOT BINARY...: the image's whole filesystem.
rootfs() {
  local root=$1 bin; shift
  mkdir -p "$root"/{etc,tmp,usr/local/bin,usr/share/doc/wiber,etc/ssl/certs} "$root/home/nonroot"
  chmod 1777 "$root/tmp"
  for bin in "$@"; do
    install -m 0755 "$TARGET_DIR/release/$bin" "$root/usr/local/bin/$bin"
    # Debug symbols stay in the build; the image carries what runs.
    strip --strip-debug "$root/usr/local/bin/$bin"
  done
  add_libraries "$root" "${@/#/$root/usr/local/bin/}"
  install -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  install -m 0644 LICENSE "$root/usr/share/doc/wiber/LICENSE"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%s:%s:nonroot:/home/nonroot:/sbin/nologin\n' \
    "$USER_ID" "$USER_ID" >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:%s:\n' "$USER_ID" >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  os_release >"$root/etc/os-release"
  chown "$USER_ID:$USER_ID" "$root/home/nonroot"
  # One timestamp for every file: the commit's, so a rebuild of the same commit differs only where
  # the compiler's output does.
  find "$root" -exec touch -h -d "@$EPOCH" {} +
}

# image NAME ENTRYPOINT PORTS BINARY...: builds the image and writes its OCI archive.
image() {
  local name=$1 entrypoint=$2 ports=$3; shift 3
  local work="$IMAGES_DIR/.work/$name" ref="$REGISTRY/$name:$VERSION" port
  local layout="$work/layout" archive="$IMAGES_DIR/$name-$VERSION.oci.tar"
  rm -rf "$work" && mkdir -p "$work"
  umoci init --layout "$layout"
  umoci new --image "$layout:$VERSION"
  umoci unpack --image "$layout:$VERSION" "$work/bundle" >/dev/null
  rootfs "$work/bundle/rootfs" "$@"
  umoci repack --image "$layout:$VERSION" "$work/bundle"
  local config=(
    --config.user "$USER_ID:$USER_ID"
    --config.entrypoint "/usr/local/bin/$entrypoint"
    --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
    # The operator runs the binaries by name (`wiber-api`, `wiber-consumer`): no runtime has to
    # supply a default PATH.
    --config.env PATH=/usr/local/bin
    --config.workingdir /home/nonroot
    --os linux --architecture "$ARCH"
    --created "$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
    --author "Wiber"
  )
  for port in $ports; do config+=(--config.exposedports "$port/tcp"); done
  local key value
  while IFS='=' read -r key value; do
    config+=(--config.label "$key=$value" --manifest.annotation "$key=$value")
  done <<EOF
org.opencontainers.image.title=$name
org.opencontainers.image.version=$VERSION
org.opencontainers.image.revision=$REVISION
org.opencontainers.image.created=$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ)
org.opencontainers.image.source=$SOURCE_URL
org.opencontainers.image.url=$SOURCE_URL
org.opencontainers.image.licenses=Apache-2.0
org.opencontainers.image.vendor=Wiber
org.opencontainers.image.description=$DESCRIPTION
EOF
  umoci config --image "$layout:$VERSION" "${config[@]}"
  umoci gc --layout "$layout"
  oci_pack "$layout" "$ref" "$archive" "$EPOCH"
  rm -rf "$work"
  sbom "oci-archive:$archive" "$archive.spdx.json" "$REGISTRY/$name"
  log "$ref -> $archive ($(du -h "$archive" | cut -f1)) and its SBOM"
}

# plugin: the kubectl plugin and the licence in one archive, as reproducible as the images.
plugin() {
  local work="$IMAGES_DIR/.work/plugin" archive="$IMAGES_DIR/kubectl-wiber-$VERSION-linux-$ARCH.tar.gz"
  rm -rf "$work"
  mkdir -p "$work"
  install -m 0755 "$TARGET_DIR/release/kubectl-wiber" "$work/kubectl-wiber"
  install -m 0644 LICENSE "$work/LICENSE"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$EPOCH" -C "$work" \
    -czf "$archive" kubectl-wiber LICENSE
  sbom "dir:$work" "$archive.spdx.json" kubectl-wiber
  log "kubectl-wiber -> $archive ($(du -h "$archive" | cut -f1)) and its SBOM"
}

build() {
  ensure_build_deps
  ensure_image_tools
  [[ -f LICENSE ]] || die "LICENSE is missing: the images carry it"
  log "release build of wiber-api, wiber-consumer, wiber-operator and kubectl-wiber (cargo auditable)"
  # The wrapper rebuilds only the workspace's own crates: the dependency list goes into their binaries.
  PATH="$CARGO_AUDITABLE_ROOT/bin:$PATH" cargo auditable build --release --locked \
    -p wiber-api -p wiber-consumer -p wiber-operator -p kubectl-wiber
  EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
  REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
  ARCH=$(oci_arch)
  mkdir -p "$IMAGES_DIR"
  DESCRIPTION="Wiber API (entrypoint) and Kafka-to-MongoDB consumer" \
    image wiber wiber-api "8000 8001 8002" wiber-api wiber-consumer
  DESCRIPTION="Wiber operator: reconciles WiberCluster resources" \
    image wiber-operator wiber-operator "8080" wiber-operator
  plugin
  rm -rf "$IMAGES_DIR/.work"
}

case "${1:-}" in
  build) build ;;
  dir) echo "$IMAGES_DIR" ;;
  podman)
    command -v podman >/dev/null || apt_install podman >&2 || die "could not install Debian's podman"
    command -v podman
    ;;
  *) die "usage: $0 build|dir|podman" ;;
esac
