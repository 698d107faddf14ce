//! The CSV options of `format` (`bom`, `delimiter`, `lineEnding`, with the
//! formula guard) over the golden leads (`tests/data/golden/leads.json`):
//! every combination equals its golden file and, read back by a strict
//! reader, the golden cells; the defaults write today's bytes; the options
//! reach the file in every delivery (inline, gzip, 303 to S3, JSON link).

use crate::support;

use std::io::Read;
use std::sync::Arc;

use crate::golden::{assert_golden, golden, golden_leads, Dialect};
use lambda_http::Body;
use lead_export::csv_export::{to_csv, BOM};
use lead_export::deliver::memory::MemoryObjects;
use lead_export::fields::{Field, FieldList};
use lead_export::http::handle;
use lead_export::model::Lead;
use lead_export::request::{CsvFormat, Delimiter, LineEnding};
use lead_export::store::MemoryStore;
use serde_json::{json, Value};
use support::*;

fn all_fields() -> FieldList {
    FieldList::from_ids(Field::ALL.iter().map(|f| f.id())).unwrap()
}

/// The `CsvFormat` of a golden file's dialect.
fn csv_format(d: &Dialect) -> CsvFormat {
    CsvFormat {
        escape_formulas: d.escape,
        bom: d.bom,
        delimiter: match d.delimiter {
            "," => Delimiter::Comma,
            ";" => Delimiter::Semicolon,
            _ => Delimiter::Tab,
        },
        line_ending: if d.line_ending == "\n" {
            LineEnding::Lf
        } else {
            LineEnding::CrLf
        },
    }
}

/// The header and the cells of the golden leads, guarded when `escape`:
/// the golden file of the default dialect read by the `csv` crate's
/// reader (the file was checked against the contract by an independent
/// reader, `tests/data/golden/check.py`).
fn golden_rows(escape: bool) -> Vec<Vec<String>> {
    let name = Dialect {
        escape,
        ..Dialect::DEFAULT
    }
    .file();
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&golden(&name)[..])
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// The rows a strict reader of `format`'s dialect reads from `bytes`; also
/// checks the BOM and that every record ends with exactly the line ending
/// (no other CR or LF outside quotes).
fn read_strict(bytes: &[u8], format: &CsvFormat) -> Vec<Vec<String>> {
    let body = if format.bom {
        assert!(bytes.starts_with(BOM), "{format:?}: no BOM");
        &bytes[BOM.len()..]
    } else {
        assert!(
            !bytes.starts_with(BOM),
            "{format:?}: a BOM nobody asked for"
        );
        bytes
    };
    let ending: &[u8] = match format.line_ending {
        LineEnding::CrLf => b"\r\n",
        LineEnding::Lf => b"\n",
    };
    // Line ends outside quoted fields are exactly `ending`.
    let mut quoted = false;
    let mut i = 0;
    let mut records = 0;
    while i < body.len() {
        match body[i] {
            b'"' => quoted = !quoted,
            b'\r' | b'\n' if !quoted => {
                assert!(
                    body[i..].starts_with(ending),
                    "{format:?}: a bare line break at byte {i}"
                );
                i += ending.len();
                records += 1;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    assert!(!quoted, "{format:?}: an unterminated quote");
    assert!(body.ends_with(ending), "{format:?}: no final line ending");
    let terminator = match format.line_ending {
        LineEnding::CrLf => csv::Terminator::CRLF,
        LineEnding::Lf => csv::Terminator::Any(b'\n'),
    };
    let rows: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .delimiter(format.delimiter.byte())
        .terminator(terminator)
        .from_reader(body)
        .records()
        .map(|r| {
            r.unwrap_or_else(|e| panic!("{format:?}: {e}"))
                .iter()
                .map(str::to_string)
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), records, "{format:?}: records vs line ends");
    rows
}

#[test]
fn every_combination_reads_back_cell_for_cell() {
    let leads = golden_leads();
    let fields = all_fields();
    let dialects = Dialect::all();
    assert_eq!(dialects.len(), 24);
    for dialect in &dialects {
        let format = csv_format(dialect);
        let bytes = to_csv(&fields, &leads, &format);
        assert_golden(&bytes, &dialect.file());
        let rows = read_strict(&bytes, &format);
        assert_eq!(rows.len(), leads.len() + 1);
        assert_eq!(rows, golden_rows(dialect.escape), "{format:?}");
    }
}

/// The writer as it was before the options (`,`, CRLF, quoting where
/// needed, no BOM) over the golden cells of the columns `keep`.
fn todays_csv(keep: &[usize]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    for row in golden_rows(true) {
        w.write_record(keep.iter().map(|&i| &row[i])).unwrap();
    }
    w.into_inner().unwrap()
}

#[test]
fn the_defaults_write_todays_bytes() {
    let leads = golden_leads();
    assert_golden(
        &to_csv(&all_fields(), &leads, &CsvFormat::default()),
        &Dialect::DEFAULT.file(),
    );
    assert_eq!(
        to_csv(&all_fields(), &leads, &CsvFormat::default()),
        todays_csv(&(0..27).collect::<Vec<_>>())
    );
    // The 8 default columns: their places among the 27 in the reference.
    let spec: Value = serde_json::from_str(include_str!("../data/spec_fields.json")).unwrap();
    let defaults: Vec<usize> = spec["fields"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, f)| f["default"] == true)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(defaults.len(), 8);
    assert_eq!(
        to_csv(&FieldList::defaults(), &leads, &CsvFormat::default()),
        todays_csv(&defaults)
    );
    // The same literal bytes the reference dialect gives (pinned).
    let lead = Lead {
        id: "1".into(),
        first_name: "Jane".into(),
        last_name: "O\"Neil".into(),
        city: Some("a;b".into()),
        job_title: Some("=1+1".into()),
        ..Lead::default()
    };
    let fields = FieldList::from_ids(["name", "city", "jobTitle"]).unwrap();
    assert_eq!(
        to_csv(&fields, std::slice::from_ref(&lead), &CsvFormat::default()),
        b"Name,City,Job Title\r\n\"Jane O\"\"Neil\",a;b,'=1+1\r\n"
    );
    let semi_lf_bom = CsvFormat {
        bom: true,
        delimiter: Delimiter::Semicolon,
        line_ending: LineEnding::Lf,
        ..CsvFormat::default()
    };
    assert_eq!(
        to_csv(&fields, &[lead], &semi_lf_bom),
        "\u{feff}Name;City;Job Title\n\"Jane O\"\"Neil\";\"a;b\";'=1+1\n".as_bytes()
    );
}

fn store() -> Arc<MemoryStore> {
    let store = MemoryStore::new();
    store.insert(ORG_A, golden_leads());
    store.insert(
        ORG_B,
        [Lead {
            id: "golden-quotes".into(),
            first_name: "Other".into(),
            last_name: "Org".into(),
            ..Lead::default()
        }],
    );
    Arc::new(store)
}

#[derive(Clone, Copy, Debug)]
enum Delivery {
    Inline,
    Gzip,
    S3Redirect,
    S3Link,
}

/// The file the handler delivers the `how` way for `format`.
async fn delivered(how: Delivery, format: Value) -> Vec<u8> {
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
    let ids: Vec<String> = golden_leads().into_iter().map(|l| l.id).collect();
    let body = json!({"selection": {"mode": "manual", "includedIds": ids},
        "exportFields": Field::ALL.iter().map(|f| f.id()).collect::<Vec<_>>(),
        "format": format});
    let mut req = post_as(ORG_A, &body);
    match how {
        Delivery::Gzip => {
            req.headers_mut()
                .insert("accept-encoding", "gzip".parse().unwrap());
        }
        Delivery::S3Link => {
            req.headers_mut()
                .insert("accept", "application/json".parse().unwrap());
        }
        _ => {}
    }
    let resp = handle(&app, req).await;
    let status = if matches!(how, Delivery::S3Redirect) {
        303
    } else {
        200
    };
    assert_eq!(resp.status(), status, "{how:?}: {:?}", resp.body());
    assert_eq!(header(&resp, "x-export-count"), "7");
    match how {
        Delivery::Inline => {
            assert!(matches!(resp.body(), Body::Text(_)));
            assert_eq!(header(&resp, "content-type"), "text/csv; charset=utf-8");
            body_bytes(&resp)
        }
        Delivery::Gzip => {
            let mut csv = Vec::new();
            flate2::read::GzDecoder::new(&body_bytes(&resp)[..])
                .read_to_end(&mut csv)
                .unwrap();
            csv
        }
        Delivery::S3Redirect | Delivery::S3Link => {
            let keys = objects.keys();
            assert_eq!(keys.len(), 1);
            assert!(keys[0].ends_with(".csv"), "{}", keys[0]);
            let (meta, bytes) = objects.get(&keys[0]).unwrap();
            assert_eq!(meta.content_type, "text/csv; charset=utf-8");
            bytes
        }
    }
}

#[tokio::test]
async fn the_options_reach_the_file_in_every_delivery() {
    let cases = [
        (json!({}), Dialect::DEFAULT),
        (
            json!({"bom": true, "delimiter": ";", "lineEnding": "\n"}),
            Dialect {
                bom: true,
                delimiter: ";",
                line_ending: "\n",
                ..Dialect::DEFAULT
            },
        ),
        (
            json!({"type": "csv", "delimiter": "\t", "escapeFormulas": false}),
            Dialect {
                delimiter: "\t",
                escape: false,
                ..Dialect::DEFAULT
            },
        ),
    ];
    for how in [
        Delivery::Inline,
        Delivery::Gzip,
        Delivery::S3Redirect,
        Delivery::S3Link,
    ] {
        for (body, dialect) in &cases {
            let bytes = delivered(how, body.clone()).await;
            assert_golden(&bytes, &dialect.file());
            let rows = read_strict(&bytes, &csv_format(dialect));
            assert_eq!(rows, golden_rows(dialect.escape), "{how:?} {body}");
        }
    }
}

#[tokio::test]
async fn bad_options_are_400s_naming_them() {
    let app = app_with(&config(&[]), store(), Arc::new(MemoryObjects::new()));
    let cases = [
        (
            json!({"delimiter": "|"}),
            r#"format.delimiter: expected one of ",", ";", "\t"; got "|""#.to_string(),
        ),
        (
            json!({"lineEnding": "\r"}),
            r#"format.lineEnding: expected one of "\r\n", "\n"; got "\r""#.into(),
        ),
        (
            json!({"bom": "true"}),
            "format.bom: expected true or false".into(),
        ),
        (
            json!({"type": "pdf"}),
            r#"format.type: expected one of "csv", "xlsx"; got "pdf""#.into(),
        ),
        (json!({"quote": "'"}), "format.quote: unknown key".into()),
        (
            json!({"type": "xlsx", "delimiter": ";"}),
            "format.delimiter: applies to CSV only, and this export is xlsx".into(),
        ),
        (
            json!({"type": "xlsx", "bom": true}),
            "format.bom: applies to CSV only, and this export is xlsx".into(),
        ),
        (
            json!({"type": "xlsx", "lineEnding": "\n"}),
            "format.lineEnding: applies to CSV only, and this export is xlsx".into(),
        ),
    ];
    for (format, message) in cases {
        let body = json!({"selection": {"mode": "manual", "includedIds": ["golden-formulas"]},
            "format": format});
        let resp = handle(&app, post_as(ORG_A, &body)).await;
        assert_eq!(resp.status(), 400, "{format}");
        assert_eq!(
            body_json(&resp),
            json!({"error": {"code": "VALIDATION_ERROR", "message": message}}),
            "{format}"
        );
    }
}
