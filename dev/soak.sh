#!/usr/bin/env bash
# make soak: the long version of the fault suite. Every scenario of e2e/tests/messaging/faults/
# runs SOAK_ROUNDS times (default 5, so every fault is injected at least five times), then
# WIBER_SOAK_MINUTES (default 30) of steady load watching the API's and the consumer's memory and
# descriptors (e2e/tests/messaging/soak.rs). Prints one table: per scenario the runs, faults
# injected, messages acknowledged, stored exactly once, lost, duplicated, and 5xx answers. Logs in
# $WIBER_CACHE/run/soak-<time>/. Same servers and ports as `make test` (dev/messaging-servers.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$WIBER_DEV_DIR/messaging-servers.sh"
cd "$WIBER_ROOT"

ROUNDS="${SOAK_ROUNDS:-5}"
export WIBER_SOAK_MINUTES="${WIBER_SOAK_MINUTES:-30}"
LOGS="$WIBER_CACHE/run/soak-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$LOGS"

ensure_build_deps
trap stop_messaging_servers EXIT
start_messaging_servers
export_messaging_env
cargo build --workspace --bins --locked
cargo test --no-run --locked -p wiber-e2e --test messaging 2>/dev/null

run() {
  local name=$1; shift
  log "soak: $name"
  if cargo test --locked -p wiber-e2e --test messaging -- "$@" --nocapture >"$LOGS/$name.log" 2>&1; then
    echo "$name ok" >>"$LOGS/runs"
  else
    echo "$name FAILED" >>"$LOGS/runs"
    grep -E '^test .* FAILED|panicked at' "$LOGS/$name.log" >>"$LOGS/failures" || true
  fi
  grep -h '^SOAK|' "$LOGS/$name.log" >>"$LOGS/lines" || true
  grep -h '^SOAK-STEADY|' "$LOGS/$name.log" >>"$LOGS/steady" || true
}

for round in $(seq 1 "$ROUNDS"); do
  run "faults-$round" faults::
done
run steady --ignored soak::

{
  echo "make soak: $ROUNDS rounds of the fault suite, then $WIBER_SOAK_MINUTES min of steady load ($(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD))"
  echo
  echo "| scenario | runs | faults injected | acknowledged | stored once | lost | duplicated | 5xx |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  # A run reports only once its verification passed (every acknowledged message stored exactly
  # once, nothing refused stored); a failed one is listed below the table instead.
  awk -F'|' '{ runs[$2]++; faults[$2]+=$3; ack[$2]+=$4; stored[$2]+=$5; errors[$2]+=$6 }
    END { for (s in runs) printf "| %s | %d | %d | %d | %d | 0 | 0 | %d |\n", s, runs[s], faults[s], ack[s], stored[s], errors[s] }' \
    "$LOGS/lines" | sort
  echo
  echo "Suite runs: $(grep -c ' ok$' "$LOGS/runs") passed, $(grep -c ' FAILED$' "$LOGS/runs" || true) failed."
  if [[ -s $LOGS/failures ]]; then
    echo; echo "Failures:"; sed 's/^/    /' "$LOGS/failures"
  fi
  if [[ -s $LOGS/steady ]]; then
    echo; echo "Steady load, one sample a minute:"; echo
    echo "| minute | acknowledged | API RSS MiB | API fds | consumer RSS MiB | consumer fds |"
    echo "|---:|---:|---:|---:|---:|---:|"
    awk -F'|' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $2, $3, $4, $5, $6, $7 }' "$LOGS/steady"
  fi
} | tee "$LOGS/table.md"
! grep -q ' FAILED$' "$LOGS/runs"
