#!/usr/bin/env bash
# The charts' READMEs, generated from the `# --` comments in their values.yaml by helm-docs (built
# from the Go module proxy into $WIBER_CACHE/bin) with each chart's README.md.gotmpl.
#
#   dev/chart-docs.sh generate   rewrites charts/*/README.md (`make chart-docs`)
#   dev/chart-docs.sh bin        prints helm-docs' path, building it when missing
#
# A test regenerates them into a copy and fails when a committed README differs.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HELM_DOCS_VERSION=v1.14.2
HELM_DOCS_BIN="$WIBER_CACHE/bin/helm-docs-$HELM_DOCS_VERSION"

build() {
  [[ -x $HELM_DOCS_BIN ]] && return 0
  log "building helm-docs $HELM_DOCS_VERSION into $HELM_DOCS_BIN"
  go_install "$HELM_DOCS_BIN" "github.com/norwoodj/helm-docs/cmd/helm-docs@$HELM_DOCS_VERSION"
}

case "${1:-}" in
  bin) build && echo "$HELM_DOCS_BIN" ;;
  generate)
    build
    "$HELM_DOCS_BIN" --chart-search-root "$WIBER_ROOT/charts" --template-files README.md.gotmpl \
      --sort-values-order file --log-level warning
    ;;
  *) die "usage: $0 generate|bin" ;;
esac
