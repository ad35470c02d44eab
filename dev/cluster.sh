#!/usr/bin/env bash
# A local Kubernetes cluster without Docker: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, one real node (containerd, kubelet and kube-proxy: dev/node.sh) whose pods really
# run, and kwok (fake nodes whose pods are simulated, never run), as plain local processes built from
# the Go module proxy (wrapper modules in dev/k8s) and Debian's packages.
#
#   dev/cluster.sh install               build etcd, the control plane, kubelet, kube-proxy, kwok, helm
#                                        (and kubectl when none within one minor of the apiserver is on
#                                        PATH) into $WIBER_CACHE/bin; promtool, containerd, runc and the
#                                        CNI plugins from Debian
#   dev/cluster.sh start|stop|status     the cluster on https://127.0.0.1:$KUBE_APISERVER_PORT
#   dev/cluster.sh load-images [ARCHIVE...]
#                                        import OCI archives into the node's containerd (default: those
#                                        `make images` wrote; start imports them too)
#   dev/cluster.sh host-ip | node-ip     where pods reach this machine / the node's InternalIP (NodePorts)
#   dev/cluster.sh wipe                  delete the stopped cluster's objects (etcd data) and node state
#   dev/cluster.sh kubeconfig            print the admin kubeconfig's path
#   dev/cluster.sh kubectl ARGS...       kubectl with the admin kubeconfig filled in
#   dev/cluster.sh tools                 print a directory holding `kubectl` and `helm` (for PATH)
#   dev/cluster.sh bin NAME              print the path of etcd, kube-apiserver, ..., kwok, helm, kubectl
#
# Variables (defaults): KUBE_APISERVER_PORT (6443), ETCD_PORT (2379), ETCD_PEER_PORT (ETCD_PORT+1),
# KUBE_CONTROLLER_MANAGER_PORT (KUBE_APISERVER_PORT+1), KUBE_SCHEDULER_PORT (KUBE_APISERVER_PORT+2),
# KWOK_PORT (KUBE_APISERVER_PORT+3), KWOK_NODES (2), KUBECTL (a kubectl to use), WIBER_CACHE, and the
# node's KUBE_REAL_NODE (1), KUBE_NODE_NET (10.87.0), KUBE_POD_CIDR (dev/node.sh).
# Certificates, etcd data, kubeconfigs and logs live in $WIBER_CACHE/run/cluster-$KUBE_APISERVER_PORT
# (objects survive a stop, and the node's pods run again at the next start; `wipe` empties it).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KUBE_APISERVER_PORT="${KUBE_APISERVER_PORT:-6443}"
ETCD_PORT="${ETCD_PORT:-2379}"
ETCD_PEER_PORT="${ETCD_PEER_PORT:-$((ETCD_PORT + 1))}"
KUBE_CONTROLLER_MANAGER_PORT="${KUBE_CONTROLLER_MANAGER_PORT:-$((KUBE_APISERVER_PORT + 1))}"
KUBE_SCHEDULER_PORT="${KUBE_SCHEDULER_PORT:-$((KUBE_APISERVER_PORT + 2))}"
KWOK_PORT="${KWOK_PORT:-$((KUBE_APISERVER_PORT + 3))}"
KWOK_NODES="${KWOK_NODES:-2}"
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.22.0
# Fake addresses kwok writes into node and pod status; nothing listens there and nothing is sent there.
SERVICE_CIDR=10.96.0.0/16
POD_CIDR=10.0.0.1/24
NODE_IP=10.0.0.1

RUN="$WIBER_CACHE/run/cluster-$KUBE_APISERVER_PORT"
PKI="$RUN/pki"
BIN_DIR="$WIBER_CACHE/bin"
ETCD_SRC="$WIBER_DEV_DIR/k8s/etcd"
KUBE_SRC="$WIBER_DEV_DIR/k8s/kubernetes"
# Versions come from the wrappers' go.mod; binary names carry them and a hash of the wrapper's
# sources, so editing a wrapper rebuilds its binaries and a second run reuses them.
ETCD_VERSION=$(sed -n 's|^require go\.etcd\.io/etcd/server/v3 \(v[0-9.]*\)$|\1|p' "$ETCD_SRC/go.mod")
KUBE_VERSION=$(sed -n 's|^[[:space:]]*k8s\.io/kubernetes \(v[0-9.]*\)\( // indirect\)\{0,1\}$|\1|p' "$KUBE_SRC/go.mod")
[[ $ETCD_VERSION =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "cannot read etcd's version from $ETCD_SRC/go.mod"
[[ $KUBE_VERSION =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "cannot read Kubernetes's version from $KUBE_SRC/go.mod"
ETCD_STAMP=$(cat "$ETCD_SRC/go.mod" "$ETCD_SRC/go.sum" "$ETCD_SRC/main.go" | sha256sum | cut -c1-12)
KUBE_STAMP=$(cat "$KUBE_SRC/go.mod" "$KUBE_SRC/go.sum" | sha256sum | cut -c1-12)
ETCD_BIN="$BIN_DIR/etcd-$ETCD_VERSION-$ETCD_STAMP"
KWOK_BIN="$BIN_DIR/kwok-$KWOK_VERSION"
KWOK_STAGES="$BIN_DIR/kwok-$KWOK_VERSION-stages.yaml"
HELM_BIN="$BIN_DIR/helm-$HELM_VERSION"
CONTROL_PLANE=(kube-apiserver kube-controller-manager kube-scheduler)
NODE_BINARIES=(kubelet kube-proxy)

kube_bin() { echo "$BIN_DIR/$1-$KUBE_VERSION-$KUBE_STAMP"; }

source "$WIBER_DEV_DIR/node.sh"

need_go() { command -v go >/dev/null || die "go is needed to build the Kubernetes control plane"; }

# built NAME START: logs how long a build took (the cold build figures in docs/getting-started/local-cluster.md).
built() { log "built $1 in $((SECONDS - $2))s"; }

build_etcd() {
  [[ -x $ETCD_BIN ]] && return 0
  need_go
  log "building etcd $ETCD_VERSION (wrapper in dev/k8s/etcd) into $ETCD_BIN"
  local start=$SECONDS
  mkdir -p "$BIN_DIR"
  (cd "$ETCD_SRC" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags '-s -w' -o "$ETCD_BIN.tmp" .) ||
    die "building etcd failed"
  mv "$ETCD_BIN.tmp" "$ETCD_BIN"
  built etcd "$start"
}

# go_build_kube NAME...: builds k8s.io/kubernetes/cmd/NAME through the wrapper module, as upstream's
# release builds do (static, no cgo) and with the version stamped in, so /version is real.
go_build_kube() {
  local out name pkgs=() minor
  minor=$(cut -d. -f2 <<<"$KUBE_VERSION")
  out=$(mktemp -d "$BIN_DIR/.kube-build.XXXXXX")
  for name in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$name"); done
  (cd "$KUBE_SRC" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -o "$out/" -ldflags "-s -w \
      -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
      -X k8s.io/component-base/version.gitMajor=1 \
      -X k8s.io/component-base/version.gitMinor=$minor \
      -X k8s.io/component-base/version.gitTreeState=clean" "${pkgs[@]}") || { rm -rf "$out"; return 1; }
  for name in "$@"; do mv "$out/$name" "$(kube_bin "$name")"; done
  rm -rf "$out"
}

# build_kube NAME...: the missing ones of these Kubernetes binaries.
build_kube() {
  local name missing=()
  for name in "$@"; do [[ -x $(kube_bin "$name") ]] || missing+=("$name"); done
  ((${#missing[@]} == 0)) && return 0
  need_go
  log "building ${missing[*]} $KUBE_VERSION (wrapper in dev/k8s/kubernetes); a cold build takes several minutes"
  mkdir -p "$BIN_DIR"
  # One at a time: the first compiles most shared packages, the others mostly link.
  local start
  for name in "${missing[@]}"; do
    start=$SECONDS
    go_build_kube "$name" || die "building $name failed"
    built "$name" "$start"
  done
}

build_control_plane() { build_kube "${CONTROL_PLANE[@]}"; }
build_node_binaries() { build_kube "${NODE_BINARIES[@]}"; }

build_kwok() {
  [[ -x $KWOK_BIN && -f $KWOK_STAGES ]] && return 0
  need_go
  log "building kwok $KWOK_VERSION into $KWOK_BIN"
  mkdir -p "$BIN_DIR"
  local gobin dir start=$SECONDS
  gobin=$(mktemp -d "$BIN_DIR/.kwok-build.XXXXXX")
  GOBIN="$gobin" CGO_ENABLED=0 go install -trimpath -ldflags '-s -w' "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" ||
    { rm -rf "$gobin"; die "building kwok failed"; }
  # kwok simulates nothing without Stage resources: take kwok's own "fast" stages (nodes turn Ready
  # and keep a lease; pods turn Running and Ready, Job pods complete, deleted pods go away) from the
  # same module version.
  dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d $dir/kustomize/stage ]] || { rm -rf "$gobin"; die "kwok's stages not found in the module cache ($dir)"; }
  local stage first=1
  for stage in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
      pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    ((first)) || echo '---'
    first=0
    cat "$dir/kustomize/stage/$stage.yaml"
  done >"$KWOK_STAGES.tmp"
  mv "$KWOK_STAGES.tmp" "$KWOK_STAGES"
  mv "$gobin/kwok" "$KWOK_BIN"
  rm -rf "$gobin"
  built kwok "$start"
}

build_helm() {
  [[ -x $HELM_BIN ]] && return 0
  need_go
  log "building helm $HELM_VERSION into $HELM_BIN"
  mkdir -p "$BIN_DIR"
  local gobin start=$SECONDS
  gobin=$(mktemp -d "$BIN_DIR/.helm-build.XXXXXX")
  GOBIN="$gobin" CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" || { rm -rf "$gobin"; die "building helm failed"; }
  mv "$gobin/helm" "$HELM_BIN"
  rm -rf "$gobin"
  built helm "$start"
}

# A kubectl within one minor version of the apiserver (the supported skew): $KUBECTL, else one on
# PATH, else one built from the same wrapper. Debian's kubernetes-client (1.20) is far too old.
kubectl_in_skew() {
  local minor want
  want=$(cut -d. -f2 <<<"$KUBE_VERSION")
  minor=$("$1" version --client -o json 2>/dev/null | sed -n 's/^ *"minor": "\([0-9]*\).*/\1/p' | head -n1)
  [[ -n $minor ]] && ((minor >= want - 1 && minor <= want + 1))
}

kubectl_bin() {
  if [[ -n ${KUBECTL:-} ]]; then echo "$KUBECTL"; return; fi
  local onpath
  onpath=$(command -v kubectl || true)
  if [[ -n $onpath ]] && kubectl_in_skew "$onpath"; then echo "$onpath"; return; fi
  local built
  built=$(kube_bin kubectl)
  if [[ ! -x $built ]]; then
    need_go
    log "no kubectl within one minor of $KUBE_VERSION on PATH${onpath:+ ($onpath is not)}: building kubectl $KUBE_VERSION"
    local start=$SECONDS
    mkdir -p "$BIN_DIR"
    go_build_kube kubectl >&2 || die "building kubectl failed"
    built kubectl "$start"
  fi
  echo "$built"
}

install_promtool() {
  command -v promtool >/dev/null && return 0
  apt_install prometheus || die "could not install Debian's prometheus package (for promtool)"
  # The package starts a Prometheus server on :9090 through systemd where there is one; Wiber only
  # needs the promtool binary.
  if command -v systemctl >/dev/null; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
}

install() {
  build_etcd
  build_control_plane
  build_kwok
  build_helm
  kubectl_bin >/dev/null
  install_promtool
  install_node
}

# --- certificates and kubeconfigs -------------------------------------------------------------

# new_ca NAME SUBJECT: a self-signed P-256 CA.
new_ca() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/$1.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI/$1.key" -sha256 -days 3650 -subj "$2" \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature' \
    -out "$PKI/$1.crt"
}

# sign NAME SUBJECT EXTENSIONS [CA]: a P-256 key and a certificate for it, signed by CA (default: ca).
sign() {
  local name=$1 subject=$2 ext=$3 ca=${4:-ca}
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr"
  printf '%s\n' "$ext" >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

client_ext='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth'

# A CA, the apiserver's serving certificate, client certificates (the admin in system:masters; the
# controller manager and scheduler as the users their default RBAC roles name), the front proxy's CA
# and client certificate, and the service account signing key. Made once per cluster directory and reused by later starts.
make_pki() {
  [[ -f $PKI/.complete ]] && return 0
  command -v openssl >/dev/null || die "openssl is needed to make the cluster's certificates"
  rm -rf "$PKI"
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  new_ca ca "/CN=wiber-local-kubernetes-ca"
  # The first address of the service range is the in-cluster `kubernetes` Service.
  sign apiserver "/CN=kube-apiserver" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1"
  sign admin "/O=system:masters/CN=wiber-admin" "$client_ext"
  sign controller-manager "/CN=system:kube-controller-manager" "$client_ext"
  sign scheduler "/CN=system:kube-scheduler" "$client_ext"
  # kwok acts as every fake node's kubelet (node status, leases, pod status): it gets admin rights.
  sign kwok "/O=system:masters/CN=kwok" "$client_ext"
  # The aggregation layer's front proxy, as kubeadm sets it up: without a request-header CA the
  # controller manager and scheduler log errors about the extension-apiserver-authentication ConfigMap.
  new_ca front-proxy-ca "/CN=wiber-local-front-proxy-ca"
  sign front-proxy-client "/CN=front-proxy-client" "$client_ext" front-proxy-ca
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>/dev/null
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
  touch "$PKI/.complete"
}

# The real node's identities, signed when missing (a cluster directory from before the node had
# none): the kubelet as its node (Node authorizer, NodeRestriction), kube-proxy as the user its
# default binding names, and the apiserver's client certificate for the kubelet's API (logs, exec,
# port-forward), which the kubelet authorizes through the apiserver.
make_node_pki() {
  [[ -f $PKI/kubelet.crt ]] || sign kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "$client_ext"
  [[ -f $PKI/kube-proxy.crt ]] || sign kube-proxy "/CN=system:kube-proxy" "$client_ext"
  [[ -f $PKI/apiserver-kubelet-client.crt ]] ||
    sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client_ext"
}

# write_kubeconfig NAME [HOST]: $RUN/NAME.kubeconfig with the certificates embedded, so it works
# from anywhere, for the apiserver at HOST (127.0.0.1). The node reaches it at the host's side of
# its link, an address the serving certificate does not name: it checks the name `kubernetes`.
write_kubeconfig() {
  local name=$1 host=${2:-127.0.0.1}
  cat >"$RUN/$name.kubeconfig.tmp" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: wiber-local
  cluster:
    server: https://$host:$KUBE_APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")$([[ $host == 127.0.0.1 ]] || printf '\n    tls-server-name: kubernetes')
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$name.crt")
    client-key-data: $(base64 -w0 "$PKI/$name.key")
contexts:
- name: wiber-local
  context:
    cluster: wiber-local
    user: $name
current-context: wiber-local
KUBECONFIG
  chmod 600 "$RUN/$name.kubeconfig.tmp"
  mv "$RUN/$name.kubeconfig.tmp" "$RUN/$name.kubeconfig"
}

# --- processes --------------------------------------------------------------------------------

COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

pidfile() { echo "$RUN/$1.pid"; }
logfile() { echo "$RUN/$1.log"; }

component_port() {
  case $1 in
    etcd) echo "$ETCD_PORT" ;;
    kube-apiserver) echo "$KUBE_APISERVER_PORT" ;;
    kube-controller-manager) echo "$KUBE_CONTROLLER_MANAGER_PORT" ;;
    kube-scheduler) echo "$KUBE_SCHEDULER_PORT" ;;
    kwok) echo "$KWOK_PORT" ;;
  esac
}

# api PATH: GET on the apiserver as the admin.
api() {
  curl -sf --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$KUBE_APISERVER_PORT$1"
}

# healthy NAME: the component's own health endpoint answers ok.
healthy() {
  pid_alive "$(pidfile "$1")" || return 1
  case $1 in
    etcd) curl -sf --max-time 5 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"' ;;
    kube-apiserver) [[ $(api /readyz) == ok ]] ;;
    kube-controller-manager | kube-scheduler)
      # Their serving certificates are self-signed at start (in --cert-dir): -k for this local probe.
      [[ $(curl -sfk --max-time 5 "https://127.0.0.1:$(component_port "$1")/healthz") == ok ]] ;;
    kwok) [[ $(curl -sf --max-time 5 "http://127.0.0.1:$KWOK_PORT/healthz") == ok ]] ;;
  esac
}

# launch NAME COMMAND...: starts one component unless it already runs, then waits until it is healthy.
launch() {
  local name=$1 timeout=$2
  shift 2
  if pid_alive "$(pidfile "$name")"; then
    log "$name already running"
  else
    : >"$(logfile "$name")"
    start_daemon "$name" "$(pidfile "$name")" "$(logfile "$name")" "$@"
  fi
  wait_until "$timeout" "$name" healthy "$name" || {
    pid_alive "$(pidfile "$name")" || log "$name exited"
    fail_with_log "$name" "$(logfile "$name")"
  }
}

start_etcd() {
  mkdir -p "$RUN/etcd-data"
  chmod 700 "$RUN/etcd-data"
  # etcd reads every ETCD_* environment variable as a flag: keep this script's own out of its sight.
  launch etcd 60 env -u ETCD_PORT -u ETCD_PEER_PORT "$ETCD_BIN" --name=wiber-local --data-dir="$RUN/etcd-data" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="wiber-local=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state=new \
    --log-level=warn
}

# With the real node, the apiserver advertises the host's side of the node's link: it becomes the
# endpoint of the `kubernetes` Service, which pods (the operator) reach through kube-proxy. It binds
# every address, as it binds one only, and clients on this machine keep using 127.0.0.1. It reaches
# the kubelet at the node's InternalIP with a client certificate the kubelet checks.
# Without the node, --endpoint-reconciler-type=none: 127.0.0.1 is refused as the Service's endpoint
# ("may not be in the loopback range"), and nothing routes Service traffic anyway.
start_apiserver() {
  local address=(--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --endpoint-reconciler-type=none)
  if node_enabled; then
    address=(--bind-address=0.0.0.0 --advertise-address="$HOST_IP"
      --kubelet-preferred-address-types=InternalIP,Hostname
      --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt"
      --kubelet-client-key="$PKI/apiserver-kubelet-client.key")
  fi
  launch kube-apiserver 120 "$(kube_bin kube-apiserver)" "${address[@]}" --secure-port="$KUBE_APISERVER_PORT" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true --profiling=false
}

start_controller_manager() {
  launch kube-controller-manager 60 "$(kube_bin kube-controller-manager)" \
    --bind-address=127.0.0.1 --secure-port="$KUBE_CONTROLLER_MANAGER_PORT" --cert-dir="$RUN/controller-manager-certs" \
    --kubeconfig="$RUN/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$RUN/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$RUN/controller-manager.kubeconfig" \
    --client-ca-file="$PKI/ca.crt" --root-ca-file="$PKI/ca.crt" \
    --use-service-account-credentials=true --service-account-private-key-file="$PKI/sa.key" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --controllers='*' --leader-elect=false --profiling=false
}

start_scheduler() {
  launch kube-scheduler 60 "$(kube_bin kube-scheduler)" \
    --bind-address=127.0.0.1 --secure-port="$KUBE_SCHEDULER_PORT" --cert-dir="$RUN/scheduler-certs" \
    --kubeconfig="$RUN/scheduler.kubeconfig" \
    --authentication-kubeconfig="$RUN/scheduler.kubeconfig" \
    --authorization-kubeconfig="$RUN/scheduler.kubeconfig" \
    --client-ca-file="$PKI/ca.crt" --leader-elect=false --profiling=false
}

# kwok manages only nodes annotated kwok.x-k8s.io/node=fake, and drives them and their pods through
# kwok's own "fast" stages. It must keep node leases (the flag's default is 0, no lease): without
# them the node lifecycle controller marks the nodes NotReady after its 40 s grace period.
start_kwok() {
  launch kwok 60 "$KWOK_BIN" --kubeconfig="$RUN/kwok.kubeconfig" --config="$KWOK_STAGES" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --manage-nodes-with-label-selector= --manage-single-node= \
    --node-lease-duration-seconds=40 --cidr="$POD_CIDR" --node-ip="$NODE_IP" \
    --server-address="127.0.0.1:$KWOK_PORT"
}

node_manifest() {
  cat <<NODE
{"apiVersion": "v1", "kind": "Node",
 "metadata": {"name": "$1",
   "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
   "labels": {"type": "kwok", "kubernetes.io/hostname": "$1", "kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/agent": ""}},
 "spec": {"taints": [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}]}}
NODE
}

ready_nodes() {
  "$KUBECTL_BIN" --kubeconfig="$RUN/admin.kubeconfig" get nodes -l type=kwok \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$'
}
all_nodes_ready() { (($(ready_nodes) >= KWOK_NODES)); }

create_nodes() {
  local i
  : >"$(logfile kwok-nodes)"
  for ((i = 1; i <= KWOK_NODES; i++)); do
    node_manifest "kwok-node-$i" |
      "$KUBECTL_BIN" --kubeconfig="$RUN/admin.kubeconfig" apply -f - >>"$(logfile kwok-nodes)" 2>&1 ||
      fail_with_log "fake node kwok-node-$i" "$(logfile kwok-nodes)"
  done
  wait_until 60 "$KWOK_NODES kwok node(s) Ready" all_nodes_ready || fail_with_log "kwok nodes" "$(logfile kwok)"
}

# --- commands ---------------------------------------------------------------------------------

status() {
  local name down=0
  for name in "${COMPONENTS[@]}"; do
    if pid_alive "$(pidfile "$name")"; then
      echo "$name: running (pid $(cat "$(pidfile "$name")"), port $(component_port "$name"))"
    else
      echo "$name: stopped"
      down=1
    fi
  done
  node_status || down=1
  ((down == 0)) && echo "kubeconfig: $RUN/admin.kubeconfig"
  ((down == 0))
}

start() {
  local t0=$SECONDS name
  if node_enabled; then require_root; fi
  install
  [[ $KWOK_NODES =~ ^[1-9][0-9]*$ ]] || die "KWOK_NODES must be a positive number (got '$KWOK_NODES')"
  KUBECTL_BIN=$(kubectl_bin)
  for name in "${COMPONENTS[@]}"; do
    if ! pid_alive "$(pidfile "$name")" && port_open 127.0.0.1 "$(component_port "$name")"; then
      die "port $(component_port "$name") ($name) is taken by another process; set KUBE_APISERVER_PORT/ETCD_PORT to use other ports"
    fi
  done
  if ! pid_alive "$(pidfile etcd)" && port_open 127.0.0.1 "$ETCD_PEER_PORT"; then
    die "port $ETCD_PEER_PORT (etcd peer) is taken by another process; set ETCD_PORT or ETCD_PEER_PORT"
  fi
  mkdir -p "$RUN"
  make_pki
  for name in admin controller-manager scheduler kwok; do write_kubeconfig "$name"; done
  if node_enabled; then
    make_node_pki
    for name in kubelet kube-proxy; do write_kubeconfig "$name" "$HOST_IP"; done
  fi
  start_etcd
  start_apiserver
  start_controller_manager
  start_scheduler
  start_kwok
  create_nodes
  start_node
  log "kubernetes $KUBE_VERSION ready in $((SECONDS - t0))s: https://127.0.0.1:$KUBE_APISERVER_PORT, $KWOK_NODES kwok node(s)$(node_enabled && echo ", real node $NODE_NAME")"
  log "export KUBECONFIG=$RUN/admin.kubeconfig"
}

stop() {
  local name
  stop_node
  # Clients first, so none of them logs errors about a vanished apiserver; etcd last.
  for name in kwok kube-scheduler kube-controller-manager; do stop_daemon "$name" "$(pidfile "$name")" & done
  wait
  stop_daemon kube-apiserver "$(pidfile kube-apiserver)"
  stop_daemon etcd "$(pidfile etcd)"
}

kubeconfig() {
  [[ -f $RUN/admin.kubeconfig ]] || die "no kubeconfig in $RUN: run dev/cluster.sh start first"
  echo "$RUN/admin.kubeconfig"
}

bin() {
  case ${1:-} in
    etcd) build_etcd && echo "$ETCD_BIN" ;;
    kube-apiserver | kube-controller-manager | kube-scheduler | kubelet | kube-proxy) build_kube "$1" && kube_bin "$1" ;;
    kwok) build_kwok && echo "$KWOK_BIN" ;;
    helm) build_helm && echo "$HELM_BIN" ;;
    kubectl) kubectl_bin ;;
    *) die "bin: one of etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kwok, helm, kubectl" ;;
  esac
}

# tools: a directory with this cluster's kubectl and helm under their plain names.
tools() {
  local dir="$RUN/tools" kubectl
  kubectl=$(kubectl_bin)
  build_helm
  mkdir -p "$dir"
  ln -sfn "$kubectl" "$dir/kubectl"
  ln -sfn "$HELM_BIN" "$dir/helm"
  echo "$dir"
}

# wipe: an empty cluster at the next start (the certificates stay).
wipe() {
  local name
  for name in "${COMPONENTS[@]}"; do
    pid_alive "$(pidfile "$name")" && die "the cluster on port $KUBE_APISERVER_PORT is running: stop it first"
  done
  rm -rf "$RUN/etcd-data" "$NODE_RUN"
}

# node_address WHICH: the address, once the node's link is up.
node_address() {
  node_enabled || die "no real node (KUBE_REAL_NODE=$KUBE_REAL_NODE)"
  ip link show "$HOST_LINK" >/dev/null 2>&1 || die "the node of the cluster on port $KUBE_APISERVER_PORT is not running: dev/cluster.sh start"
  echo "$1"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  load-images) load_images "$@" ;;
  host-ip) node_address "$HOST_IP" ;;
  node-ip) node_address "$NODE_IP" ;;
  wipe) wipe ;;
  kubeconfig) kubeconfig ;;
  kubectl) exec "$(kubectl_bin)" --kubeconfig="$(kubeconfig)" "$@" ;;
  tools) tools ;;
  bin) bin "${1:-}" ;;
  *) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; [[ -z $cmd ]] || exit 2 ;;
esac
