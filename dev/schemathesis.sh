#!/usr/bin/env bash
# Schemathesis (PyPI), for the API's conformance test against its own OpenAPI document
# (e2e/tests/messaging/schema.rs), in a virtualenv of its own under $WIBER_CACHE.
#
#   dev/schemathesis.sh install          create the virtualenv (once per version)
#   dev/schemathesis.sh bin              install if needed, then print the `st` binary's path
#
# Variables (defaults): SCHEMATHESIS_VERSION (4.32.5), WIBER_CACHE (~/.cache/wiber).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
VENV="$WIBER_CACHE/schemathesis-$SCHEMATHESIS_VERSION"

install() {
  [[ -f $VENV/.installed ]] && return 0
  command -v python3 >/dev/null || die "python3 is needed for schemathesis"
  log "installing schemathesis $SCHEMATHESIS_VERSION from PyPI into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"; then
    rm -rf "$VENV"
    die "installing schemathesis $SCHEMATHESIS_VERSION failed"
  fi
  # Only a finished install counts: an interrupted one is redone.
  touch "$VENV/.installed"
}

case "${1:-}" in
  install) install ;;
  bin) install >&2 && echo "$VENV/bin/st" ;;
  *) die "usage: dev/schemathesis.sh install|bin" ;;
esac
