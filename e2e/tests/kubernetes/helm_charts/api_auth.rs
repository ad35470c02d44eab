//! The wiber chart's `cluster.api.auth` and `cluster.api.tls`: no install without a choice of who
//! may call the API, and each choice rendered into the WiberCluster's `spec.api`.

use serde_json::json;

use super::{find, rejected, template};

#[test]
fn the_wiber_chart_will_not_guess_who_may_call_the_api() {
    let unset = rejected("wiber", &[]);
    assert!(
        unset.contains("cluster.api.auth: mode Jwt verifies tokens")
            && unset.contains("cluster.api.auth.mode=None"),
        "{unset}"
    );
    let both = rejected(
        "wiber",
        &[
            "--set",
            "cluster.api.auth.issuer=https://idp.example",
            "--set",
            "cluster.api.auth.jwksUrl=https://idp.example/jwks",
            "--set",
            "cluster.api.auth.jwksSecret.name=jwks",
        ],
    );
    assert!(
        both.contains(
            "set exactly one of cluster.api.auth.jwksUrl and cluster.api.auth.jwksSecret.name"
        ),
        "{both}"
    );
    for (value, field) in [
        ("cluster.api.auth.mode=Maybe", "/cluster/api/auth/mode"),
        (
            "cluster.api.auth.leewaySeconds=301",
            "/cluster/api/auth/leewaySeconds",
        ),
        (
            "cluster.api.auth.jwksUrl=ftp://idp",
            "/cluster/api/auth/jwksUrl",
        ),
        ("cluster.api.tls.secret=x", "'secret' not allowed"),
    ] {
        let message = rejected("wiber", &["--set", value]);
        assert!(message.contains(field), "{value}: {message}");
    }
}

#[test]
fn each_auth_choice_and_a_tls_secret_reach_the_wiberclusters_api_spec() {
    let api = |values: &[&str]| {
        find(&template("wiber", "chat", "team", values), "WiberCluster")["spec"]["api"].clone()
    };

    let url = api(&[]);
    assert_eq!(
        url["auth"],
        json!({
            "mode": "Jwt", "issuer": "https://idp.example", "audience": "wiber",
            "jwksUrl": "https://idp.example/.well-known/jwks.json",
            "userClaim": "sub", "adminScope": "wiber:admin", "leewaySeconds": 30,
        })
    );
    assert!(
        url.get("tls").is_none(),
        "plain HTTP unless a Secret is named"
    );

    let secret = api(&[
        "--set",
        "cluster.api.auth.jwksUrl=",
        "--set",
        "cluster.api.auth.jwksSecret.name=idp-jwks",
        "--set",
        "cluster.api.auth.userClaim=email",
        "--set",
        "cluster.api.tls.secretName=api-cert",
    ]);
    assert_eq!(
        secret["auth"]["jwksSecret"],
        json!({"name": "idp-jwks", "key": "jwks.json"})
    );
    assert!(secret["auth"].get("jwksUrl").is_none());
    assert_eq!(secret["auth"]["userClaim"], "email");
    assert_eq!(secret["tls"], json!({"secretName": "api-cert"}));

    let open = api(&["--set", "cluster.api.auth.mode=None"]);
    assert_eq!(open["auth"], json!({"mode": "None"}));
}
