#!/usr/bin/env bash
# Wiber's own processes, the API and the consumer, as local daemons against the local servers.
#
#   dev/wiber.sh build                   cargo build of both binaries ($WIBER_PROFILE, default release)
#   dev/wiber.sh start|stop|status       API on $API_HOST:$API_PORT (admin: health and /metrics on
#                                        $API_ADMIN_PORT), consumer health on $CONSUMER_PORT
#                                        (the API trusts dev/auth.sh's tokens unless AUTH_* say otherwise)
#
# Variables (defaults): API_HOST (127.0.0.1), API_PORT (8000), API_ADMIN_PORT (API_PORT + 2),
# CONSUMER_PORT (8001), WIBER_PROFILE
# (release), plus the binaries' own (KAFKA_BOOTSTRAP_SERVERS, MONGO_URI, ...: docs/reference/configuration.md).
# Logs and pids: $WIBER_CACHE/run/wiber-$API_PORT.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export API_HOST="${API_HOST:-127.0.0.1}" API_PORT="${API_PORT:-8000}"
export API_ADMIN_PORT="${API_ADMIN_PORT:-$((API_PORT + 2))}"
export CONSUMER_HOST="${CONSUMER_HOST:-127.0.0.1}" CONSUMER_PORT="${CONSUMER_PORT:-8001}"
WIBER_PROFILE="${WIBER_PROFILE:-release}"
RUN="$WIBER_CACHE/run/wiber-$API_PORT"
TARGET="${CARGO_TARGET_DIR:-$WIBER_ROOT/target}"
BIN_DIR="$TARGET/$([[ $WIBER_PROFILE == dev ]] && echo debug || echo "$WIBER_PROFILE")"

build() {
  log "building wiber-api and wiber-consumer ($WIBER_PROFILE profile)"
  ensure_build_deps
  (cd "$WIBER_ROOT" && cargo build --locked --profile "$WIBER_PROFILE" -p wiber-api -p wiber-consumer)
}

http_ok() { curl -fsS -o /dev/null "$1"; }

# AUTH_MODE=jwt is the API's default: without keys of its own, it trusts the local issuer
# (dev/auth.sh), whose tokens `dev/auth.sh token USER` prints. AUTH_MODE=none opens the API.
trust_local_issuer() {
  [[ ${AUTH_MODE:-jwt} == jwt && -z ${AUTH_JWKS_URL:-}${AUTH_JWKS_FILE:-}${AUTH_HS256_SECRET_FILE:-} ]] || return 0
  "$WIBER_DEV_DIR/auth.sh" keys
  local line
  while read -r line; do export "${line?}"; done < <("$WIBER_DEV_DIR/auth.sh" env)
}

start() {
  build
  trust_local_issuer
  mkdir -p "$RUN"
  if ! pid_alive "$RUN/api.pid"; then
    port_open "$API_HOST" "$API_PORT" && die "port $API_PORT is taken; set API_PORT"
    port_open "$API_HOST" "$API_ADMIN_PORT" && die "port $API_ADMIN_PORT is taken; set API_ADMIN_PORT"
    start_daemon wiber-api "$RUN/api.pid" "$RUN/api.log" "$BIN_DIR/wiber-api"
  fi
  if ! pid_alive "$RUN/consumer.pid"; then
    port_open "$CONSUMER_HOST" "$CONSUMER_PORT" && die "port $CONSUMER_PORT is taken; set CONSUMER_PORT"
    start_daemon wiber-consumer "$RUN/consumer.pid" "$RUN/consumer.log" "$BIN_DIR/wiber-consumer"
  fi
  wait_until 60 "wiber-api readiness" http_ok "http://$API_HOST:$API_PORT/health/readiness" ||
    fail_with_log wiber-api "$RUN/api.log"
  wait_until 60 "wiber-consumer readiness" http_ok "http://$CONSUMER_HOST:$CONSUMER_PORT/health/readiness" ||
    fail_with_log wiber-consumer "$RUN/consumer.log"
  log "wiber ready: API http://$API_HOST:$API_PORT (metrics http://$API_HOST:$API_ADMIN_PORT/metrics), consumer http://$CONSUMER_HOST:$CONSUMER_PORT/metrics"
}

stop() {
  stop_daemon wiber-api "$RUN/api.pid"
  stop_daemon wiber-consumer "$RUN/consumer.pid"
}

status() {
  local ok=0 name
  for name in api consumer; do
    if pid_alive "$RUN/$name.pid"; then
      echo "wiber-$name: running (pid $(cat "$RUN/$name.pid"))"
    else
      echo "wiber-$name: stopped"
      ok=1
    fi
  done
  return $ok
}

case "${1:-}" in
  build) build ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; [[ -z ${1:-} ]] || exit 2 ;;
esac
