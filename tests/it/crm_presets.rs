//! CRM presets (`format.preset`) through the handler: each preset's header
//! equals the column names its CRM documents (`tests/data/crm/*.json`,
//! copied by hand from the pages named there); one row of each, with the
//! name split, the first email and phone, and Salesforce's required
//! columns; the formula guard, the CSV options and XLSX with a preset; the
//! refusals.

use crate::support;

use std::io::Cursor;
use std::sync::Arc;

use calamine::{Data, Reader, Xlsx};
use lead_export::deliver::memory::MemoryObjects;
use lead_export::fields::Field;
use lead_export::http::handle;
use lead_export::model::{Company, Lead};
use lead_export::store::MemoryStore;
use serde_json::{json, Value};
use support::*;

/// Three leads: a full one with two emails and phones, one whose whole name
/// is stored as the last name with a particle, one with nothing but an id
/// and a formula in its email.
fn leads() -> Vec<Lead> {
    vec![
        Lead {
            id: "crm-1".into(),
            first_name: "Jane".into(),
            last_name: "Smith".into(),
            emails: Some(vec!["jane@acme.example".into(), "js@home.example".into()]),
            phones: Some(vec!["+1-555-0100".into(), "+1-555-0199".into()]),
            job_title: Some("VP of Sales".into()),
            city: Some("Austin".into()),
            postal_code: Some("78701".into()),
            country: Some("United States".into()),
            industry: Some("Software".into()),
            skills: Some(vec!["Negotiation".into()]),
            company: Some(Company {
                name: Some("Acme, Inc.".into()),
                domain: Some("acme.example".into()),
                ..Company::default()
            }),
            ..Lead::default()
        },
        Lead {
            id: "crm-2".into(),
            first_name: "".into(),
            last_name: "Jan  van der Berg".into(),
            emails: Some(vec!["".into(), "jan@berg.example".into()]),
            ..Lead::default()
        },
        Lead {
            id: "crm-3".into(),
            emails: Some(vec!["=HYPERLINK(\"http://x.example\")".into()]),
            ..Lead::default()
        },
    ]
}

fn app() -> lead_export::app::App {
    let store = MemoryStore::new();
    store.insert(ORG_A, leads());
    app_with(
        &config(&[]),
        Arc::new(store),
        Arc::new(MemoryObjects::new()),
    )
}

fn all_fields() -> Vec<&'static str> {
    Field::ALL.iter().map(|f| f.id()).collect()
}

fn body(preset: &str, fields: &[&str], format: Value) -> Value {
    let mut format = format;
    format["preset"] = json!(preset);
    json!({
        "selection": {"mode": "manual", "includedIds": ["crm-1", "crm-2", "crm-3"]},
        "exportFields": fields,
        "format": format,
    })
}

async fn csv(preset: &str, fields: &[&str], format: Value) -> Vec<Vec<String>> {
    let resp = handle(&app(), post_as(ORG_A, &body(preset, fields, format))).await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        String::from_utf8_lossy(&body_bytes(&resp))
    );
    csv_rows(&body_bytes(&resp))
}

/// The documented columns of a preset, from `tests/data/crm/<preset>.json`.
fn documented(preset: &str) -> Vec<String> {
    let path = format!(
        "{}/tests/data/crm/{preset}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let data: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(data["preset"], preset);
    data["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn each_presets_header_is_its_crms_documented_columns() {
    for preset in ["hubspot", "salesforce", "pipedrive"] {
        let rows = csv(preset, &all_fields(), json!({})).await;
        assert_eq!(rows[0], documented(preset), "{preset}");
        assert_eq!(rows.len(), 4, "{preset}: the header and three rows");
    }
}

#[tokio::test]
async fn one_row_of_each_preset() {
    let fields = [
        "name",
        "emails",
        "phones",
        "jobTitle",
        "companyName",
        "city",
        "country",
    ];
    let rows = csv("hubspot", &fields, json!({})).await;
    assert_eq!(
        rows[0],
        [
            "First Name",
            "Last Name",
            "Email",
            "Phone Number",
            "Job Title",
            "Company Name",
            "City",
            "Country/Region"
        ]
    );
    assert_eq!(
        rows[1],
        [
            "Jane",
            "Smith",
            "jane@acme.example",
            "+1-555-0100",
            "VP of Sales",
            "Acme, Inc.",
            "Austin",
            "United States"
        ]
    );
    // The whole name stored in one part: the last word and its particles
    // are the last name; the first non-empty email.
    assert_eq!(rows[2][..3], ["Jan", "van der Berg", "jan@berg.example"]);

    let rows = csv("salesforce", &fields, json!({})).await;
    assert_eq!(
        rows[0],
        [
            "First Name",
            "Last Name",
            "Email",
            "Phone",
            "Title",
            "Company",
            "City",
            "Country"
        ]
    );
    assert_eq!(
        rows[1],
        [
            "Jane",
            "Smith",
            "jane@acme.example",
            "+1-555-0100",
            "VP of Sales",
            "Acme, Inc.",
            "Austin",
            "United States"
        ]
    );
    // Last Name and Company are required by Salesforce.
    assert_eq!(rows[3][1], "[not provided]");
    assert_eq!(rows[3][5], "[not provided]");
    assert_eq!(rows[2][5], "[not provided]");

    let rows = csv("pipedrive", &fields, json!({})).await;
    assert_eq!(
        rows[0],
        [
            "Person - Name",
            "Person - Email",
            "Person - Phone",
            "Organization - Name"
        ]
    );
    assert_eq!(
        rows[1],
        [
            "Jane Smith",
            "jane@acme.example",
            "+1-555-0100",
            "Acme, Inc."
        ]
    );
    assert_eq!(rows[2], ["Jan  van der Berg", "jan@berg.example", "", ""]);
}

#[tokio::test]
async fn the_formula_guard_and_the_csv_options_apply_with_a_preset() {
    let rows = csv("hubspot", &["emails"], json!({})).await;
    assert_eq!(rows[3], ["'=HYPERLINK(\"http://x.example\")"]);
    let rows = csv("hubspot", &["emails"], json!({"escapeFormulas": false})).await;
    assert_eq!(rows[3], ["=HYPERLINK(\"http://x.example\")"]);

    let format = json!({"delimiter": ";", "lineEnding": "\n", "bom": true});
    let resp = handle(
        &app(),
        post_as(ORG_A, &body("salesforce", &["name", "companyName"], format)),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let bytes = body_bytes(&resp);
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(
        text,
        "\u{feff}First Name;Last Name;Company\nJane;Smith;Acme, Inc.\nJan;van der Berg;[not provided]\n;[not provided];[not provided]\n"
    );
}

#[tokio::test]
async fn xlsx_with_a_preset_has_the_crms_header_and_cells() {
    let mut b = body(
        "pipedrive",
        &["companyName", "name", "emails"],
        json!({"type": "xlsx"}),
    );
    b["selection"]["includedIds"] = json!(["crm-1", "crm-3"]);
    let resp = handle(&app(), post_as(ORG_A, &b)).await;
    assert_eq!(resp.status(), 200);
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(body_bytes(&resp))).unwrap();
    let name = book.sheet_names()[0].clone();
    let range = book.worksheet_range(&name).unwrap();
    let rows: Vec<Vec<String>> = range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::String(s) => s.clone(),
                    Data::Empty => String::new(),
                    other => panic!("a text cell, got {other:?}"),
                })
                .collect()
        })
        .collect();
    assert_eq!(
        rows,
        [
            vec!["Organization - Name", "Person - Name", "Person - Email"],
            vec!["Acme, Inc.", "Jane Smith", "jane@acme.example"],
            // A workbook cell is text, never a formula: no guard.
            vec!["", "", "=HYPERLINK(\"http://x.example\")"],
        ]
    );
}

#[tokio::test]
async fn an_unknown_preset_or_one_without_columns_is_refused_naming_it() {
    let cases = [
        (
            body("zoho", &["name"], json!({})),
            "format.preset: expected one of \"hubspot\", \"salesforce\", \"pipedrive\"; got \"zoho\"",
        ),
        (
            body("pipedrive", &["skills", "seniority"], json!({})),
            "format.preset: \"pipedrive\" has no column for any of the exported fields",
        ),
    ];
    for (body, message) in cases {
        let resp = handle(&app(), post_as(ORG_A, &body)).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(
            body_json(&resp),
            json!({"error": {"code": "VALIDATION_ERROR", "message": message}})
        );
    }
    let mut null = body("hubspot", &["name"], json!({}));
    null["format"]["preset"] = Value::Null;
    let resp = handle(&app(), post_as(ORG_A, &null)).await;
    assert_eq!(
        resp.status(),
        400,
        "null is refused as for every format key"
    );
}
