//! The request body's parsing and validation, through
//! `lead_export::request::parse`: ids, bulk selections, fields, formats and
//! the messages of refused bodies.

use lead_export::error::ExportError;
use lead_export::fields::{Field, FieldList};
use lead_export::request::*;
use serde_json::{json, Value};

fn message(body: Value) -> String {
    match parse(body.to_string().as_bytes()) {
        Err(ExportError::Validation(m)) => m,
        other => panic!("expected a validation error for {body}, got {other:?}"),
    }
}

fn bulk(body: Value) -> BulkSelection {
    match parse(body.to_string().as_bytes()).unwrap().selection {
        Selection::Bulk(b) => b,
        other => panic!("expected bulk, got {other:?}"),
    }
}

#[test]
fn manual_ids_keep_order_and_drop_repeats() {
    let req = parse(br#"{"selection":{"mode":"manual","includedIds":["b","a","b","c"]}}"#).unwrap();
    match req.selection {
        Selection::Manual { ids } => assert_eq!(ids, ["b", "a", "c"]),
        other => panic!("{other:?}"),
    }
    assert_eq!(req.fields, Some(FieldList::defaults()));
}

#[test]
fn bulk_defaults_and_inclusion_rules() {
    let b = bulk(
        json!({"selection":{"mode":"bulk","targetCount":5,"filters":{},
        "excludedIds":["x"],"includedIds":["y","x","y","z"]}}),
    );
    assert_eq!((b.start, b.count), (0, 5));
    assert!(b.filter.is_empty());
    assert_eq!(b.included, ["y", "z"], "an id also excluded is left out");
    assert!(b.excluded.contains("x"));
}

#[test]
fn validation_messages_name_the_field() {
    let cases = [
        (json!({}), "selection is required"),
        (json!({"selection": null}), "selection is required"),
        (json!({"selection": []}), "selection must be an object"),
        (
            json!({"selection": {"mode": "all"}}),
            "Invalid selection mode",
        ),
        (json!({"selection": {}}), "Invalid selection mode"),
        (json!({"selection": {"mode": 3}}), "Invalid selection mode"),
        (
            json!({"selection": {"mode": "bulk", "targetCount": 0, "filters": {}}}),
            "selection.targetCount must be between 1 and 1000",
        ),
        (
            json!({"selection": {"mode": "bulk", "targetCount": 1001, "filters": {}}}),
            "selection.targetCount must be between 1 and 1000",
        ),
        (
            json!({"selection": {"mode": "bulk", "targetCount": 2.5, "filters": {}}}),
            "selection.targetCount must be between 1 and 1000",
        ),
        (
            json!({"selection": {"mode": "bulk", "targetCount": "10", "filters": {}}}),
            "selection.targetCount must be between 1 and 1000",
        ),
        (
            json!({"selection": {"mode": "bulk", "filters": {}}}),
            "selection.targetCount is required for bulk mode",
        ),
        (
            json!({"selection": {"mode": "bulk", "startIndex": -1, "targetCount": 1, "filters": {}}}),
            "selection.startIndex must be an integer >= 0",
        ),
        (
            json!({"selection": {"mode": "bulk", "targetCount": 1}}),
            "selection.filters is required for bulk mode (use {} for all leads)",
        ),
        (
            json!({"selection": {"mode": "manual", "includedIds": "a"}}),
            "selection.includedIds must be an array of strings",
        ),
        (
            json!({"selection": {"mode": "manual", "includedIds": ["a", 7]}}),
            "selection.includedIds[1] must be a string",
        ),
        (
            json!({"selection": {"mode": "manual", "includedIds": [""]}}),
            "selection.includedIds[0] must be a non-empty id of at most 1024 bytes",
        ),
        (
            json!({"selection": {"mode": "manual"}}),
            "selection.includedIds is required for manual mode",
        ),
        (
            json!({"selection": {"mode": "manual", "includedIds": ["a"]}, "exportFields": "name"}),
            "exportFields must be an array of strings",
        ),
        (
            json!({"selection": {"mode": "manual", "includedIds": ["a"]}, "exportFields": ["name", 1]}),
            "exportFields[1] must be a string",
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(message(body.clone()), expected, "body {body}");
    }
}

#[test]
fn whole_numbers_written_as_floats_are_integers() {
    let b = bulk(
        json!({"selection": {"mode": "bulk", "startIndex": 2.0, "targetCount": 324.0, "filters": {}}}),
    );
    assert_eq!((b.start, b.count), (2, 324));
    let b = bulk(
        json!({"selection": {"mode": "bulk", "startIndex": -0.0, "targetCount": 1e3, "filters": {}}}),
    );
    assert_eq!((b.start, b.count), (0, 1000));
    let b = bulk(
        json!({"selection": {"mode": "bulk", "startIndex": 18446744073709551615u64, "targetCount": 1, "filters": {}}}),
    );
    assert_eq!(b.start as u64, u64::MAX);
    for (start, count) in [
        (json!(0), json!(1000.5)),
        (json!(0), json!(1001.0)),
        (json!(0), json!(0.0)),
        (json!(1.5), json!(1)),
        (json!(-1.0), json!(1)),
        (json!(18446744073709551616.0), json!(1)),
        (json!(1e300), json!(1)),
    ] {
        let m = message(
            json!({"selection": {"mode": "bulk", "startIndex": start, "targetCount": count, "filters": {}}}),
        );
        assert!(
            m.starts_with("selection.startIndex must")
                || m.starts_with("selection.targetCount must"),
            "{start} {count}: {m}"
        );
    }
}

#[test]
fn a_whole_number_written_with_a_fraction_is_read_exactly_from_the_text() {
    // Found by schemathesis: read with serde_json's fast float path,
    // `4369621482586214.0` came out one unit in the last place off
    // (`…214.5`), and a start the contract allows was refused.
    let body = br#"{"selection":{"mode":"bulk","startIndex":4369621482586214.0,"targetCount":148.0,"filters":{}}}"#;
    match parse(body).unwrap().selection {
        Selection::Bulk(b) => assert_eq!((b.start, b.count), (4_369_621_482_586_214, 148)),
        other => panic!("expected bulk, got {other:?}"),
    }
    // 2^53 + 1 is not an f64: written with a fraction it reads as 2^53,
    // the nearest, and is still a whole number.
    let body = br#"{"selection":{"mode":"bulk","startIndex":9007199254740993.0,"targetCount":1,"filters":{}}}"#;
    match parse(body).unwrap().selection {
        Selection::Bulk(b) => assert_eq!(b.start, 9_007_199_254_740_992),
        other => panic!("expected bulk, got {other:?}"),
    }
}

proptest::proptest! {
    /// Every whole number an f64 holds exactly (up to 2^53), written with a
    /// fraction of zeros, is read as itself.
    #[test]
    fn whole_numbers_up_to_2_pow_53_written_with_a_fraction_read_exactly(
        n in 0u64..=(1 << 53),
        zeros in 1usize..4,
    ) {
        let text = format!("{n}.{}", "0".repeat(zeros));
        let body = format!(
            r#"{{"selection":{{"mode":"bulk","startIndex":{text},"targetCount":1,"filters":{{}}}}}}"#
        );
        match parse(body.as_bytes()).map(|r| r.selection) {
            Ok(Selection::Bulk(b)) => proptest::prop_assert_eq!(b.start as u64, n, "{}", text),
            other => proptest::prop_assert!(false, "{}: {:?}", text, other),
        }
    }
}

#[test]
fn malformed_json_and_empty_bodies_are_validation_errors() {
    for body in [&b"{"[..], b"", b"  ", b"[1]", b"null"] {
        assert!(
            matches!(parse(body), Err(ExportError::Validation(_))),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn id_lists_are_capped_at_10000() {
    let ids: Vec<String> = (0..=MAX_IDS).map(|i| format!("id{i}")).collect();
    for key in ["includedIds", "excludedIds"] {
        let body =
            json!({"selection": {"mode": "bulk", "targetCount": 1, "filters": {}, key: ids}});
        assert_eq!(
            message(body),
            format!("selection.{key} holds 10001 ids; at most 10000 are allowed")
        );
    }
    let ok: Vec<String> = (0..MAX_IDS).map(|i| format!("id{i}")).collect();
    let body = json!({"selection": {"mode": "manual", "includedIds": ok}});
    assert!(parse(body.to_string().as_bytes()).is_ok());
}

#[test]
fn body_over_one_mib_is_too_large() {
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    assert!(matches!(
        parse(&body),
        Err(ExportError::PayloadTooLarge { .. })
    ));
}

#[test]
fn export_fields_rules() {
    let parse_fields = |fields: Value| {
        parse(
            json!({"selection": {"mode": "manual", "includedIds": ["a"]}, "exportFields": fields})
                .to_string()
                .as_bytes(),
        )
        .unwrap()
        .fields
    };
    assert_eq!(parse_fields(json!([])), Some(FieldList::defaults()));
    assert_eq!(parse_fields(Value::Null), Some(FieldList::defaults()));
    assert_eq!(parse_fields(json!(["nope", "NAME"])), None);
    assert_eq!(
        parse_fields(json!(["skills", "x", "name", "skills"]))
            .unwrap()
            .fields(),
        &[Field::Skills, Field::Name]
    );
}

fn format_of(f: Value) -> Result<(CsvFormat, Option<FileType>), ExportError> {
    parse(
        json!({"selection": {"mode": "manual", "includedIds": ["a"]}, "format": f})
            .to_string()
            .as_bytes(),
    )
    .map(|r| (r.format, r.file_type))
}

fn format_message(f: Value) -> String {
    message(json!({"selection": {"mode": "manual", "includedIds": ["a"]}, "format": f}))
}

#[test]
fn format_defaults_and_switch() {
    let on = CsvFormat {
        escape_formulas: true,
        bom: false,
        delimiter: Delimiter::Comma,
        line_ending: LineEnding::CrLf,
    };
    assert_eq!(CsvFormat::default(), on);
    assert_eq!(on.csv_only_option(), None);
    assert_eq!(format_of(Value::Null).unwrap(), (on, None));
    assert_eq!(format_of(json!({})).unwrap(), (on, None));
    assert_eq!(
        format_of(json!({"escapeFormulas": true})).unwrap(),
        (on, None)
    );
    assert!(
        !format_of(json!({"escapeFormulas": false}))
            .unwrap()
            .0
            .escape_formulas
    );
}

#[test]
fn format_options_parse_into_domain_types() {
    let (f, t) = format_of(json!({"type": "csv", "escapeFormulas": false, "bom": true,
        "delimiter": ";", "lineEnding": "\n"}))
    .unwrap();
    assert_eq!(t, Some(FileType::Csv));
    assert_eq!(
        f,
        CsvFormat {
            escape_formulas: false,
            bom: true,
            delimiter: Delimiter::Semicolon,
            line_ending: LineEnding::Lf,
        }
    );
    assert_eq!(f.csv_only_option(), Some("bom"));
    let (f, t) =
        format_of(json!({"type": "xlsx", "delimiter": "\t", "lineEnding": "\r\n"})).unwrap();
    assert_eq!(t, Some(FileType::Xlsx));
    assert_eq!(f.delimiter, Delimiter::Tab);
    assert_eq!(f.delimiter.byte(), b'\t');
    assert_eq!(f.line_ending, LineEnding::CrLf);
    assert_eq!(f.csv_only_option(), Some("delimiter"));
    let (f, _) = format_of(json!({"delimiter": ",", "lineEnding": "\n"})).unwrap();
    assert_eq!(f.csv_only_option(), Some("lineEnding"));
    assert_eq!(FileType::Xlsx.name(), "xlsx");
}

#[test]
fn format_errors_name_the_key_and_the_value() {
    let cases = [
        (json!([]), "format must be an object".to_string()),
        (
            json!({"é".repeat(120): 1}),
            format!("format.{}…: unknown key", "é".repeat(100)),
        ),
        (json!({"Type": "csv"}), "format.Type: unknown key".into()),
        (
            json!({"escapeFormulas": "yes"}),
            "format.escapeFormulas: expected true or false".into(),
        ),
        (
            json!({"bom": 1}),
            "format.bom: expected true or false".into(),
        ),
        (
            json!({"bom": null}),
            "format.bom: expected true or false".into(),
        ),
        (
            json!({"type": "XLSX"}),
            r#"format.type: expected one of "csv", "xlsx"; got "XLSX""#.into(),
        ),
        (
            json!({"type": null}),
            r#"format.type: expected one of "csv", "xlsx"; got a value that is not a string"#
                .into(),
        ),
        (
            json!({"delimiter": "|"}),
            r#"format.delimiter: expected one of ",", ";", "\t"; got "|""#.into(),
        ),
        (
            json!({"delimiter": "\\t"}),
            r#"format.delimiter: expected one of ",", ";", "\t"; got "\\t""#.into(),
        ),
        (
            json!({"delimiter": 44}),
            r#"format.delimiter: expected one of ",", ";", "\t"; got a value that is not a string"#
                .into(),
        ),
        (
            json!({"lineEnding": "\r"}),
            r#"format.lineEnding: expected one of "\r\n", "\n"; got "\r""#.into(),
        ),
        (
            json!({"lineEnding": "x".repeat(300)}),
            format!(
                r#"format.lineEnding: expected one of "\r\n", "\n"; got "{}…""#,
                "x".repeat(100)
            ),
        ),
    ];
    for (f, expected) in cases {
        assert_eq!(format_message(f.clone()), expected, "format {f}");
    }
}

#[test]
fn filter_errors_carry_their_path() {
    let m = message(json!({"selection": {"mode": "bulk", "targetCount": 1,
        "filters": {"contact": {"skil": {}}}}}));
    assert_eq!(m, "filters.contact.skil: unknown filter");
}
