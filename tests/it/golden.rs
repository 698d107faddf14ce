//! Golden files: the exports of the literal lead documents of
//! `tests/data/golden/leads.json` (quotes, CR/LF, commas, formula starts,
//! tab- and CR-leading cells, accents and other non-ASCII, 20-digit ids,
//! empty and absent fields) through the handler, against files committed
//! under `tests/data/golden/`: every CSV dialect (`delimiter` × `lineEnding`
//! × `bom` × `escapeFormulas`) byte for byte, the gzip body byte for byte,
//! the JSON link's body (its URL and expiry checked against patterns) and
//! the object behind it, the 303's object, and the XLSX workbook cell by
//! cell (read with calamine).
//!
//! The golden files were written once and checked by readers independent
//! of this crate (docs/testing.md says how); a test never writes them.
//! When an output changes on purpose, write the new file by hand (or from
//! a response), check it the same way, and commit it.

use crate::support;

use std::io::Read;
use std::sync::Arc;

use calamine::{Data, Reader, Xlsx};
use lambda_http::{Body, Response};
use lead_export::deliver::memory::MemoryObjects;
use lead_export::http::handle;
use lead_export::model::Lead;
use lead_export::store::MemoryStore;
use serde_json::{json, Value};
use support::*;

/// Where the golden files are.
pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden");

/// A golden file's bytes.
pub fn golden(name: &str) -> Vec<u8> {
    let path = format!("{DIR}/{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The lead documents of `leads.json`, in order.
pub fn golden_leads() -> Vec<Lead> {
    serde_json::from_slice(&golden("leads.json")).expect("leads.json holds lead documents")
}

/// The 27 field ids in the reference's order, from the hand-copied
/// `tests/data/spec_fields.json` (not from `Field::ALL`).
pub fn all_field_ids() -> Vec<String> {
    let spec: Value = serde_json::from_str(include_str!("../data/spec_fields.json")).unwrap();
    spec["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

/// The CSV options of one golden file and its name under `csv/`.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// `format.delimiter`.
    pub delimiter: &'static str,
    /// `format.lineEnding`.
    pub line_ending: &'static str,
    /// `format.bom`.
    pub bom: bool,
    /// `format.escapeFormulas`.
    pub escape: bool,
}

impl Dialect {
    /// The defaults: `,`, CRLF, no BOM, guarded.
    pub const DEFAULT: Dialect = Dialect {
        delimiter: ",",
        line_ending: "\r\n",
        bom: false,
        escape: true,
    };

    /// All 24 combinations.
    pub fn all() -> Vec<Dialect> {
        let mut out = Vec::new();
        for delimiter in [",", ";", "\t"] {
            for line_ending in ["\r\n", "\n"] {
                for bom in [false, true] {
                    for escape in [true, false] {
                        out.push(Dialect {
                            delimiter,
                            line_ending,
                            bom,
                            escape,
                        });
                    }
                }
            }
        }
        out
    }

    /// The `format` object of the request.
    pub fn format(&self) -> Value {
        json!({"delimiter": self.delimiter, "lineEnding": self.line_ending,
            "bom": self.bom, "escapeFormulas": self.escape})
    }

    /// `csv/comma-crlf-guarded.csv`, `csv/tab-lf-bom-raw.csv`, ...
    pub fn file(&self) -> String {
        let delimiter = match self.delimiter {
            "," => "comma",
            ";" => "semicolon",
            _ => "tab",
        };
        let line = if self.line_ending == "\n" {
            "lf"
        } else {
            "crlf"
        };
        let bom = if self.bom { "-bom" } else { "" };
        let guard = if self.escape { "guarded" } else { "raw" };
        format!("csv/{delimiter}-{line}{bom}-{guard}.csv")
    }
}

fn store() -> Arc<MemoryStore> {
    let store = MemoryStore::new();
    store.insert(ORG_A, golden_leads());
    // Another organization holding one of the same ids: never exported.
    store.insert(
        ORG_B,
        [Lead {
            id: "golden-quotes".into(),
            first_name: "Other".into(),
            last_name: "Organization".into(),
            ..Lead::default()
        }],
    );
    Arc::new(store)
}

/// The request of every golden export: the golden leads by id, in the
/// file's order (with an unknown id), every field, `format`.
fn request(format: Value) -> Value {
    let mut ids: Vec<String> = golden_leads().into_iter().map(|l| l.id).collect();
    ids.insert(2, "not-a-lead".into());
    json!({"selection": {"mode": "manual", "includedIds": ids},
        "exportFields": all_field_ids(), "format": format})
}

/// The response to the golden request, with `headers`, and the objects
/// stored; `inline_max` bytes at most inline.
async fn export(
    format: Value,
    headers: &[(&'static str, &str)],
    inline_max: usize,
) -> (Response<Body>, Arc<MemoryObjects>) {
    let objects = Arc::new(MemoryObjects::new());
    let app = app_with(
        &config(&[("INLINE_MAX_BYTES", &inline_max.to_string())]),
        store(),
        objects.clone(),
    );
    let mut req = post_as(ORG_A, &request(format));
    for (k, v) in headers {
        req.headers_mut().insert(*k, v.parse().unwrap());
    }
    (handle(&app, req).await, objects)
}

/// `lance-prospects-YYYY-MM-DD.<ext>`: the date is today's, so only its
/// shape is checked here (tests/it/spec.rs checks the date itself).
fn assert_file_name(name: &str, ext: &str) {
    let rest = name
        .strip_prefix("lance-prospects-")
        .and_then(|r| r.strip_suffix(&format!(".{ext}")))
        .unwrap_or_else(|| panic!("file name {name:?}"));
    let b = rest.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.clone().all(|i| b[i].is_ascii_digit());
    assert!(
        b.len() == 10
            && digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10),
        "file name {name:?}"
    );
}

fn assert_disposition(resp: &Response<Body>, ext: &str) {
    let d = header(resp, "content-disposition");
    let name = d
        .strip_prefix("attachment; filename=\"")
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or_else(|| panic!("Content-Disposition {d:?}"));
    assert_file_name(name, ext);
}

/// Where two byte strings first differ, for a readable failure.
fn first_difference(got: &[u8], want: &[u8]) -> String {
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let show = |b: &[u8]| {
        String::from_utf8_lossy(&b[at.saturating_sub(20)..(at + 40).min(b.len())]).into_owned()
    };
    format!(
        "lengths {} and {}; first difference at byte {at}: got {:?}, golden {:?}",
        got.len(),
        want.len(),
        show(got),
        show(want)
    )
}

/// `got` equals the golden file `name`, byte for byte.
pub fn assert_golden(got: &[u8], name: &str) {
    let want = golden(name);
    assert!(got == want, "{name}: {}", first_difference(got, &want));
}

#[tokio::test]
async fn every_csv_dialect_equals_its_golden_file() {
    for dialect in Dialect::all() {
        let (resp, objects) = export(dialect.format(), &[], 1_000_000).await;
        assert_eq!(resp.status(), 200, "{dialect:?}");
        assert_eq!(header(&resp, "content-type"), "text/csv; charset=utf-8");
        assert_eq!(header(&resp, "x-export-count"), "7");
        assert_disposition(&resp, "csv");
        assert!(matches!(resp.body(), Body::Text(_)), "{dialect:?}");
        assert_golden(&body_bytes(&resp), &dialect.file());
        assert!(objects.keys().is_empty());
    }
}

#[tokio::test]
async fn the_gzip_body_equals_its_golden_file() {
    for (dialect, name) in [
        (Dialect::DEFAULT, "gzip/comma-crlf-guarded.csv.gz"),
        (
            Dialect {
                delimiter: ";",
                line_ending: "\n",
                bom: true,
                escape: false,
            },
            "gzip/semicolon-lf-bom-raw.csv.gz",
        ),
    ] {
        let (resp, _) = export(dialect.format(), &[("accept-encoding", "gzip")], 1_000_000).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "content-encoding"), "gzip");
        assert_disposition(&resp, "csv");
        let body = body_bytes(&resp);
        assert_golden(&body, name);
        // And it is the plain golden file, compressed.
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_golden(&plain, &dialect.file());
    }
}

/// The JSON link's body with its URL and expiry replaced by `<url>` and
/// `<expiresAt>` once they are checked against their patterns.
fn masked_link(body: &[u8], objects: &MemoryObjects, ext: &str) -> String {
    let text = String::from_utf8(body.to_vec()).unwrap();
    let link: Value = serde_json::from_str(&text).unwrap();
    let url = link["url"].as_str().unwrap();
    let key = &objects.keys()[0];
    assert!(url.contains(key.as_str()), "{url} names {key}");
    let expires = link["expiresAt"].as_str().unwrap();
    let b = expires.as_bytes();
    assert!(
        b.len() == 20 && b[4] == b'-' && b[10] == b'T' && b[19] == b'Z',
        "expiresAt {expires:?} is not RFC 3339 UTC"
    );
    assert_file_name(link["filename"].as_str().unwrap(), ext);
    let filename = link["filename"].as_str().unwrap();
    text.replacen(&serde_json::to_string(url).unwrap(), "\"<url>\"", 1)
        .replacen(&format!("\"{expires}\""), "\"<expiresAt>\"", 1)
        .replacen(
            &format!("\"{filename}\""),
            &format!("\"lance-prospects-<date>.{ext}\""),
            1,
        )
}

#[tokio::test]
async fn the_json_link_and_the_303_serve_the_golden_file() {
    for dialect in [
        Dialect::DEFAULT,
        Dialect {
            delimiter: "\t",
            line_ending: "\r\n",
            bom: true,
            escape: false,
        },
    ] {
        let (resp, objects) = export(
            dialect.format(),
            &[("accept", "application/json")],
            1_000_000,
        )
        .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(header(&resp, "content-type"), "application/json");
        let masked = masked_link(&body_bytes(&resp), &objects, "csv");
        assert_golden(masked.as_bytes(), "link.json");
        let (meta, bytes) = objects.get(&objects.keys()[0]).unwrap();
        assert_eq!(meta.content_type, "text/csv; charset=utf-8");
        assert_golden(&bytes, &dialect.file());

        let (resp, objects) = export(dialect.format(), &[], 100).await;
        assert_eq!(resp.status(), 303);
        assert_eq!(header(&resp, "x-export-count"), "7");
        let (_, bytes) = objects.get(&objects.keys()[0]).unwrap();
        assert_golden(&bytes, &dialect.file());
    }
}

/// The first sheet's cells, row by row.
pub fn sheet_cells(bytes: &[u8]) -> Vec<Vec<Data>> {
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let name = book.sheet_names()[0].clone();
    let range = book.worksheet_range(&name).unwrap();
    range.rows().map(|r| r.to_vec()).collect()
}

/// `xlsx` holds the cells of the golden workbook `name`: same rows, same
/// cells, same cell types.
pub fn assert_golden_workbook(xlsx: &[u8], name: &str) {
    let got = sheet_cells(xlsx);
    let want = sheet_cells(&golden(name));
    assert_eq!(got.len(), want.len(), "{name}: rows");
    for (r, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.len(), w.len(), "{name}: row {r} has {} cells", g.len());
        for (c, (gc, wc)) in g.iter().zip(w).enumerate() {
            assert_eq!(gc, wc, "{name}: row {r}, column {c}");
        }
    }
}

#[tokio::test]
async fn the_xlsx_workbook_equals_the_golden_one_cell_by_cell() {
    for escape in [true, false] {
        let (resp, _) = export(
            json!({"type": "xlsx", "escapeFormulas": escape}),
            &[],
            1_000_000,
        )
        .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            header(&resp, "content-type"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        assert_eq!(header(&resp, "x-export-count"), "7");
        assert_disposition(&resp, "xlsx");
        assert!(matches!(resp.body(), Body::Binary(_)));
        assert_golden_workbook(&body_bytes(&resp), "export.xlsx");
    }
    // Through S3 too.
    let (resp, objects) = export(
        json!({"type": "xlsx"}),
        &[("accept", "application/json")],
        1_000_000,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let masked = masked_link(&body_bytes(&resp), &objects, "xlsx");
    assert_eq!(
        masked,
        String::from_utf8(golden("link.json"))
            .unwrap()
            .replace(".csv", ".xlsx")
    );
    let (_, bytes) = objects.get(&objects.keys()[0]).unwrap();
    assert_golden_workbook(&bytes, "export.xlsx");
}
