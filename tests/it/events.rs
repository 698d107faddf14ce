//! The API Gateway fixtures of `events/`, parsed by lambda_http exactly as
//! the runtime parses them, through the handler, over the demo data.

use crate::support;

use lead_export::demo::demo_leads;
use lead_export::http::handle;
use support::*;

async fn run(fixture: &str) -> lambda_http::Response<lambda_http::Body> {
    let path = format!("{}/events/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let json = std::fs::read_to_string(&path).unwrap();
    let request =
        lambda_http::request::from_str(&json).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    let (app, _) = demo_app();
    handle(&app, request).await
}

fn today() -> String {
    lead_export::export::naming::file_name(time::OffsetDateTime::now_utc(), "csv")
}

#[tokio::test]
async fn manual_export_fixtures() {
    let a = demo_leads(1, 3000);
    for fixture in ["rest-manual-export.json", "http-manual-export.json"] {
        let resp = run(fixture).await;
        assert_eq!(resp.status(), 200, "{fixture}");
        assert_eq!(header(&resp, "content-type"), "text/csv; charset=utf-8");
        assert_eq!(
            header(&resp, "content-disposition"),
            format!("attachment; filename=\"{}\"", today())
        );
        assert_eq!(header(&resp, "x-export-count"), "2");
        let rows = csv_rows(&body_bytes(&resp));
        // Unknown field ignored; the org-B id skipped; the repeat once; order kept.
        assert_eq!(rows[0], ["Name", "Email(s)", "Company Name"]);
        let name = |l: &lead_export::model::Lead| format!("{} {}", l.first_name, l.last_name);
        assert_eq!(rows[1][0], name(&a[2]), "{fixture}");
        assert_eq!(rows[2][0], name(&a[0]), "{fixture}");
        assert_eq!(rows.len(), 3);
    }
}

#[tokio::test]
async fn bulk_export_fixtures() {
    let a = demo_leads(1, 3000);
    let mut berlin: Vec<_> = a
        .iter()
        .filter(|l| l.city.as_deref() == Some("Berlin") || l.state.as_deref() == Some("Berlin"))
        .collect();
    berlin.sort_by(|x, y| x.id.cmp(&y.id));
    let expected_ids: Vec<&str> = berlin[..10]
        .iter()
        .map(|l| l.id.as_str())
        .chain(
            std::iter::once(a[1].id.as_str())
                .filter(|id| !berlin[..10].iter().any(|l| l.id == *id)),
        )
        .collect();
    for fixture in ["rest-bulk-export.json", "http-bulk-export.json"] {
        let resp = run(fixture).await;
        assert_eq!(
            resp.status(),
            200,
            "{fixture}: {:?}",
            String::from_utf8_lossy(&body_bytes(&resp))
        );
        assert_eq!(
            header(&resp, "x-export-count"),
            expected_ids.len().to_string()
        );
        let rows = csv_rows(&body_bytes(&resp));
        assert_eq!(rows[0].len(), 8, "the default fields");
        let emails: Vec<String> = rows[1..].iter().map(|r| r[1].clone()).collect();
        let expected: Vec<String> = expected_ids
            .iter()
            .map(|id| {
                let l = a.iter().find(|l| l.id == *id).unwrap();
                l.emails.clone().unwrap_or_default().join(", ")
            })
            .collect();
        assert_eq!(emails, expected, "{fixture}");
    }
}

#[tokio::test]
async fn validation_error_fixtures() {
    for fixture in ["rest-validation-error.json", "http-validation-error.json"] {
        let resp = run(fixture).await;
        assert_eq!(resp.status(), 400, "{fixture}");
        assert_eq!(header(&resp, "content-type"), "application/json");
        assert_eq!(
            body_json(&resp),
            serde_json::json!({"error": {"code": "VALIDATION_ERROR",
                "message": "selection.targetCount must be between 1 and 1000"}})
        );
    }
}

#[tokio::test]
async fn missing_token_fixtures() {
    for fixture in ["rest-missing-token.json", "http-missing-token.json"] {
        let resp = run(fixture).await;
        assert_eq!(resp.status(), 401, "{fixture}");
        assert_eq!(header(&resp, "www-authenticate"), "Bearer");
        let body = body_json(&resp);
        assert_eq!(body["error"]["code"], "UNAUTHORIZED");
        assert_eq!(body["error"]["message"], "Invalid or missing bearer token");
    }
}

/// The committed fixtures carry dev-secret tokens: a production configuration
/// (a 32+ byte secret, which `check_production` accepts) answers them 401,
/// and the same event re-signed with that secret (what the cargo-lambda
/// recipe of docs/testing.md does with `make token`) is served.
#[tokio::test]
async fn fixtures_do_not_replay_against_a_production_secret() {
    let secret = "a-production-secret-of-at-least-32-bytes";
    let cfg = config(&[("JWT_SECRET", secret)]);
    cfg.check_production().expect("a production configuration");
    let app = app_with(
        &cfg,
        demo_store(),
        std::sync::Arc::new(lead_export::deliver::memory::MemoryObjects::new()),
    );
    let path = format!(
        "{}/events/http-manual-export.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let json = std::fs::read_to_string(&path).unwrap();
    let request = lambda_http::request::from_str(&json).unwrap();
    assert_eq!(handle(&app, request).await.status(), 401);

    let token =
        lead_export::auth::sign_hs256(secret.as_bytes(), "org_id", ORG_A, 60, None, None).unwrap();
    let old = json
        .split("Bearer ")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let resigned = json.replace(old, &token);
    let request = lambda_http::request::from_str(&resigned).unwrap();
    let resp = handle(&app, request).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-export-count"), "2");
}
