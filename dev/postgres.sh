#!/usr/bin/env bash
# PostgreSQL as a plain local process: the storage under FerretDB (dev/ferretdb.sh). Debian's
# package, installed when missing; a private cluster per port, which never touches a system one.
#
#   dev/postgres.sh install              install Debian's postgresql when its binaries are missing
#   dev/postgres.sh start|stop|status    serve on 127.0.0.1:$POSTGRES_PORT
#   dev/postgres.sh wipe                 stop it and delete its data (a fresh cluster at next start)
#   dev/postgres.sh url [DB]             print the connection URL (DB defaults to ferretdb)
#   dev/postgres.sh psql [ARGS]          psql on the FerretDB database
#   dev/postgres.sh bindir               print the directory of PostgreSQL's programs (pg_dump, psql)
#
# Variables (defaults): POSTGRES_PORT (15432), WIBER_CACHE (~/.cache/wiber), WIBER_POSTGRES_RUN
# (data and log: $WIBER_CACHE/run/postgres-$POSTGRES_PORT, or /var/lib/postgresql/wiber-$POSTGRES_PORT
# when run as root, because PostgreSQL refuses to run as root and its own user cannot enter /root).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

POSTGRES_PORT="${POSTGRES_PORT:-15432}"
DATABASE=ferretdb
if ((EUID == 0)); then
  AS=(runuser -u postgres --)
  RUN="${WIBER_POSTGRES_RUN:-/var/lib/postgresql/wiber-$POSTGRES_PORT}"
else
  AS=()
  RUN="${WIBER_POSTGRES_RUN:-$WIBER_CACHE/run/postgres-$POSTGRES_PORT}"
fi
DATA="$RUN/data"
LOG="$RUN/postgres.log"

bindir() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do [[ -x $dir/pg_ctl ]] && echo "$dir"; done | sort -V | tail -n1
}

install() {
  [[ -n $(bindir) ]] && return 0
  apt_install postgresql || die "could not install Debian's postgresql"
  [[ -n $(bindir) ]] || die "postgresql is installed but no /usr/lib/postgresql/*/bin/pg_ctl was found"
}

url() { echo "postgres://postgres@127.0.0.1:$POSTGRES_PORT/${1-$DATABASE}"; }

pg() { "${AS[@]}" "$(bindir)/$1" "${@:2}"; }

running() { [[ -f $DATA/postmaster.pid ]] && pg pg_ctl -D "$DATA" status >/dev/null 2>&1; }

status() {
  if running; then
    echo "postgres: running (port $POSTGRES_PORT, data $DATA)"
  else
    echo "postgres: stopped"
    return 1
  fi
}

init_cluster() {
  log "creating a PostgreSQL cluster in $DATA"
  mkdir -p "$RUN"
  ((EUID == 0)) && chown postgres: "$RUN"
  # trust on loopback only: the cluster listens on 127.0.0.1 and nowhere else.
  pg initdb -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --no-instructions >"$RUN/initdb.log" ||
    fail_with_log postgres "$RUN/initdb.log"
  cat >>"$DATA/postgresql.conf" <<CONF
# Wiber (dev/postgres.sh)
listen_addresses = '127.0.0.1'
port = $POSTGRES_PORT
unix_socket_directories = ''
# The shared FerretDB's pool (dev/ferretdb.sh, 150) and the fault tests' own FerretDBs (150 each).
max_connections = 800
shared_buffers = 512MB
# FerretDB prepares its statements; a generic plan chosen before the GIN indexes existed (or for a
# near-empty table) would keep scanning for the life of the connection.
plan_cache_mode = force_custom_plan
# JIT compiles plans for large scans at a cost of tens of milliseconds; these queries are small.
jit = off
CONF
}

start() {
  install
  if running; then
    log "postgres already running on port $POSTGRES_PORT"
    return 0
  fi
  port_open 127.0.0.1 "$POSTGRES_PORT" &&
    die "port $POSTGRES_PORT is taken by another process; set POSTGRES_PORT to use another"
  [[ -f $DATA/PG_VERSION ]] || init_cluster
  pg pg_ctl -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null || fail_with_log postgres "$LOG"
  if ! pg psql -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'" | grep -q 1; then
    pg psql -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -d postgres -qc "CREATE DATABASE $DATABASE" >/dev/null
  fi
  PGOPTIONS="-c client_min_messages=warning" pg psql -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -d "$DATABASE" -q -v ON_ERROR_STOP=1 \
    -f - <"$WIBER_DEV_DIR/postgres/ferretdb-gin.sql" >/dev/null || die "applying dev/postgres/ferretdb-gin.sql failed"
  log "postgres ready: $(url)"
}

stop() {
  running || return 0
  pg pg_ctl -D "$DATA" -m fast -w -t 60 stop >/dev/null
  log "postgres stopped"
}

wipe() {
  stop
  rm -rf "$RUN"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  wipe) wipe ;;
  url) url "${@:2}" ;;
  bindir) install && bindir ;;
  psql) pg psql -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -d "$DATABASE" "${@:2}" ;;
  *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; [[ -z ${1:-} ]] || exit 2 ;;
esac
