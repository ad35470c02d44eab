#!/usr/bin/env bash
# make down: stops everything `make up` started; no process is left behind.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$WIBER_DEV_DIR/wiber.sh" stop
"$WIBER_DEV_DIR/ferretdb.sh" stop
"$WIBER_DEV_DIR/kafka.sh" stop
