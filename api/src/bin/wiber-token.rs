//! wiber-token: signs a bearer token with the local issuer's key that `make up` creates
//! (dev/auth.sh), so a developer's curl can authenticate. In a cluster, the app's identity
//! provider signs tokens; this is for local use only.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

#[derive(Parser)]
#[command(about = "Print a token for USER signed with the local issuer's Ed25519 key")]
struct Args {
    /// The Wiber user the token names (its `sub`)
    user: String,
    /// The issuer's private key (PEM)
    #[arg(long, env = "WIBER_TOKEN_KEY")]
    key: PathBuf,
    /// The key's id in the issuer's JWKS
    #[arg(long, env = "WIBER_TOKEN_KID", default_value = "wiber-dev-1")]
    kid: String,
    #[arg(long, env = "AUTH_ISSUER")]
    issuer: String,
    #[arg(long, env = "AUTH_AUDIENCE")]
    audience: String,
    /// Seconds until the token expires
    #[arg(long, default_value_t = 3600)]
    ttl: u64,
    /// Grant the admin scope (counts across users)
    #[arg(long)]
    admin: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let pem = match std::fs::read(&args.key) {
        Ok(pem) => pem,
        Err(e) => {
            eprintln!("error: reading {}: {e}", args.key.display());
            return ExitCode::FAILURE;
        }
    };
    let key = match EncodingKey::from_ed_pem(&pem) {
        Ok(key) => key,
        Err(e) => {
            eprintln!(
                "error: {} is not an Ed25519 private key: {e}",
                args.key.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut claims = json!({
        "sub": args.user, "iss": args.issuer, "aud": args.audience, "iat": now, "exp": now + args.ttl,
    });
    if args.admin {
        claims["scope"] = json!("wiber:admin");
    }
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(args.kid);
    match encode(&header, &claims, &key) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: signing: {e}");
            ExitCode::FAILURE
        }
    }
}
