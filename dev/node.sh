# Sourced by dev/cluster.sh: the cluster's one real node, whose kubelet runs pods in containers.
#
# containerd and runc and the CNI plugins (bridge, host-local, portmap) from Debian, kubelet and
# kube-proxy built from the control plane's wrapper module. The node lives in a network namespace of
# its own (`wiber-node-<apiserver port>`), joined to the host by a veth pair: its bridge, routes and
# kube-proxy's iptables rules never touch the host's, and two clusters on different ports can each
# have a node. The host side of the pair ($HOST_IP) is where pods reach the apiserver and the local
# Kafka and store; the node side ($NODE_IP) is the node's InternalIP, where NodePorts answer.
# Nothing is pulled from a registry: the sandbox image is built here (dev/node/pause.c) and the
# archives of `make images` are imported into containerd's k8s.io namespace.
#
# Variables (defaults): KUBE_REAL_NODE (1; 0 starts the control plane with kwok nodes only, e.g.
# without root), KUBE_NODE_NET (10.87.0: host .1, node .2), KUBE_POD_CIDR (10.88.<third octet of
# KUBE_NODE_NET>.0/24). Its state and logs live in $RUN/node.

KUBE_REAL_NODE="${KUBE_REAL_NODE:-1}"
KUBE_NODE_NET="${KUBE_NODE_NET:-10.87.0}"
[[ $KUBE_NODE_NET =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] ||
  die "KUBE_NODE_NET must be the first three octets of a /24, e.g. 10.87.0 (got '$KUBE_NODE_NET')"
HOST_IP="$KUBE_NODE_NET.1"
NODE_IP="$KUBE_NODE_NET.2"
POD_CIDR="${KUBE_POD_CIDR:-10.88.${KUBE_NODE_NET##*.}.0/24}"
NODE_NAME=wiber-node
NODE_RUN="$RUN/node"
NETNS="wiber-node-$KUBE_APISERVER_PORT"
HOST_LINK="wn-$KUBE_APISERVER_PORT"
CGROUP_ROOT="/wiber-node-$KUBE_APISERVER_PORT"
CONTAINERD_SOCK="$NODE_RUN/run/containerd.sock"
PAUSE_IMAGE=localhost/wiber/pause:1
PAUSE_STAMP=$(sha256sum "$WIBER_DEV_DIR/node/pause.c" | cut -c1-12)
PAUSE_ARCHIVE="$BIN_DIR/pause-$PAUSE_STAMP.oci.tar"
# The host settings the kubelet rewrites (and the bridge plugin's forwarding inside the node's own
# namespace, which goes with it); stop puts the recorded values back.
KUBELET_SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops)
SYSCTL_BASELINE="$WIBER_CACHE/run/sysctl-baseline"

node_enabled() { [[ $KUBE_REAL_NODE == 1 ]]; }
in_node() { nsenter --net="/var/run/netns/$NETNS" -- "$@"; }
ctr_node() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }
node_pidfile() { echo "$NODE_RUN/$1.pid"; }
node_logfile() { echo "$NODE_RUN/$1.log"; }

install_node_packages() {
  local missing=() tool
  for tool in containerd runc ctr nsenter ip iptables umoci gcc; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/portmap ]] || missing+=(cni)
  ((${#missing[@]} == 0)) && return 0
  apt_install containerd runc containernetworking-plugins umoci iptables iproute2 util-linux gcc libc6-dev ||
    die "could not install the node's Debian packages (containerd, runc, containernetworking-plugins, umoci)"
}

# The sandbox image: a static pause binary, packed as `make images` packs Wiber's.
build_pause_image() {
  [[ -f $PAUSE_ARCHIVE ]] && return 0
  local work
  work=$(mktemp -d "$BIN_DIR/.pause-build.XXXXXX")
  gcc -static -O2 -s -o "$work/pause" "$WIBER_DEV_DIR/node/pause.c" || { rm -rf "$work"; die "building pause failed"; }
  umoci init --layout "$work/layout"
  umoci new --image "$work/layout:1"
  umoci unpack --image "$work/layout:1" "$work/bundle" >/dev/null
  # `command`: cluster.sh, which sources this file, has an install function of its own.
  command install -m 0755 "$work/pause" "$work/bundle/rootfs/pause"
  umoci repack --image "$work/layout:1" "$work/bundle"
  umoci config --image "$work/layout:1" --config.entrypoint /pause --config.user 65535:65535 \
    --os linux --architecture "$(oci_arch)"
  umoci gc --layout "$work/layout"
  oci_pack "$work/layout" "$PAUSE_IMAGE" "$PAUSE_ARCHIVE" "$(date +%s)"
  rm -rf "$work"
}

install_node() {
  node_enabled || return 0
  install_node_packages
  build_node_binaries
  build_pause_image
}

require_root() {
  ((EUID == 0)) || die "the real node needs root (network namespaces, mounts, cgroups): run as root, or set KUBE_REAL_NODE=0 for kwok nodes only"
}

# --- network ----------------------------------------------------------------------------------

node_network_up() {
  [[ -e /var/run/netns/$NETNS ]] && ip link show "$HOST_LINK" >/dev/null 2>&1 && return 0
  node_network_down
  if has_address "$HOST_IP"; then
    die "$HOST_IP is already an address of this machine (another cluster's node?): set KUBE_NODE_NET"
  fi
  # `ip netns add` makes /run/netns a mount point the first time: undone by node_network_down.
  mountpoint -q /run/netns || touch "$NODE_RUN/made-run-netns"
  ip netns add "$NETNS"
  ip link add "$HOST_LINK" type veth peer name eth0 netns "$NETNS"
  ip addr add "$HOST_IP/24" dev "$HOST_LINK"
  ip link set "$HOST_LINK" up
  in_node ip link set lo up
  in_node ip addr add "$NODE_IP/24" dev eth0
  in_node ip link set eth0 up
  in_node ip route add default via "$HOST_IP"
  # The apiserver (pod proxy) and tests on the host reach pods through the node.
  ip route add "$POD_CIDR" via "$NODE_IP" dev "$HOST_LINK"
  in_node sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward; echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables'
}

node_network_down() {
  # The node's bridge, the pods' veths and kube-proxy's rules live in its namespace and go with it.
  if [[ -e /var/run/netns/$NETNS ]]; then ip netns del "$NETNS"; fi
  if ip link show "$HOST_LINK" >/dev/null 2>&1; then ip link del "$HOST_LINK"; fi
  if [[ -f $NODE_RUN/made-run-netns && -z $(ls -A /run/netns 2>/dev/null) ]]; then
    umount /run/netns && rm -f "$NODE_RUN/made-run-netns"
  fi
}

# --- containerd and images --------------------------------------------------------------------

write_containerd_config() {
  mkdir -p "$NODE_RUN"/{etc/cni/net.d,run,containerd/root,containerd/state,cni-ipam}
  cat >"$NODE_RUN/etc/containerd.toml" <<EOF
version = 2
root = "$NODE_RUN/containerd/root"
state = "$NODE_RUN/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_RUN/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  stream_server_address = "127.0.0.1"
  # Root here lacks CAP_SYS_RESOURCE: the sandbox's oom_score_adj of -998 would be refused.
  restrict_oom_score_adj = true
  # Pod network namespaces under the state directory, so stop finds and unmounts every one.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
        Root = "$NODE_RUN/run/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_RUN/etc/cni/net.d"
    max_conf_num = 1
EOF
  # containerd's CRI brings each pod's lo up itself; the chain sets up eth0.
  cat >"$NODE_RUN/etc/cni/net.d/10-wiber.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "wiber", "plugins": [
  {"type": "bridge", "bridge": "wiber0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$NODE_RUN/cni-ipam",
            "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
}

containerd_ready() { ctr --address "$CONTAINERD_SOCK" version; }

start_containerd() {
  pid_alive "$(node_pidfile containerd)" && return 0
  write_containerd_config
  : >"$(node_logfile containerd)"
  start_daemon containerd "$(node_pidfile containerd)" "$(node_logfile containerd)" \
    nsenter --net="/var/run/netns/$NETNS" -- containerd --config "$NODE_RUN/etc/containerd.toml"
  wait_until 30 containerd containerd_ready || fail_with_log containerd "$(node_logfile containerd)"
}

# import ARCHIVE: one OCI archive under the names it carries. A name that moved to another image
# needs a containerd restart: the CRI plugin's image cache keeps the old one (real-node.md, E2).
import_archive() {
  local before after
  before=$(ctr_node images ls 2>/dev/null | awk 'NR>1 {print $1, $3}' | sort)
  ctr_node images import "$1" >/dev/null || die "importing $1 into containerd failed"
  after=$(ctr_node images ls | awk 'NR>1 {print $1, $3}' | sort)
  comm -13 <(echo "$before") <(echo "$after") | while read -r name _; do
    grep -q "^$name " <<<"$before" && echo moved
  done | grep -q moved
}

# load_images [ARCHIVE...]: the sandbox image and the archives (default: those `make images` wrote).
load_images() {
  node_enabled || return 0
  pid_alive "$(node_pidfile containerd)" || die "the node is not running: dev/cluster.sh start"
  local archives=("$@") archive restart=0 images_dir
  if ((${#archives[@]} == 0)); then
    images_dir=$("$WIBER_DEV_DIR/images.sh" dir)
    archives=("$PAUSE_ARCHIVE")
    for archive in "$images_dir"/*.oci.tar; do [[ -f $archive ]] && archives+=("$archive"); done
  fi
  for archive in "${archives[@]}"; do
    if import_archive "$archive"; then restart=1; fi
    log "node: imported $(basename "$archive")"
  done
  if ((restart)); then
    log "node: an image name moved to a new build: restarting containerd (the pods keep running)"
    stop_daemon containerd "$(node_pidfile containerd)"
    start_containerd
  fi
}

# --- kubelet and kube-proxy -------------------------------------------------------------------

write_node_configs() {
  mkdir -p "$NODE_RUN"/{etc,kubelet,pod-logs}
  # No DNS on this node: Wiber's pods name every server by address, and nothing may leave the
  # machine through its resolver.
  printf 'nameserver 127.0.0.1\n' >"$NODE_RUN/etc/resolv.conf"
  cat >"$NODE_RUN/etc/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
cgroupRoot: $CGROUP_ROOT
# This machine has cgroup v1 (hybrid); Kubernetes 1.35 refuses it unless told.
failCgroupV1: false
failSwapOn: false
resolvConf: $NODE_RUN/etc/resolv.conf
podLogsDir: $NODE_RUN/pod-logs
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
# The imported images cannot be pulled again: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 30
EOF
  cat >"$NODE_RUN/etc/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [primary]
clientConnection: {kubeconfig: $RUN/kube-proxy.kubeconfig}
iptables: {localhostNodePorts: false}
# Zeros leave the host-wide conntrack settings alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

# The kubelet's pods go under a cgroup of this node's own in every hierarchy.
make_cgroup_root() {
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [[ -d $hierarchy && ${hierarchy%/} != */unified ]] || continue
    mkdir -p "$hierarchy${CGROUP_ROOT#/}"
    if [[ -f $hierarchy/cpuset.cpus ]]; then
      cat "$hierarchy/cpuset.cpus" >"$hierarchy${CGROUP_ROOT#/}/cpuset.cpus"
      cat "$hierarchy/cpuset.mems" >"$hierarchy${CGROUP_ROOT#/}/cpuset.mems"
    fi
  done
}

record_sysctls() {
  [[ -f $SYSCTL_BASELINE ]] && return 0
  local name
  for name in "${KUBELET_SYSCTLS[@]}"; do echo "$name=$(sysctl -n "$name")"; done >"$SYSCTL_BASELINE"
}

restore_sysctls() {
  [[ -f $SYSCTL_BASELINE ]] || return 0
  # Another cluster's kubelet still wants them.
  local pidfile
  for pidfile in "$WIBER_CACHE"/run/cluster-*/node/kubelet.pid; do
    pid_alive "$pidfile" && return 0
  done
  sysctl -q -p "$SYSCTL_BASELINE" && rm -f "$SYSCTL_BASELINE"
}

node_ready() {
  [[ $("$KUBECTL_BIN" --kubeconfig="$RUN/admin.kubeconfig" get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]
}

proxy_ready() { in_node curl -sf --max-time 2 http://127.0.0.1:10256/healthz; }

start_kubelet() {
  pid_alive "$(node_pidfile kubelet)" && return 0
  make_cgroup_root
  record_sysctls
  : >"$(node_logfile kubelet)"
  start_daemon kubelet "$(node_pidfile kubelet)" "$(node_logfile kubelet)" \
    nsenter --net="/var/run/netns/$NETNS" -- "$(kube_bin kubelet)" \
    --config "$NODE_RUN/etc/kubelet.yaml" --kubeconfig "$RUN/kubelet.kubeconfig" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --node-labels wiber.io/real-node=true \
    --root-dir "$NODE_RUN/kubelet" --cert-dir "$NODE_RUN/kubelet/pki" --v=1
  wait_until 60 "node $NODE_NAME Ready" node_ready || fail_with_log kubelet "$(node_logfile kubelet)"
}

start_kube_proxy() {
  pid_alive "$(node_pidfile kube-proxy)" && return 0
  : >"$(node_logfile kube-proxy)"
  start_daemon kube-proxy "$(node_pidfile kube-proxy)" "$(node_logfile kube-proxy)" \
    nsenter --net="/var/run/netns/$NETNS" -- "$(kube_bin kube-proxy)" --config "$NODE_RUN/etc/kube-proxy.yaml" --v=1
  wait_until 30 kube-proxy proxy_ready || fail_with_log kube-proxy "$(node_logfile kube-proxy)"
}

start_node() {
  node_enabled || return 0
  require_root
  local t0=$SECONDS
  mkdir -p "$NODE_RUN"
  node_network_up
  start_containerd
  load_images
  write_node_configs
  start_kubelet
  start_kube_proxy
  log "node $NODE_NAME Ready in $((SECONDS - t0))s: InternalIP $NODE_IP, pods $POD_CIDR, the host is $HOST_IP to them"
}

# --- stop -------------------------------------------------------------------------------------

# Every process in the node's cgroups: the pods' containers, whatever their shims left.
node_processes() {
  [[ -d /sys/fs/cgroup/pids$CGROUP_ROOT ]] || return 0
  find "/sys/fs/cgroup/pids$CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null
}

stop_pods() {
  local pids deadline
  pids=$(node_processes)
  [[ -z $pids ]] && return 0
  # As a node shutting down does: SIGTERM, a grace period, then SIGKILL.
  kill -TERM $pids 2>/dev/null || true
  deadline=$((SECONDS + 10))
  while [[ -n $(node_processes) ]] && ((SECONDS < deadline)); do sleep 0.2; done
  pids=$(node_processes)
  if [[ -n $pids ]]; then
    log "node: $(wc -w <<<"$pids") pod process(es) still running after 10 s: killing them"
    kill -KILL $pids 2>/dev/null || true
  fi
}

stop_shims() {
  local pids
  pids=$(pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK( |$)" || true)
  [[ -n $pids ]] && kill -KILL $pids 2>/dev/null || true
}

unmount_node() {
  local mount
  # Deepest first: volumes and rootfs overlays inside the kubelet's and containerd's directories.
  awk -v root="$NODE_RUN/" 'index($5, root) == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r mount; do umount "$mount" 2>/dev/null || umount -l "$mount"; done
}

remove_cgroup_root() {
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [[ -d $hierarchy${CGROUP_ROOT#/} ]] || continue
    find "$hierarchy${CGROUP_ROOT#/}" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

stop_node() {
  node_enabled || return 0
  [[ -d $NODE_RUN ]] || return 0
  require_root
  # The kubelet first, so it restarts nothing; the pods' records stay in the API, and the next
  # start runs them again, as a rebooted node does.
  stop_daemon kube-proxy "$(node_pidfile kube-proxy)"
  stop_daemon kubelet "$(node_pidfile kubelet)"
  stop_pods
  stop_daemon containerd "$(node_pidfile containerd)"
  stop_shims
  # Each step runs whatever the one before did (a mount gone by itself, a busy namespace): what is
  # left at the end is the judge, and says what it is.
  unmount_node || log "node: an unmount failed"
  # Every pod's network is gone with the namespace: so are the addresses handed out.
  rm -rf "$NODE_RUN/cni-ipam"
  node_network_down || log "node: taking its network down failed"
  remove_cgroup_root
  restore_sysctls || log "node: restoring the sysctls failed"
  local left
  left=$(node_leftovers)
  [[ -z $left ]] || { log "the node left behind:"$'\n'"$left"; return 1; }
}

# What a stopped node must not leave: processes, mounts, its network namespace and link, cgroups.
node_leftovers() {
  local name
  for name in containerd kubelet kube-proxy; do
    pid_alive "$(node_pidfile "$name")" && echo "process: $name"
  done
  pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK( |$)" | sed 's/^/process: shim /'
  node_processes | sed 's/^/process: pod process /'
  awk -v root="$NODE_RUN/" 'index($5, root) == 1 {print "mount: " $5}' /proc/self/mountinfo
  [[ -e /var/run/netns/$NETNS ]] && echo "network namespace: $NETNS"
  ip link show "$HOST_LINK" >/dev/null 2>&1 && echo "device: $HOST_LINK"
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [[ -d $hierarchy${CGROUP_ROOT#/} ]] && echo "cgroup: $hierarchy${CGROUP_ROOT#/}"
  done
  return 0
}

node_status() {
  node_enabled || { echo "real node: off (KUBE_REAL_NODE=0)"; return 0; }
  local name down=0
  for name in containerd kubelet kube-proxy; do
    if pid_alive "$(node_pidfile "$name")"; then
      echo "$name: running (pid $(cat "$(node_pidfile "$name")"))"
    else
      echo "$name: stopped"
      down=1
    fi
  done
  ((down == 0)) && echo "node $NODE_NAME: InternalIP $NODE_IP; pods reach this machine at $HOST_IP"
  ((down == 0))
}
