//! The JWT rules: algorithm from configuration only, exp required, nbf, iss,
//! aud, the organization claim; 401 for bad tokens (always the same message,
//! the reason in the log only), 403 without an org.

use crate::support;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use lead_export::auth::Authenticator;
use lead_export::error::ExportError;
use lead_export::http::error_response;
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

const ISSUER: &str = "https://idp.example";
const AUDIENCE: &str = "lead-export";

/// A public-key configuration: `iss` and `aud` are required with one.
fn idp_auth(vars: &[(&str, &str)]) -> Authenticator {
    let mut all = vec![("JWT_ISSUER", ISSUER), ("JWT_AUDIENCE", AUDIENCE)];
    all.extend_from_slice(vars);
    auth(&all)
}

/// Valid claims of the identity provider.
fn valid_idp() -> Value {
    json!({"org_id": "org-1", "exp": now() + 600, "iss": ISSUER, "aud": AUDIENCE})
}

/// A 401 with the one client message and `WWW-Authenticate: Bearer`; the
/// reason (for the log) contains `reason`. Returns the reason.
fn assert_401_because(result: Result<String, ExportError>, what: &str, reason: &str) -> String {
    let err = match result {
        Err(err @ ExportError::Unauthorized(_)) => err,
        other => panic!("{what}: expected 401, got {other:?}"),
    };
    let resp = error_response(&err);
    assert_eq!(resp.status(), 401, "{what}");
    assert_eq!(header(&resp, "www-authenticate"), "Bearer", "{what}");
    assert_eq!(
        body_json(&resp),
        json!({"error": {"code": "UNAUTHORIZED", "message": "Invalid or missing bearer token"}}),
        "{what}"
    );
    let logged = err.to_string();
    assert!(logged.contains(reason), "{what}: reason {logged:?}");
    logged
}

fn assert_401(result: Result<String, ExportError>, what: &str) {
    assert_401_because(result, what, "token rejected");
}

#[test]
fn hs256_happy_path_and_bad_tokens() {
    let a = auth(&[]);
    assert_eq!(check(&a, &hs(valid(), DEV_SECRET)).unwrap(), "org-1");
    assert_401_because(
        check(&a, &hs(valid(), "another-secret")),
        "wrong secret",
        "bad signature",
    );
    let expired = hs(json!({"org_id": "o", "exp": now() - 60}), DEV_SECRET);
    let reason = assert_401_because(check(&a, &expired), "expired", "expired");
    assert!(!reason.contains(&expired), "the log never holds the token");
    assert_401_because(
        check(&a, &hs(json!({"org_id": "o"}), DEV_SECRET)),
        "no exp",
        "missing required claim exp",
    );
    assert_401_because(
        check(
            &a,
            &hs(
                json!({"org_id": "o", "exp": now() + 600, "nbf": now() + 300}),
                DEV_SECRET,
            ),
        ),
        "not yet valid",
        "not yet valid",
    );
    assert_401_because(check(&a, "not.a.jwt"), "garbage", "malformed token");
    // Another first character of the signature (its last one has bits that
    // must be zero: changing it may only break the base64).
    let t = hs(valid(), DEV_SECRET);
    let at = t.rfind('.').unwrap() + 1;
    let swapped = if t[at..].starts_with('A') { "B" } else { "A" };
    let tampered = format!("{}{swapped}{}", &t[..at], &t[at + 1..]);
    assert_401_because(check(&a, &tampered), "tampered signature", "bad signature");
}

#[test]
fn leeway_allows_clock_skew_only() {
    let a = auth(&[("JWT_LEEWAY_SECONDS", "300")]);
    let recently_expired = hs(json!({"org_id": "o", "exp": now() - 200}), DEV_SECRET);
    assert_eq!(check(&a, &recently_expired).unwrap(), "o");
    let long_expired = hs(json!({"org_id": "o", "exp": now() - 400}), DEV_SECRET);
    assert_401_because(check(&a, &long_expired), "beyond the leeway", "expired");
}

#[test]
fn header_forms() {
    let a = auth(&[]);
    let t = hs(valid(), DEV_SECRET);
    assert!(
        a.authenticate(Some(&format!("bearer {t}"))).is_ok(),
        "scheme is case-insensitive"
    );
    let basic = format!("Basic {t}");
    for (h, reason) in [
        (None, "no Authorization header"),
        (Some(""), "no Authorization header"),
        (Some("Bearer"), "malformed Authorization header"),
        (Some("Bearer  "), "malformed Authorization header"),
        (Some("Bearer \t"), "malformed Authorization header"),
        (Some(&*basic), "scheme is not Bearer"),
        (Some(&*t), "malformed Authorization header"),
    ] {
        let logged = assert_401_because(
            a.authenticate(h).map(|o| o.to_string()),
            &format!("{h:?}"),
            reason,
        );
        assert!(!logged.contains(&t), "the log never holds the token");
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
    let r = idp_auth(&[("JWT_PUBLIC_KEY", &data("rsa_public.pem"))]);
    assert_401_because(
        check(&r, &hs(valid_idp(), &data("rsa_public.pem"))),
        "HS256 with the public key",
        "algorithm not accepted",
    );
}

#[test]
fn rs256_es256_and_jwks() {
    let r = idp_auth(&[
        ("JWT_PUBLIC_KEY", &data("rsa_public.pem")),
        ("JWT_ALGORITHM", "RS256"),
    ]);
    assert_eq!(
        check(&r, &rs(valid_idp(), None, &data("rsa_private.pem"))).unwrap(),
        "org-1"
    );
    assert_401_because(
        check(&r, &rs(valid_idp(), None, &data("rsa_other_private.pem"))),
        "other RSA key",
        "bad signature",
    );
    // A token of the same identity provider for another application.
    let mut other_app = valid_idp();
    other_app["aud"] = json!("crm");
    assert_401_because(
        check(&r, &rs(other_app, None, &data("rsa_private.pem"))),
        "another audience",
        "wrong audience",
    );

    let e = idp_auth(&[
        ("JWT_PUBLIC_KEY", &data("ec_public.pem")),
        ("JWT_ALGORITHM", "ES256"),
    ]);
    let es = encode(
        &Header::new(Algorithm::ES256),
        &valid_idp(),
        &EncodingKey::from_ec_pem(data("ec_private.pem").as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(check(&e, &es).unwrap(), "org-1");

    let j = idp_auth(&[("JWT_JWKS", &data("jwks.json"))]);
    assert_eq!(
        check(
            &j,
            &rs(valid_idp(), Some("key-1"), &data("rsa_private.pem"))
        )
        .unwrap(),
        "org-1"
    );
    assert_401_because(
        check(
            &j,
            &rs(valid_idp(), Some("key-2"), &data("rsa_private.pem")),
        ),
        "unknown kid",
        "unknown kid",
    );
    assert_401_because(
        check(&j, &rs(valid_idp(), None, &data("rsa_private.pem"))),
        "no kid",
        "no kid",
    );
    assert_401_because(
        check(
            &j,
            &rs(valid_idp(), Some("key-1"), &data("rsa_other_private.pem")),
        ),
        "kid of another key",
        "bad signature",
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
    for (key, value, reason) in [
        ("iss", json!("https://evil.example"), "wrong issuer"),
        ("aud", json!("other"), "wrong audience"),
    ] {
        let mut bad = good.clone();
        bad[key] = value;
        assert_401_because(check(&a, &hs(bad, DEV_SECRET)), key, reason);
    }
    for key in ["iss", "aud"] {
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove(key);
        assert_401_because(
            check(&a, &hs(missing, DEV_SECRET)),
            &format!("missing {key}"),
            &format!("missing required claim {key}"),
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
    assert_eq!(header(&resp, "www-authenticate"), "Bearer");
    assert_eq!(
        body_json(&resp),
        json!({"error": {"code": "UNAUTHORIZED", "message": "Invalid or missing bearer token"}})
    );
    let no_org = hs(json!({"exp": now() + 60}), DEV_SECRET);
    let resp = lead_export::http::handle(
        &app,
        post(&body, &[("authorization", &format!("Bearer {no_org}"))]),
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(body_json(&resp)["error"]["code"], "FORBIDDEN");
}
