#!/usr/bin/env bash
# The local token issuer for `make up`: an Ed25519 key and the JWKS that publishes it, made once by
# openssl under $WIBER_CACHE/auth, which the API trusts (AUTH_JWKS_FILE), and tokens signed with it.
#
#   dev/auth.sh keys                 create the key and JWKS unless they exist
#   dev/auth.sh env                  print the AUTH_* settings that trust them
#   dev/auth.sh jwks                 print the JWKS file's path (e.g. for a WiberCluster's jwksSecret)
#   dev/auth.sh token USER [--admin] print a token for USER (an hour), e.g. TOKEN=$(dev/auth.sh token alice)
#   dev/auth.sh loadgen-args         print the wiber-loadgen options that sign its tokens with the key
#
# A real cluster trusts the app's identity provider instead (docs/concepts/authentication.md); the local
# cluster's WiberCluster trusts this issuer through its JWKS in a Secret.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR="$WIBER_CACHE/auth"
KEY="$DIR/dev-signing.pem"
JWKS="$DIR/jwks.json"
KID=wiber-dev-1
ISSUER=wiber-dev
AUDIENCE=wiber
TARGET="${CARGO_TARGET_DIR:-$WIBER_ROOT/target}"

keys() {
  [[ -f $KEY && -f $JWKS ]] && return 0
  command -v openssl >/dev/null || die "openssl is needed to make the local signing key"
  mkdir -p "$DIR"
  (umask 077 && openssl genpkey -algorithm ed25519 -out "$KEY.tmp") || die "openssl genpkey failed"
  # The raw public key is the last 32 bytes of its DER form; JWKs carry it base64url, unpadded.
  local x
  x=$(openssl pkey -in "$KEY.tmp" -pubout -outform DER | tail -c 32 | base64 -w0 | tr '+/' '-_' | tr -d '=')
  printf '{"keys":[{"kty":"OKP","crv":"Ed25519","x":"%s","kid":"%s","use":"sig","alg":"EdDSA"}]}\n' "$x" "$KID" >"$JWKS"
  mv "$KEY.tmp" "$KEY"
  log "local token issuer: key $KEY, JWKS $JWKS"
}

env_lines() {
  echo "AUTH_MODE=jwt"
  echo "AUTH_ISSUER=$ISSUER"
  echo "AUTH_AUDIENCE=$AUDIENCE"
  echo "AUTH_JWKS_FILE=$JWKS"
}

token() {
  [[ -n ${1:-} ]] || die "usage: dev/auth.sh token USER [--admin]"
  keys
  local bin
  for bin in "$TARGET/release/wiber-token" "$TARGET/debug/wiber-token"; do
    [[ -x $bin ]] && break
  done
  [[ -x $bin ]] || (cd "$WIBER_ROOT" && cargo build --quiet --locked -p wiber-token) || die "building wiber-token failed"
  [[ -x $bin ]] || bin="$TARGET/debug/wiber-token"
  WIBER_TOKEN_KEY=$KEY WIBER_TOKEN_KID=$KID AUTH_ISSUER=$ISSUER AUTH_AUDIENCE=$AUDIENCE "$bin" "$@"
}

case "${1:-}" in
  keys) keys ;;
  env) env_lines ;;
  jwks) keys && echo "$JWKS" ;;
  loadgen-args) keys && echo "--token-key $KEY --token-kid $KID --token-issuer $ISSUER --token-audience $AUDIENCE" ;;
  token) token "${@:2}" ;;
  *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; [[ -z ${1:-} ]] || exit 2 ;;
esac
