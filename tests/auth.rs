//! The JWT rules: algorithm from configuration only, exp required, nbf, iss,
//! aud, the organization claim; 401 for bad tokens, 403 without an org.

mod support;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use lead_export::auth::Authenticator;
use lead_export::error::ExportError;
use serde_json::{json, Value};
use support::*;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn hs(claims: Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn rs(claims: Value, kid: Option<&str>, pem: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_string);
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn auth(vars: &[(&str, &str)]) -> Authenticator {
    Authenticator::new(config(vars).jwt)
}

fn check(a: &Authenticator, token: &str) -> Result<String, ExportError> {
    a.authenticate(Some(&format!("Bearer {token}")))
        .map(|o| o.to_string())
}

fn valid() -> Value {
    json!({"org_id": "org-1", "exp": now() + 600})
}

fn assert_401(result: Result<String, ExportError>, what: &str) {
    match result {
        Err(ExportError::Unauthorized(_)) => {}
        other => panic!("{what}: expected 401, got {other:?}"),
    }
}

#[test]
fn hs256_happy_path_and_bad_tokens() {
    let a = auth(&[]);
    assert_eq!(check(&a, &hs(valid(), DEV_SECRET)).unwrap(), "org-1");
    assert_401(check(&a, &hs(valid(), "another-secret")), "wrong secret");
    assert_401(
        check(
            &a,
            &hs(json!({"org_id": "o", "exp": now() - 60}), DEV_SECRET),
        ),
        "expired",
    );
    assert_401(check(&a, &hs(json!({"org_id": "o"}), DEV_SECRET)), "no exp");
    assert_401(
        check(
            &a,
            &hs(
                json!({"org_id": "o", "exp": now() + 600, "nbf": now() + 300}),
                DEV_SECRET,
            ),
        ),
        "not yet valid",
    );
    assert_401(check(&a, "not.a.jwt"), "garbage");
    let t = hs(valid(), DEV_SECRET);
    let mut tampered = t.clone();
    tampered.pop();
    tampered.push(if t.ends_with('A') { 'B' } else { 'A' });
    assert_401(check(&a, &tampered), "tampered signature");
}

#[test]
fn header_forms() {
    let a = auth(&[]);
    let t = hs(valid(), DEV_SECRET);
    assert!(
        a.authenticate(Some(&format!("bearer {t}"))).is_ok(),
        "scheme is case-insensitive"
    );
    for h in [
        None,
        Some(""),
        Some("Bearer"),
        Some("Bearer "),
        Some(&*format!("Basic {t}")),
        Some(&*t),
    ] {
        assert!(
            matches!(a.authenticate(h), Err(ExportError::Unauthorized(_))),
            "{h:?}"
        );
    }
}

#[test]
fn alg_none_and_algorithm_confusion_never_pass() {
    let a = auth(&[]);
    let b64 = |v: Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(valid())
    );
    assert_401(check(&a, &none), "alg none");
    // A token signed RS256 is refused when HS256 is configured ...
    assert_401(
        check(&a, &rs(valid(), None, &data("rsa_private.pem"))),
        "RS256 under HS256",
    );
    // ... and an HS256 token keyed with the public PEM is refused under RS256.
    let r = auth(&[("JWT_PUBLIC_KEY", &data("rsa_public.pem"))]);
    assert_401(
        check(&r, &hs(valid(), &data("rsa_public.pem"))),
        "HS256 with the public key",
    );
}

#[test]
fn rs256_es256_and_jwks() {
    let r = auth(&[
        ("JWT_PUBLIC_KEY", &data("rsa_public.pem")),
        ("JWT_ALGORITHM", "RS256"),
    ]);
    assert_eq!(
        check(&r, &rs(valid(), None, &data("rsa_private.pem"))).unwrap(),
        "org-1"
    );
    assert_401(
        check(&r, &rs(valid(), None, &data("rsa_other_private.pem"))),
        "other RSA key",
    );

    let e = auth(&[
        ("JWT_PUBLIC_KEY", &data("ec_public.pem")),
        ("JWT_ALGORITHM", "ES256"),
    ]);
    let es = encode(
        &Header::new(Algorithm::ES256),
        &valid(),
        &EncodingKey::from_ec_pem(data("ec_private.pem").as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(check(&e, &es).unwrap(), "org-1");

    let j = auth(&[("JWT_JWKS", &data("jwks.json"))]);
    assert_eq!(
        check(&j, &rs(valid(), Some("key-1"), &data("rsa_private.pem"))).unwrap(),
        "org-1"
    );
    assert_401(
        check(&j, &rs(valid(), Some("key-2"), &data("rsa_private.pem"))),
        "unknown kid",
    );
    assert_401(
        check(&j, &rs(valid(), None, &data("rsa_private.pem"))),
        "no kid",
    );
    assert_401(
        check(
            &j,
            &rs(valid(), Some("key-1"), &data("rsa_other_private.pem")),
        ),
        "kid of another key",
    );
}

#[test]
fn issuer_and_audience_when_configured() {
    let a = auth(&[
        ("JWT_ISSUER", "https://issuer.example"),
        ("JWT_AUDIENCE", "lead-export"),
    ]);
    let good = json!({"org_id": "o", "exp": now() + 600, "iss": "https://issuer.example", "aud": "lead-export"});
    assert!(check(&a, &hs(good.clone(), DEV_SECRET)).is_ok());
    for (key, value) in [
        ("iss", json!("https://evil.example")),
        ("aud", json!("other")),
    ] {
        let mut bad = good.clone();
        bad[key] = value;
        assert_401(check(&a, &hs(bad, DEV_SECRET)), key);
    }
    for key in ["iss", "aud"] {
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove(key);
        assert_401(
            check(&a, &hs(missing, DEV_SECRET)),
            &format!("missing {key}"),
        );
    }
    // Without configuration, iss and aud are not required.
    assert!(check(&auth(&[]), &hs(good, DEV_SECRET)).is_ok());
}

#[test]
fn organization_claim() {
    let a = auth(&[]);
    for claims in [
        json!({"exp": now() + 600}),
        json!({"exp": now() + 600, "org_id": ""}),
        json!({"exp": now() + 600, "org_id": 42}),
        json!({"exp": now() + 600, "org_id": null}),
    ] {
        match check(&a, &hs(claims.clone(), DEV_SECRET)) {
            Err(ExportError::Forbidden(_)) => {}
            other => panic!("{claims}: expected 403, got {other:?}"),
        }
    }
    let renamed = auth(&[("JWT_ORG_CLAIM", "https://lance.so/org")]);
    let t = hs(
        json!({"exp": now() + 600, "https://lance.so/org": "org-9", "org_id": "ignored"}),
        DEV_SECRET,
    );
    assert_eq!(check(&renamed, &t).unwrap(), "org-9");
}

#[tokio::test]
async fn statuses_and_bodies_through_the_handler() {
    let (app, _) = demo_app();
    let body = json!({"selection": {"mode": "manual", "includedIds": ["x"]}}).to_string();
    let expired = hs(json!({"org_id": ORG_A, "exp": now() - 10}), DEV_SECRET);
    let resp = lead_export::http::handle(
        &app,
        post(&body, &[("authorization", &format!("Bearer {expired}"))]),
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(body_json(&resp)["error"]["code"], "UNAUTHORIZED");
    let no_org = hs(json!({"exp": now() + 60}), DEV_SECRET);
    let resp = lead_export::http::handle(
        &app,
        post(&body, &[("authorization", &format!("Bearer {no_org}"))]),
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(body_json(&resp)["error"]["code"], "FORBIDDEN");
}
