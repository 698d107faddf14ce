//! Expectations from the spec, not from the code under test: the 27 field
//! ids, labels and 8 defaults of `export-to-csv.md` (copied by hand into
//! `tests/data/spec_fields.json`) against `Field` and against the header row
//! of real exports, and the filename against a date computed independently
//! (civil-from-days, cross-checked with `date -u`).

use crate::support;

use lead_export::demo::demo_leads;
use lead_export::fields::{Field, FieldList};
use lead_export::http::handle;
use serde_json::json;
use support::*;

fn ids_of(fields: &[Field]) -> Vec<&'static str> {
    fields.iter().map(|f| f.id()).collect()
}

#[test]
fn the_fixture_is_the_spec_tables() {
    let (fields, defaults) = spec_fields();
    assert_eq!(fields.len(), 27, "the spec's tables list 27 field ids");
    let flagged: Vec<&str> = fields
        .iter()
        .filter(|(_, _, d)| *d)
        .map(|(id, _, _)| id.as_str())
        .collect();
    assert_eq!(defaults.len(), 8);
    let mut sorted_defaults = defaults.clone();
    sorted_defaults.sort();
    let mut sorted_flagged: Vec<String> = flagged.iter().map(|s| s.to_string()).collect();
    sorted_flagged.sort();
    assert_eq!(sorted_defaults, sorted_flagged);
}

#[test]
fn field_ids_labels_and_order_are_the_specs() {
    let (fields, _) = spec_fields();
    let ids: Vec<&str> = fields.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids_of(Field::ALL), ids);
    for (id, label, _) in &fields {
        let field = Field::from_id(id).unwrap_or_else(|| panic!("{id}: not a known field id"));
        assert_eq!(field.label(), label, "label of {id}");
    }
}

#[test]
fn defaults_are_the_specs_in_the_specs_order() {
    let (_, defaults) = spec_fields();
    assert_eq!(ids_of(Field::DEFAULTS), defaults);
    assert_eq!(ids_of(FieldList::defaults().fields()), defaults);
}

/// The header row, count and filename of a manual export of 5 demo leads.
async fn export(fields: Option<Vec<&str>>) -> (Vec<String>, usize, String) {
    let (app, _) = demo_app();
    let ids: Vec<String> = demo_leads(1, 3000)[..5]
        .iter()
        .map(|l| l.id.clone())
        .collect();
    let mut body = json!({"selection": {"mode": "manual", "includedIds": ids}});
    if let Some(fields) = fields {
        body["exportFields"] = json!(fields);
    }
    let resp = handle(&app, post_as(ORG_A, &body)).await;
    assert_eq!(resp.status(), 200);
    let rows = csv_rows(&body_bytes(&resp));
    (
        rows[0].clone(),
        rows.len() - 1,
        header(&resp, "content-disposition").to_string(),
    )
}

#[tokio::test]
async fn an_export_of_every_field_has_the_specs_labels() {
    let (fields, _) = spec_fields();
    let ids: Vec<&str> = fields.iter().map(|(id, _, _)| id.as_str()).collect();
    let labels: Vec<&str> = fields.iter().map(|(_, l, _)| l.as_str()).collect();
    let (header_row, rows, _) = export(Some(ids.clone())).await;
    assert_eq!(header_row, labels);
    assert_eq!(rows, 5);
    // In the order asked for, here reversed.
    let (header_row, _, _) = export(Some(ids.iter().rev().copied().collect())).await;
    let reversed: Vec<&str> = labels.iter().rev().copied().collect();
    assert_eq!(header_row, reversed);
}

#[tokio::test]
async fn an_export_without_fields_has_the_specs_default_columns() {
    let (fields, defaults) = spec_fields();
    let label = |id: &str| {
        fields
            .iter()
            .find(|(i, _, _)| i == id)
            .map(|(_, l, _)| l.clone())
            .unwrap()
    };
    let expected: Vec<String> = defaults.iter().map(|d| label(d)).collect();
    assert_eq!(export(None).await.0, expected);
    assert_eq!(export(Some(vec![])).await.0, expected);
}

#[tokio::test]
async fn the_filename_is_todays_utc_date() {
    let before = unix_now();
    let (_, _, disposition) = export(None).await;
    let after = unix_now();
    // Either side of a midnight that falls during the export.
    let expected: Vec<String> = [before, after]
        .iter()
        .map(|t| format!("attachment; filename=\"{}\"", spec_filename(*t)))
        .collect();
    assert!(
        expected.contains(&disposition),
        "{disposition} is not one of {expected:?}"
    );
}

#[test]
fn civil_from_days_gives_the_dates_gnu_date_gives() {
    // Written down from `date -u -d @SECONDS +%F`.
    for (seconds, date) in [
        (0, "1970-01-01"),
        (-86_400, "1969-12-31"),
        (951_782_400, "2000-02-29"),
        (951_868_799, "2000-02-29"),
        (1_709_164_800, "2024-02-29"),
        (1_767_571_200, "2026-01-05"),
        (4_102_444_800, "2100-01-01"),
    ] {
        assert_eq!(
            spec_filename(seconds),
            format!("lance-prospects-{date}.csv"),
            "{seconds}"
        );
    }
    // And today's, where `date` is there to ask.
    if let Ok(out) = std::process::Command::new("date")
        .args(["-u", "+%F"])
        .output()
    {
        let now = unix_now();
        let today = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let candidates = [spec_filename(now - 5), spec_filename(now)];
        assert!(
            candidates.contains(&format!("lance-prospects-{today}.csv")),
            "date -u says {today}, computed {candidates:?}"
        );
    }
}
