//! The TypeScript client's own tests (`clients/typescript/test`, Node's test runner) against a real
//! Wiber: this starts the API (verifying tokens from a test issuer whose key the tests sign with,
//! no leeway, so a short token expires mid-stream) and a consumer, then runs them and fails with
//! their report when any fails.

use std::path::Path;
use std::process::Command;

use wiber_e2e::issuer;
use wiber_e2e::stack::Wiber;

/// Node 20 takes every script under `test/` for a test file, helpers included: these are the tests.
const TEST_FILES: [&str; 1] = ["test/client.test.js"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_clients_tests_pass_against_the_real_api() {
    let (wiber, _consumer, key) = Wiber::with_issuer(&[
        ("AUTH_LEEWAY_SECONDS", "0"),
        // 300 messages in one test: the limit's own test starts an API with a small one.
        ("API_RATE_LIMIT_PER_SECOND", "1000"),
        ("API_RATE_LIMIT_BURST", "1000"),
    ])
    .await;
    let dir = key.private_pem.parent().expect("the key's directory");
    let spec = dir.join("api-spec.json");
    std::fs::write(&spec, wiber.api_spec().to_string()).expect("write the API spec");
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/typescript");
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(node)
            .args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
            .args(TEST_FILES)
            .current_dir(client)
            .env("WIBER_API_URL", &wiber.api_url)
            .env("WIBER_TOKEN_KEY", &key.private_pem)
            .env("WIBER_TOKEN_KID", &key.kid)
            .env("WIBER_TOKEN_ISSUER", issuer::ISSUER)
            .env("WIBER_TOKEN_AUDIENCE", issuer::AUDIENCE)
            .env("WIBER_API_SPEC", &spec)
            .output()
            .expect("node runs (Node.js 20 or later)")
    })
    .await
    .expect("the node run");
    let report = String::from_utf8_lossy(&output.stdout);
    println!("{report}");
    assert!(
        output.status.success(),
        "the TypeScript client's tests failed:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        report.contains("ℹ fail 0") && !report.contains("ℹ tests 0"),
        "{report}"
    );
}
