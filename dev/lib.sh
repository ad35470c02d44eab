# Shared helpers for the dev/ scripts. Source it; do not run it.
# Everything downloaded or built lives under $WIBER_CACHE (default ~/.cache/wiber), never in the repo.

set -euo pipefail

WIBER_CACHE="${WIBER_CACHE:-$HOME/.cache/wiber}"
WIBER_DEV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WIBER_ROOT="$(cd "$WIBER_DEV_DIR/.." && pwd)"
export WIBER_CACHE

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# wait_until DEADLINE_SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds or the deadline passes.
wait_until() {
  local timeout=$1 what=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# pid_alive PIDFILE: true when the pid file names a running process.
pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# start_daemon NAME PIDFILE LOGFILE COMMAND...: starts COMMAND detached in its own session,
# so that stop can signal the whole process group and leave nothing behind.
start_daemon() {
  local name=$1 pidfile=$2 logfile=$3; shift 3
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
  setsid "$@" </dev/null >>"$logfile" 2>&1 &
  echo $! >"$pidfile"
  log "$name started (pid $(cat "$pidfile"), log $logfile)"
}

# stop_daemon NAME PIDFILE: SIGTERM to the process group, then SIGKILL after a grace period.
stop_daemon() {
  local name=$1 pidfile=$2 pid
  if ! pid_alive "$pidfile"; then
    rm -f "$pidfile"
    return 0
  fi
  pid=$(cat "$pidfile")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop within 30s; killing it"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  log "$name stopped"
}

# fail_with_log NAME LOGFILE: prints the end of a log and exits non-zero.
fail_with_log() {
  printf '\n--- last 40 lines of %s ---\n' "$2" >&2
  tail -n 40 "$2" >&2 || true
  die "$1 failed to start (full log: $2)"
}

# Installs Debian packages (as root, or through sudo) unless the caller already checked they are there.
apt_install() {
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  log "installing Debian packages: $*"
  "${sudo[@]}" apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Headless Chromium and ChromeDriver, for the chat page's browser test (Debian's packages).
ensure_browser() {
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then return 0; fi
  apt_install chromium chromium-driver || die "could not install Debian's chromium and chromium-driver"
}

# The TypeScript client's tools (TypeScript, openapi-typescript) from the npm registry, pinned by its
# package-lock.json; Node.js 20 or later runs its tests.
ensure_client_tools() {
  command -v node >/dev/null || apt_install nodejs npm || die "could not install Node.js and npm"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  ((major >= 20)) || die "Node.js $major is too old for the TypeScript client: 20 or later"
  (cd "$WIBER_ROOT/clients/typescript" && npm ci --no-audit --no-fund --loglevel=error) ||
    die "npm ci in clients/typescript failed"
}

# What the Rust build links beyond the toolchain: the system OpenSSL for rdkafka's TLS and SASL/SCRAM.
ensure_build_deps() {
  if command -v pkg-config >/dev/null && pkg-config --exists openssl; then return 0; fi
  apt_install pkg-config libssl-dev || die "could not install pkg-config and libssl-dev (OpenSSL for rdkafka)"
}

# The OCI name of this machine's architecture.
oci_arch() {
  case "$(uname -m)" in
    x86_64) echo amd64 ;;
    aarch64) echo arm64 ;;
    *) die "no OCI architecture name for $(uname -m)" ;;
  esac
}

# oci_pack LAYOUT REF ARCHIVE EPOCH: names the umoci layout's image REF and writes it as an OCI
# archive whose files carry the time EPOCH. podman reads the OCI ref annotation; docker load and
# containerd (`ctr images import`) read containerd's: both get the full name.
oci_pack() {
  local layout=$1 ref=$2 archive=$3 epoch=$4
  python3 - "$layout/index.json" "$ref" <<'PY'
import json, sys
path, ref = sys.argv[1], sys.argv[2]
index = json.load(open(path))
for manifest in index["manifests"]:
    manifest["annotations"] = {
        "org.opencontainers.image.ref.name": ref,
        "io.containerd.image.name": ref,
    }
json.dump(index, open(path, "w"), separators=(",", ":"))
PY
  # The layout's entries by name, not `.`: syft (and so grype) refuse an archive with a `./` entry.
  tar -C "$layout" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
    -cf "$archive.tmp" oci-layout index.json blobs && mv "$archive.tmp" "$archive"
}

# has_address IP: true when IP is an IPv4 address of one of this machine's devices.
has_address() { ip -4 -o addr show | grep -q " inet $1/"; }

# make test's cluster (dev/test.sh, dev/dashboards.sh), beside a `make cluster-up` one: the apiserver
# on 26443 (controller manager, scheduler, kwok: 26444-26446), etcd on 22379 (peer 22380), the real
# node on 10.87.1.0/24 and its pods on 10.88.1.0/24.
use_test_cluster() {
  export KUBE_APISERVER_PORT="${WIBER_TEST_KUBE_APISERVER_PORT:-26443}"
  export ETCD_PORT="${WIBER_TEST_ETCD_PORT:-22379}"
  export KUBE_NODE_NET="${WIBER_TEST_KUBE_NODE_NET:-10.87.1}"
  # Derived from the two ports by dev/cluster.sh; one inherited from a `make cluster-up` shell would collide.
  unset KUBE_POD_CIDR ETCD_PEER_PORT KUBE_CONTROLLER_MANAGER_PORT KUBE_SCHEDULER_PORT KWOK_PORT
}

# go_install BIN PACKAGE@VERSION: builds a Go command from the module proxy into the file BIN.
go_install() {
  local bin=$1 package=$2 gobin
  command -v go >/dev/null || die "Go is needed to build $package"
  mkdir -p "$(dirname "$bin")"
  gobin=$(mktemp -d "$(dirname "$bin")/.go-build.XXXXXX")
  GOBIN="$gobin" CGO_ENABLED=0 go install -trimpath -ldflags '-s -w' "$package" >&2 ||
    { rm -rf "$gobin"; die "building $package failed"; }
  mv "$gobin/$(basename "${package%@*}")" "$bin"
  rm -rf "$gobin"
}
