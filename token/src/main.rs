//! wiber-token: signs a bearer token with the local issuer's key that `make up` creates
//! (dev/auth.sh), so a developer's curl can authenticate. In a cluster, the app's identity
//! provider signs tokens; this is for local use only.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use wiber_token::{Claims, Signer};

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
    let signer = match Signer::ed25519_pem(&pem, &args.kid) {
        Ok(signer) => signer,
        Err(e) => {
            eprintln!(
                "error: {} is not an Ed25519 private key: {e}",
                args.key.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let claims = Claims {
        user: &args.user,
        issuer: &args.issuer,
        audience: &args.audience,
        ttl: Duration::from_secs(args.ttl),
        admin: args.admin,
    };
    match signer.sign(&claims.to_json()) {
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
