//! XLSX exports, read back with calamine (values) and by the XML in the zip
//! (bold, frozen header, autofilter, widths, no formula): every cell of the
//! golden leads' workbook equals the golden workbook's
//! (`tests/data/golden/export.xlsx`, checked against the contract by
//! independent readers: the values as stored, never a formula), string
//! cells but the founded year, and values a spreadsheet would convert stay
//! text. Through the handler:
//! `format.type`, `Accept`, inline (binary body), 303 to S3, JSON link.

use crate::support;

use std::io::{Cursor, Read};
use std::sync::Arc;

use crate::golden::{all_field_ids, golden, golden_leads, sheet_cells};
use calamine::{Data, Reader, Xlsx};
use lambda_http::Body;
use lead_export::deliver::memory::MemoryObjects;
use lead_export::demo::demo_leads;
use lead_export::fields::{Field, FieldList};
use lead_export::http::handle;
use lead_export::model::{Company, Lead, Text};
use lead_export::store::MemoryStore;
/// A deadline no test here reaches.
fn later() -> lead_export::deadline::Deadline {
    lead_export::deadline::Deadline::after(std::time::Duration::from_secs(600))
}

use lead_export::xlsx::{to_xlsx, MAX_COLUMN_WIDTH, SHEET_NAME, XLSX_CONTENT_TYPE};
use serde_json::{json, Value};
use support::*;

/// Text a spreadsheet converts when it reads a CSV, and XML traps.
const CONVERTIBLE: &[&str] = &[
    "02134",
    "2026-01-02",
    "1/2",
    "TRUE",
    "+1-555-0100",
    "=1+1",
    "12345678901234567890",
    "-1.5e3",
    "@SUM(A1)",
    "1,5",
    "50%",
    "_x0041_",
    "a\u{1}b",
    "<b>&amp;</b>",
    "  padded  ",
    "line\nbreak",
    "Zürich 東京 🦀",
];

/// Leads whose cells are the convertible texts (rotated over the fields),
/// and demo leads.
fn leads() -> Vec<Lead> {
    let mut leads: Vec<Lead> = (0..CONVERTIBLE.len())
        .map(|i| {
            let c = |k: usize| Text::from(CONVERTIBLE[(i + k) % CONVERTIBLE.len()]);
            Lead {
                id: format!("conv-{i:02}"),
                first_name: c(0),
                last_name: Default::default(),
                emails: Some(vec![c(1)]),
                phones: Some(vec![c(2), c(3)]),
                job_title: Some(c(4)),
                city: Some(c(5)),
                country: Some(c(6)),
                linkedin_url: Some(c(7)),
                company: Some(Company {
                    name: Some(c(8)),
                    postal_code: Some(c(9)),
                    headcount: Some(c(10)),
                    revenue: Some(c(11)),
                    founded_year: (i % 3 != 0).then_some(1990 + i as i64),
                    ..Company::default()
                }),
                ..Lead::default()
            }
        })
        .collect();
    leads.extend(demo_leads(1, 40));
    leads
}

fn all_fields() -> FieldList {
    FieldList::from_ids(Field::ALL.iter().map(|f| f.id())).unwrap()
}

/// The workbook's one sheet: (its name, its cells by row).
fn sheet(bytes: &[u8]) -> (String, Vec<Vec<Data>>) {
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes.to_vec())).expect("a workbook");
    let names = book.sheet_names();
    assert_eq!(names.len(), 1, "{names:?}");
    let range = book.worksheet_range(&names[0]).unwrap();
    assert_eq!(range.start(), Some((0, 0)), "the sheet starts at A1");
    let rows = range.rows().map(|r| r.to_vec()).collect();
    (names[0].clone(), rows)
}

/// The workbook holds the golden workbook's columns of `fields` (the
/// golden workbook has all 27, in the reference's order), cell by cell,
/// and every cell is a string cell (or empty) but the founded year.
fn assert_golden_columns(xlsx: &[u8], fields: &FieldList) {
    let (name, rows) = sheet(xlsx);
    assert_eq!(name, SHEET_NAME);
    let ids = all_field_ids();
    let columns: Vec<usize> = fields
        .fields()
        .iter()
        .map(|f| ids.iter().position(|id| id == f.id()).unwrap())
        .collect();
    let golden = sheet_cells(&golden("export.xlsx"));
    assert_eq!(rows.len(), golden.len(), "row count");
    for (r, (row, want)) in rows.iter().zip(&golden).enumerate() {
        assert_eq!(row.len(), columns.len(), "row {r} width");
        for ((cell, &c), field) in row.iter().zip(&columns).zip(fields.fields()) {
            assert_eq!(cell, &want[c], "row {r}, {field:?}");
            if *field != Field::CompanyFoundedYear || r == 0 {
                assert!(
                    matches!(cell, Data::String(_) | Data::Empty),
                    "row {r} {field:?}: {cell:?} is not text"
                );
            } else {
                assert!(
                    matches!(cell, Data::Float(_) | Data::Empty),
                    "row {r}: {cell:?}"
                );
            }
        }
    }
}

#[test]
fn every_cell_equals_the_golden_workbook() {
    let leads = golden_leads();
    for fields in [
        all_fields(),
        FieldList::defaults(),
        FieldList::from_ids(["companyFoundedYear", "name"]).unwrap(),
    ] {
        let xlsx = to_xlsx(&fields, &leads, &later()).unwrap();
        assert_golden_columns(&xlsx, &fields);
    }
}

#[test]
fn convertible_values_come_back_as_the_same_text_in_string_cells() {
    let leads: Vec<Lead> = CONVERTIBLE
        .iter()
        .enumerate()
        .map(|(i, text)| Lead {
            id: format!("c{i}"),
            job_title: Some(Text::from(*text)),
            company: Some(Company {
                postal_code: Some(Text::from(*text)),
                founded_year: Some(2015),
                ..Company::default()
            }),
            ..Lead::default()
        })
        .collect();
    let fields =
        FieldList::from_ids(["jobTitle", "companyPostalCode", "companyFoundedYear"]).unwrap();
    let (_, rows) = sheet(&to_xlsx(&fields, &leads, &later()).unwrap());
    assert_eq!(rows.len(), CONVERTIBLE.len() + 1);
    for (row, text) in rows[1..].iter().zip(CONVERTIBLE) {
        assert_eq!(row[0], Data::String(text.to_string()), "{text:?}");
        assert_eq!(row[1], Data::String(text.to_string()), "{text:?}");
        assert_eq!(row[2], Data::Float(2015.0));
    }
}

/// A part of the workbook's zip, as text.
fn part(xlsx: &[u8], name: &str) -> String {
    let mut zip = zip::ZipArchive::new(Cursor::new(xlsx)).unwrap();
    let mut text = String::new();
    zip.by_name(name)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// The `<c ...>` cell elements of `sheet_xml` with their `r` and `s`
/// (style) and `t` (type) attributes.
fn cells(sheet_xml: &str) -> Vec<(String, Option<String>, Option<String>)> {
    sheet_xml
        .split("<c ")
        .skip(1)
        .map(|c| {
            let tag = &c[..c.find('>').unwrap()];
            let attr = |name: &str| {
                let key = format!("{name}=\"");
                tag.find(&key).map(|i| {
                    let rest = &tag[i + key.len()..];
                    rest[..rest.find('"').unwrap()].to_string()
                })
            };
            (attr("r").unwrap(), attr("s"), attr("t"))
        })
        .collect()
}

#[test]
fn header_bold_and_frozen_with_an_autofilter_and_capped_widths() {
    let mut leads = leads();
    leads[0].company.as_mut().unwrap().summary = Some("long ".repeat(100).into());
    let fields = all_fields();
    let xlsx = to_xlsx(&fields, &leads, &later()).unwrap();
    let sheet_xml = part(&xlsx, "xl/worksheets/sheet1.xml");
    // Frozen below row 1.
    assert!(
        sheet_xml.contains(
            r#"<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>"#
        ),
        "{sheet_xml:.2000}"
    );
    // The autofilter spans the header and every row of the 27 columns.
    let last = format!("AA{}", leads.len() + 1);
    assert!(
        sheet_xml.contains(&format!(r#"<autoFilter ref="A1:{last}"/>"#)),
        "{sheet_xml:.2000}"
    );
    // No formula anywhere.
    assert!(!sheet_xml.contains("<f>") && !sheet_xml.contains("<f "));
    // The header's cells carry a style whose font is bold; data cells don't.
    let styles = part(&xlsx, "xl/styles.xml");
    let fonts: Vec<&str> = styles
        .split("<fonts")
        .nth(1)
        .unwrap()
        .split("</fonts>")
        .next()
        .unwrap()
        .split("<font>")
        .skip(1)
        .collect();
    let xfs: Vec<&str> = styles
        .split("<cellXfs")
        .nth(1)
        .unwrap()
        .split("</cellXfs>")
        .next()
        .unwrap()
        .split("<xf ")
        .skip(1)
        .collect();
    let bold = |style: Option<&String>| {
        let xf = xfs[style.map_or(0, |s| s.parse::<usize>().unwrap())];
        let font_id: usize = xf
            .split("fontId=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        fonts[font_id].contains("<b/>")
    };
    let all = cells(&sheet_xml);
    let header: Vec<_> = all
        .iter()
        .filter(|(r, _, _)| {
            r.ends_with('1') && r[..r.len() - 1].chars().all(|c| c.is_ascii_uppercase())
        })
        .collect();
    assert_eq!(header.len(), 27);
    for (r, s, t) in &header {
        assert!(bold(s.as_ref()), "{r} is not bold");
        assert_eq!(t.as_deref(), Some("s"), "{r}");
    }
    let founded_col = "Z"; // the 26th field, companyFoundedYear
    assert_eq!(fields.fields()[25], Field::CompanyFoundedYear);
    for (r, s, t) in all.iter().filter(|c| !header.contains(c)) {
        assert!(!bold(s.as_ref()), "{r} is bold");
        let col: String = r.chars().take_while(|c| c.is_ascii_uppercase()).collect();
        if col == founded_col {
            assert_eq!(t.as_deref(), None, "{r}: the year is a number");
        } else {
            assert_eq!(t.as_deref(), Some("s"), "{r}: a shared string");
        }
    }
    // Widths: one per column, from the longest line, between 8 and 60.
    // (`<col min max width>`: adjacent columns of one width share an element.)
    let attr = |c: &str, name: &str| -> f64 {
        let key = format!(" {name}=\"");
        c.split(key.as_str())
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let widths: Vec<f64> = sheet_xml
        .split("<col ")
        .skip(1)
        .map(|c| format!(" {c}"))
        .flat_map(|c| {
            let (min, max) = (attr(&c, "min") as usize, attr(&c, "max") as usize);
            vec![attr(&c, "width"); max - min + 1]
        })
        .collect();
    assert_eq!(widths.len(), 27, "{sheet_xml:.3000}");
    let max = MAX_COLUMN_WIDTH as f64 + 1.0; // Excel adds its padding
    assert!(widths.iter().all(|w| (8.0..=max).contains(w)), "{widths:?}");
    assert!(
        widths[26] >= MAX_COLUMN_WIDTH as f64,
        "the long summary is capped: {widths:?}"
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

fn request_body(format: Value) -> Value {
    let ids: Vec<String> = golden_leads().into_iter().map(|l| l.id).collect();
    json!({"selection": {"mode": "manual", "includedIds": ids},
        "exportFields": Field::ALL.iter().map(|f| f.id()).collect::<Vec<_>>(),
        "format": format})
}

fn today_xlsx() -> String {
    lead_export::export::naming::file_name(time::OffsetDateTime::now_utc(), "xlsx")
}

#[tokio::test]
async fn inline_by_body_type_or_by_accept() {
    let fields = all_fields();
    let app = app_with(&config(&[]), store(), Arc::new(MemoryObjects::new()));
    let xlsx_accept = [("accept", XLSX_CONTENT_TYPE)];
    let cases: [(Value, &[(&str, &str)]); 5] = [
        (json!({"type": "xlsx"}), &[]),
        (json!({"type": "xlsx", "escapeFormulas": true}), &[]),
        (
            json!({"type": "xlsx", "delimiter": ","}),
            &[("accept-encoding", "gzip")],
        ),
        (json!({}), &xlsx_accept),
        (json!({"type": "xlsx"}), &[("accept", "text/csv")]),
    ];
    for (format, headers) in cases {
        let mut req = post_as(ORG_A, &request_body(format.clone()));
        for (k, v) in headers {
            req.headers_mut().insert(*k, v.parse().unwrap());
        }
        let resp = handle(&app, req).await;
        assert_eq!(resp.status(), 200, "{format}: {:?}", resp.body());
        assert_eq!(header(&resp, "content-type"), XLSX_CONTENT_TYPE);
        assert_eq!(
            header(&resp, "content-disposition"),
            format!("attachment; filename=\"{}\"", today_xlsx())
        );
        assert_eq!(
            header(&resp, "x-export-count"),
            golden_leads().len().to_string()
        );
        assert_eq!(header(&resp, "cache-control"), "no-store");
        assert!(
            resp.headers().get("content-encoding").is_none(),
            "a zip is not gzipped"
        );
        let Body::Binary(bytes) = resp.body() else {
            panic!("{format}: not a binary body");
        };
        assert!(bytes.starts_with(b"PK\x03\x04"), "{format}: not a zip");
        assert_golden_columns(bytes, &fields);
    }
}

#[tokio::test]
async fn the_body_type_wins_over_accept() {
    let app = app_with(&config(&[]), store(), Arc::new(MemoryObjects::new()));
    let mut req = post_as(ORG_A, &request_body(json!({"type": "csv"})));
    req.headers_mut()
        .insert("accept", XLSX_CONTENT_TYPE.parse().unwrap());
    let resp = handle(&app, req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), "text/csv; charset=utf-8");
    // Accept naming both text/csv and xlsx: CSV.
    let mut req = post_as(ORG_A, &request_body(json!({})));
    let both = format!("text/csv, {XLSX_CONTENT_TYPE}");
    req.headers_mut().insert("accept", both.parse().unwrap());
    let resp = handle(&app, req).await;
    assert_eq!(header(&resp, "content-type"), "text/csv; charset=utf-8");
    // Accept xlsx with a CSV-only option: refused, naming it.
    let mut req = post_as(ORG_A, &request_body(json!({"delimiter": ";"})));
    req.headers_mut()
        .insert("accept", XLSX_CONTENT_TYPE.parse().unwrap());
    let resp = handle(&app, req).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        body_json(&resp)["error"]["message"],
        "format.delimiter: applies to CSV only, and this export is xlsx"
    );
}

#[tokio::test]
async fn too_large_inline_goes_to_s3_and_the_json_link_too() {
    let fields = all_fields();
    for json_link in [false, true] {
        let objects = Arc::new(MemoryObjects::new());
        let limit = if json_link { "1000000" } else { "2000" };
        let app = app_with(
            &config(&[("INLINE_MAX_BYTES", limit)]),
            store(),
            objects.clone(),
        );
        let mut req = post_as(ORG_A, &request_body(json!({"type": "xlsx"})));
        if json_link {
            req.headers_mut()
                .insert("accept", "application/json".parse().unwrap());
        }
        let resp = handle(&app, req).await;
        assert_eq!(resp.status(), if json_link { 200 } else { 303 });
        let link = body_json(&resp);
        assert_eq!(link["filename"], today_xlsx());
        assert_eq!(link["count"], golden_leads().len());
        assert_eq!(
            header(&resp, "x-export-count"),
            golden_leads().len().to_string()
        );
        let keys = objects.keys();
        assert_eq!(keys.len(), 1);
        assert!(keys[0].ends_with(".xlsx"), "{}", keys[0]);
        assert!(link["url"].as_str().unwrap().contains(&keys[0]));
        if !json_link {
            assert_eq!(header(&resp, "location"), link["url"]);
        }
        let (meta, bytes) = objects.get(&keys[0]).unwrap();
        assert_eq!(meta.content_type, XLSX_CONTENT_TYPE);
        assert_eq!(
            meta.content_disposition,
            format!("attachment; filename=\"{}\"", today_xlsx())
        );
        assert_golden_columns(&bytes, &fields);
    }
}

#[tokio::test]
async fn another_organizations_lead_never_appears() {
    let app = app_with(&config(&[]), store(), Arc::new(MemoryObjects::new()));
    let resp = handle(&app, post_as(ORG_A, &request_body(json!({"type": "xlsx"})))).await;
    let (_, rows) = sheet(&body_bytes(&resp));
    assert!(rows
        .iter()
        .flatten()
        .all(|c| !matches!(c, Data::String(s) if s.contains("Other"))));
}
