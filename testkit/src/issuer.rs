//! A token issuer for tests: Ed25519 and RSA keys made by the openssl command line, the JWKS that
//! publishes them, and tokens signed with them, good or broken in each way a client can break one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use wiber_token::{Claims, Signer};

pub use wiber_token::now;

pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "wiber";

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A signing key with its public half as a JWK.
pub struct IssuerKey {
    pub kid: String,
    pub algorithm: Algorithm,
    signer: Signer,
    pub jwk: Value,
    /// The public key as PEM: what an algorithm-confusion attack signs with as an HMAC secret.
    pub public_pem: Vec<u8>,
    /// The private key's PEM file, for signers outside this process (the TypeScript client's tests).
    pub private_pem: PathBuf,
}

impl IssuerKey {
    pub fn ed25519(dir: &Path, kid: &str) -> Self {
        let private = dir.join(format!("{kid}.pem"));
        let path = private.to_str().expect("utf-8 path");
        openssl(&["genpkey", "-algorithm", "ed25519", "-out", path]);
        let der = openssl(&["pkey", "-in", path, "-pubout", "-outform", "DER"]);
        let x = &der[der.len() - 32..];
        Self {
            kid: kid.to_owned(),
            algorithm: Algorithm::EdDSA,
            signer: Signer::ed25519_pem(&std::fs::read(&private).expect("key"), kid)
                .expect("Ed25519 PEM"),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": b64(x), "kid": kid, "use": "sig", "alg": "EdDSA"}),
            public_pem: openssl(&["pkey", "-in", path, "-pubout"]),
            private_pem: private.clone(),
        }
    }

    pub fn rsa(dir: &Path, kid: &str) -> Self {
        let private = dir.join(format!("{kid}.pem"));
        let path = private.to_str().expect("utf-8 path");
        openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            path,
        ]);
        let modulus =
            String::from_utf8(openssl(&["rsa", "-in", path, "-noout", "-modulus"])).expect("text");
        let hex = modulus.trim().trim_start_matches("Modulus=");
        let n: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        Self {
            kid: kid.to_owned(),
            algorithm: Algorithm::RS256,
            signer: Signer::new(
                EncodingKey::from_rsa_pem(&std::fs::read(&private).expect("key")).expect("RSA PEM"),
                Algorithm::RS256,
                kid,
            ),
            jwk: json!({"kty": "RSA", "n": b64(&n), "e": "AQAB", "kid": kid, "use": "sig", "alg": "RS256"}),
            public_pem: openssl(&["pkey", "-in", path, "-pubout"]),
            private_pem: private.clone(),
        }
    }

    /// A token signed by this key, naming it.
    pub fn sign(&self, claims: &Value) -> String {
        self.signer.sign(claims).expect("sign")
    }

    /// As `sign`, with a `crit` header naming `extensions`.
    pub fn sign_critical(&self, extensions: &[&str], claims: &Value) -> String {
        self.signer.sign_critical(extensions, claims).expect("sign")
    }
}

/// The JWKS that publishes `keys`.
pub fn jwks(keys: &[&IssuerKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

/// Good claims for `user`, valid for five minutes.
pub fn claims(user: &str) -> Value {
    Claims {
        user,
        issuer: ISSUER,
        audience: AUDIENCE,
        ttl: Duration::from_secs(300),
        admin: false,
    }
    .to_json()
}

/// A token with `alg: none` and no signature.
pub fn unsigned(kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
    format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// An HS256 token under `kid`, with `secret` as the HMAC key (e.g. a public key's PEM).
pub fn hs256(kid: &str, secret: &[u8], claims: &Value) -> String {
    Signer::new(EncodingKey::from_secret(secret), Algorithm::HS256, kid)
        .sign(claims)
        .expect("sign")
}

/// A fresh directory for key files, under the workspace's `target/test-keys` (a few hundred bytes
/// each; `cargo clean` removes them).
pub fn key_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-keys")
        .join(uuid::Uuid::new_v4().simple().to_string());
    std::fs::create_dir_all(&dir).expect("key dir");
    dir
}
