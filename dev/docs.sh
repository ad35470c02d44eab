#!/usr/bin/env bash
# The book: docs/ built by mdBook (from crates.io) into target/book, then every link in it checked.
#
#   dev/docs.sh build    build the book and check its links (make docs; make test runs it)
#   dev/docs.sh serve    build it and serve it on http://127.0.0.1:3000, rebuilding on changes
#   dev/docs.sh bin      print mdbook's path (installed into $WIBER_CACHE once)
#
# The link check reads the built HTML: a link to another page must reach a file of the book and,
# with a #fragment, an element with that id there; a link into this repository
# (https://github.com/wiber-io/wiber/blob|tree/main/PATH) must name a path that exists here, as must
# the relative links of README.md, BENCHMARKS.md, RELIABILITY.md and CHANGELOG.md. Links elsewhere on
# the web are not followed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$WIBER_ROOT"

MDBOOK_VERSION=0.5.4
MDBOOK_ROOT="$WIBER_CACHE/mdbook-$MDBOOK_VERSION"
MDBOOK="$MDBOOK_ROOT/bin/mdbook"
BOOK="${CARGO_TARGET_DIR:-$WIBER_ROOT/target}/book"

install() {
  [[ -x $MDBOOK ]] && return 0
  log "installing mdbook $MDBOOK_VERSION from crates.io into $MDBOOK_ROOT (about 2 minutes, once)"
  cargo install --quiet --locked --root "$MDBOOK_ROOT" "mdbook@$MDBOOK_VERSION" || die "installing mdbook failed"
}

check_links() {
  python3 - "$BOOK" "$WIBER_ROOT" <<'PY'
import html.parser, os, re, sys, urllib.parse
book, repo = sys.argv[1], sys.argv[2]
own = re.compile(r"^https://github\.com/wiber-io/wiber/(?:blob|tree)/main/([^#?]*)")

class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []
    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            if name in ("href", "src") and value and tag in ("a", "img"):
                self.links.append(value)

pages = {}
for dirpath, _, files in os.walk(book):
    for f in files:
        if f.endswith(".html"):
            path = os.path.join(dirpath, f)
            page = Page()
            page.feed(open(path, encoding="utf-8").read())
            pages[path] = page
broken = []
for path, page in pages.items():
    # The print view repeats every page; its links are those pages' links.
    if os.path.basename(path) in ("print.html", "toc.html", "404.html"):
        continue
    for link in page.links:
        where = os.path.relpath(path, book)
        mine = own.match(link)
        if mine:
            if not os.path.exists(os.path.join(repo, urllib.parse.unquote(mine.group(1)))):
                broken.append(f"{where}: {link} (no such path in the repository)")
            continue
        if re.match(r"^[a-z]+:", link):
            continue
        target, _, fragment = link.partition("#")
        target = urllib.parse.unquote(target.split("?")[0])
        file = os.path.normpath(os.path.join(os.path.dirname(path), target)) if target else path
        if os.path.isdir(file):
            file = os.path.join(file, "index.html")
        if not os.path.exists(file):
            broken.append(f"{where}: {link} (no such file)")
        elif fragment and file in pages and fragment not in pages[file].ids:
            broken.append(f"{where}: {link} (no #{fragment} there)")
# The repository's front pages, outside the book, link into it by path: those paths must exist.
for front in ("README.md", "BENCHMARKS.md", "RELIABILITY.md", "CHANGELOG.md"):
    text = open(os.path.join(repo, front), encoding="utf-8").read()
    for link in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", link) or link.startswith("#"):
            continue
        if not os.path.exists(os.path.join(repo, link.partition("#")[0])):
            broken.append(f"{front}: {link} (no such path in the repository)")
for b in sorted(set(broken)):
    print(b)
print(f"{len(pages)} pages, {len(set(broken))} broken links", file=sys.stderr)
sys.exit(1 if broken else 0)
PY
}

build() {
  install
  rm -rf "$BOOK"
  "$MDBOOK" build docs --dest-dir "$BOOK" || die "the book does not build"
  check_links || die "the book has broken links (above)"
  log "book: $BOOK/index.html"
}

case "${1:-}" in
  build) build ;;
  serve) install && exec "$MDBOOK" serve docs --dest-dir "$BOOK" ;;
  bin) install && echo "$MDBOOK" ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; [[ -z ${1:-} ]] || exit 2 ;;
esac
