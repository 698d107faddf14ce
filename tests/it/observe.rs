//! Observability through the handler: exports over leads full of names,
//! emails and phones, with every log line captured (JSON, as in Lambda) and
//! every EMF line: no personal data and no token in either; one log line per
//! request; the EMF lines parse with the expected metrics and dimensions.
//! Against moto (`#[ignore]`d): the DynamoDB requests and items counted at
//! the store's call sites.

use crate::support;

use std::collections::BTreeSet;
use std::sync::Arc;

use lambda_http::{Body, Response};
use lead_export::app::App;
use lead_export::audit::{Audit, AuditError, AuditLog, AuditRecord, MemoryAuditLog};
use lead_export::auth::OrgId;
use lead_export::aws;
use lead_export::demo::demo_leads;
use lead_export::error::FaultKind;
use lead_export::http::handle;
use lead_export::model::{Company, Lead};
use lead_export::observe::MemoryMetrics;
use lead_export::store::{DynamoStore, MemoryStore};
use serde_json::{json, Value};
use support::*;

use crate::log_capture::Captured;

/// Leads whose every personal field is distinctive, so that a leak is found.
fn personal_leads(n: usize) -> Vec<Lead> {
    (0..n)
        .map(|i| Lead {
            id: format!("lead-{i:03}"),
            first_name: compact_str::format_compact!("Zelphine{i}"),
            last_name: compact_str::format_compact!("Quorrington{i}"),
            emails: Some(vec![
                compact_str::format_compact!("zelphine.q{i}@private-mail.example"),
                compact_str::format_compact!("zq{i}@home.example"),
            ]),
            phones: Some(vec![
                compact_str::format_compact!("+1-555-77{i:02}"),
                compact_str::format_compact!("+49 30 99{i:04}"),
            ]),
            linkedin_url: Some(compact_str::format_compact!(
                "https://www.linkedin.com/in/zelphine-q{i}"
            )),
            city: Some("Berlin".into()),
            job_title: Some("Head of Sales".into()),
            company: Some(Company {
                name: Some("Acme".into()),
                ..Company::default()
            }),
            ..Lead::default()
        })
        .collect()
}

/// The personal values of `leads`: what must never be logged.
fn personal_values(leads: &[Lead]) -> Vec<String> {
    let mut values = Vec::new();
    for lead in leads {
        values.push(lead.first_name.to_string());
        values.push(lead.last_name.to_string());
        values.push(format!("{} {}", lead.first_name, lead.last_name));
        values.extend(lead.emails.iter().flatten().map(|v| v.to_string()));
        values.extend(lead.phones.iter().flatten().map(|v| v.to_string()));
        values.extend(lead.linkedin_url.as_ref().map(|v| v.to_string()));
    }
    values
}

struct FailingAudit;

#[async_trait::async_trait]
impl AuditLog for FailingAudit {
    async fn write(&self, _: &AuditRecord) -> Result<(), AuditError> {
        Err(AuditError {
            kind: FaultKind::Other,
            message: "injected: ResourceNotFoundException".into(),
        })
    }
}

fn request(body: &Value, token: &str, extra: &[(&str, &str)]) -> lambda_http::Request {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    post(&body.to_string(), &headers)
}

fn all_fields() -> Vec<&'static str> {
    lead_export::fields::Field::ALL
        .iter()
        .map(|f| f.id())
        .collect()
}

#[tokio::test]
async fn logs_and_metrics_carry_no_personal_data_and_the_emf_lines_parse() {
    let leads = personal_leads(30);
    let store = MemoryStore::new();
    store.insert(ORG_A, leads.clone());
    let store = Arc::new(store);
    let metrics = Arc::new(MemoryMetrics::new());
    let objects = Arc::new(lead_export::deliver::memory::MemoryObjects::new());
    let mut app = app_with(&config(&[]), store, objects);
    app.metrics = metrics.clone();
    app.audit = Audit {
        log: Arc::new(MemoryAuditLog::new()),
        retention_days: 400,
    };
    let mut small = app.clone();
    small.inline_limit = 3000;
    let failing = App {
        audit: Audit {
            log: Arc::new(FailingAudit),
            retention_days: 400,
        },
        ..app.clone()
    };

    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let good = token(ORG_A);
    let foreign =
        lead_export::auth::sign_hs256(b"another-secret", "org_id", ORG_A, 600, None, None).unwrap();
    let ids: Vec<String> = leads.iter().map(|l| l.id.clone()).collect();
    let emails: Vec<String> = leads
        .iter()
        .map(|l| l.emails.as_ref().unwrap()[0].to_string())
        .collect();
    let manual = json!({"selection": {"mode": "manual", "includedIds": ids},
                        "exportFields": all_fields()});
    let by_name = json!({"selection": {"mode": "bulk", "targetCount": 10,
        "filters": {"contact": {"fullName": {"any": {"include": ["Zelphine3 Quorrington3"]}}}}},
        "exportFields": all_fields()});
    let everyone = json!({"selection": {"mode": "bulk", "targetCount": 30, "filters": {}},
                          "exportFields": all_fields()});
    let emails_as_ids = json!({"selection": {"mode": "manual", "includedIds": emails}});
    let bad = json!({"selection": {"mode": "bulk", "targetCount": emails[0], "filters": {}}});

    // (app, request, status, served)
    let runs: Vec<(&App, lambda_http::Request, u16)> = vec![
        (&app, request(&manual, &good, &[]), 200),
        (
            &app,
            request(&manual, &good, &[("accept-encoding", "gzip")]),
            200,
        ),
        (
            &app,
            request(&by_name, &good, &[("accept", "application/json")]),
            200,
        ),
        (&small, request(&everyone, &good, &[]), 303),
        (&app, request(&emails_as_ids, &good, &[]), 400),
        (&app, request(&bad, &good, &[]), 400),
        (&app, request(&manual, &foreign, &[]), 401),
        (&failing, request(&manual, &good, &[]), 503),
    ];
    let mut responses: Vec<Response<Body>> = Vec::new();
    for (app, req, status) in runs {
        let resp = handle(app, req).await;
        assert_eq!(resp.status(), status);
        responses.push(resp);
    }
    drop(_guard);

    let lines = captured.lines();
    let emf = metrics.lines();
    let mut forbidden = personal_values(&leads);
    forbidden.push(good.clone());
    forbidden.push(foreign.clone());
    // A token's signature alone is enough to replay nothing, but it is
    // still the token: none of its parts either.
    forbidden.extend(good.split('.').map(str::to_string));
    forbidden.extend(foreign.split('.').map(str::to_string));
    forbidden.push("dev-user".into());
    for line in lines.iter().chain(&emf) {
        for value in &forbidden {
            assert!(!line.contains(value.as_str()), "{value:?} logged: {line}");
        }
    }
    // Not vacuous: the exports held those values.
    let csv = String::from_utf8(body_bytes(&responses[0])).unwrap();
    assert!(csv.contains(&emails[0]) && csv.contains("+1-555-7700") && csv.contains("Zelphine0"));

    // Every log line is one JSON object; one request line per request.
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let request_lines: Vec<&Value> = events
        .iter()
        .filter(|e| {
            matches!(
                e["fields"]["message"].as_str(),
                Some("export served" | "export refused" | "export failed")
            )
        })
        .collect();
    assert_eq!(request_lines.len(), 8, "{lines:#?}");
    let statuses: Vec<u64> = request_lines
        .iter()
        .map(|e| e["fields"]["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 200, 303, 400, 400, 401, 503]);
    let ids: BTreeSet<&str> = request_lines
        .iter()
        .map(|e| e["fields"]["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 8, "a request id each");
    for (e, resp) in request_lines[..4].iter().zip(&responses) {
        let f = &e["fields"];
        assert_eq!(f["message"], "export served");
        assert_eq!(f["org"], ORG_A);
        assert_eq!(f["format"], "csv");
        assert_eq!(f["code"], "OK");
        assert_eq!(f["audit"], "written");
        assert_eq!(
            f["count"].as_u64().unwrap().to_string(),
            header(resp, "x-export-count")
        );
        assert!(f["bytes"].as_u64().unwrap() > 0, "{f}");
        assert!(f["duration_ms"].is_u64(), "{f}");
        assert_eq!(f["dynamo_requests"], 0, "in-memory store");
        assert_eq!(f["dynamo_items_read"], 0);
    }
    let destinations: Vec<&str> = request_lines[..4]
        .iter()
        .map(|e| e["fields"]["destination"].as_str().unwrap())
        .collect();
    assert_eq!(destinations, ["inline", "inline", "s3", "s3"]);
    assert_eq!(request_lines[4]["fields"]["code"], "NO_DATA");
    assert_eq!(request_lines[5]["fields"]["code"], "VALIDATION_ERROR");
    assert_eq!(request_lines[6]["fields"]["code"], "UNAUTHORIZED");
    assert_eq!(request_lines[6]["fields"]["audit"], "none");
    assert!(request_lines[6]["fields"].get("org").is_none());
    assert_eq!(request_lines[7]["level"], "ERROR");
    assert_eq!(request_lines[7]["fields"]["audit"], "failed");
    assert_eq!(request_lines[7]["fields"]["code"], "SERVICE_UNAVAILABLE");

    // One EMF line per served export (not the refusals, not the 503).
    assert_eq!(emf.len(), 4, "{emf:#?}");
    let now_ms = unix_now() * 1000;
    for (line, (resp, destination)) in emf.iter().zip(responses.iter().zip(&destinations)) {
        let v: Value = serde_json::from_str(line).unwrap();
        let ts = v["_aws"]["Timestamp"].as_i64().unwrap();
        assert!((now_ms - 60_000..=now_ms + 60_000).contains(&ts), "{ts}");
        let directives = v["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        let d = &directives[0];
        assert_eq!(d["Namespace"], "LeadExport");
        assert_eq!(d["Dimensions"], json!([["Mode", "Destination"]]));
        let names: BTreeSet<&str> = d["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            BTreeSet::from([
                "ExportCount",
                "ExportBytes",
                "DurationMs",
                "DynamoItemsRead"
            ])
        );
        for name in names {
            assert!(v[name].is_number(), "{name}: {line}");
        }
        for dim in ["Mode", "Destination"] {
            assert!(v[dim].is_string(), "{dim}: {line}");
        }
        assert_eq!(v["Destination"], *destination);
        assert_eq!(
            v["ExportCount"].as_u64().unwrap().to_string(),
            header(resp, "x-export-count")
        );
    }
    let modes: Vec<Value> = emf
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["Mode"].clone())
        .collect();
    assert_eq!(modes, ["manual", "manual", "bulk", "bulk"]);
}

#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn dynamodb_requests_and_items_are_counted_per_request() {
    let (table, audit) = (unique("obs-leads"), unique("obs-audit"));
    let cursors = unique("obs-cursors");
    let config = endpoint_config(&[
        ("LEADS_TABLE", &table),
        ("AUDIT_TABLE", &audit),
        ("CURSORS_TABLE", &cursors),
        ("EXPORT_TIMEOUT_SECONDS", "900"),
    ]);
    let (client, _) = aws::clients(&config).await;
    aws::ensure_table(&client, &table).await.unwrap();
    lead_export::store::cursors::ensure_table(&client, &cursors)
        .await
        .unwrap();
    lead_export::audit::ensure_table(&client, &audit)
        .await
        .unwrap();
    let leads = demo_leads(1, 150);
    DynamoStore::new(client.clone(), &table)
        .put_leads(&OrgId::new(ORG_A).unwrap(), &leads)
        .await
        .unwrap();
    let metrics = Arc::new(MemoryMetrics::new());
    let app = App {
        metrics: metrics.clone(),
        ..App::from_config(&config).await
    };
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(captured.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    // 150 ids: two BatchGetItem chunks (100 + 50), run concurrently.
    let ids: Vec<String> = leads.iter().map(|l| l.id.clone()).collect();
    let resp = handle(
        &app,
        post_as(
            ORG_A,
            &json!({"selection": {"mode": "manual", "includedIds": ids}}),
        ),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let resp = handle(
        &app,
        post_as(
            ORG_A,
            &json!({"selection": {"mode": "bulk", "targetCount": 20, "filters": {}}}),
        ),
    )
    .await;
    assert_eq!(resp.status(), 200);
    drop(guard);
    let served: Vec<Value> = captured
        .lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["fields"]["message"] == "export served")
        .collect();
    assert_eq!(served.len(), 2);
    assert!(served[0]["fields"]["dynamo_requests"].as_u64().unwrap() >= 2);
    assert_eq!(served[0]["fields"]["dynamo_items_read"], 150);
    assert!(served[1]["fields"]["dynamo_requests"].as_u64().unwrap() >= 1);
    let lines: Vec<Value> = metrics
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["DynamoItemsRead"], 150);
    assert_eq!(lines[0]["ExportCount"], 150);
    let bulk_read = lines[1]["DynamoItemsRead"].as_u64().unwrap();
    assert!((20..=40).contains(&bulk_read), "{bulk_read}");
    assert_eq!(lines[1]["ExportCount"], 20);
}
