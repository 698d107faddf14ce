//! `openapi.yaml` stays true to the code: its field ids are the spec's 27,
//! its filter keys (and their kinds) are those the parser accepts, its
//! `format` keys, limits, examples and error bodies are the server's.
//! (schemathesis, run by `make test` through `scripts/schemathesis.sh`,
//! holds the running server to the same file.)

use std::collections::BTreeSet;

use lead_export::error::ExportError;
use lead_export::fields::{Field, FieldList};
use lead_export::filters::{self, MAX_LIST_TERMS, MAX_RANGES, MAX_RANGE_BOUND};
use lead_export::http::error_response;
use lead_export::request::{self, MAX_IDS, MAX_ID_BYTES, MAX_TARGET_COUNT};
use serde_json::{json, Value};

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn openapi() -> Value {
    serde_norway::from_str(&read("openapi.yaml")).expect("openapi.yaml is YAML")
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let s = &doc["components"]["schemas"][name];
    assert!(s.is_object(), "components.schemas.{name} is missing");
    s
}

/// The schema a `$ref` points to (`#/components/schemas/X` only).
fn deref<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => schema(
            doc,
            r.strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected $ref {r}")),
        ),
        None => v,
    }
}

fn ref_name(v: &Value) -> &str {
    v["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .unwrap_or_else(|| panic!("expected a $ref, got {v}"))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("no properties in {v}"))
        .keys()
        .cloned()
        .collect()
}

fn operation(doc: &Value) -> &Value {
    &doc["paths"]["/api/v1/operations/export"]["post"]
}

#[test]
fn export_fields_are_the_27_spec_ids() {
    let doc = openapi();
    let schema_ids: Vec<&str> = schema(&doc, "FieldId")["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let spec: Value = serde_json::from_str(&read("tests/data/spec_fields.json")).unwrap();
    let spec_ids: Vec<&str> = spec["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(schema_ids, spec_ids);
    assert_eq!(schema_ids.len(), 27);
    let code_ids: Vec<&str> = Field::ALL.iter().map(|f| f.id()).collect();
    assert_eq!(schema_ids, code_ids);
    let list = FieldList::from_ids(schema_ids.iter().copied()).expect("all known");
    assert_eq!(list.fields().len(), 27);
    let items = &schema(&doc, "ExportRequest")["properties"]["exportFields"]["items"];
    assert_eq!(ref_name(items), "FieldId");
}

/// The filter kinds of openapi.yaml, each with a value only that kind
/// accepts (the parser refuses it under a key of any other kind).
const KINDS: &[(&str, &str)] = &[
    (
        "TextFilter",
        r#"{"any": {"include": {"mode": "WORD", "content": ["x"]}}}"#,
    ),
    ("ListFilter", r#"{"any": {"include": ["x"]}}"#),
    ("LocationFilter", r#"{"any": {"include": ["x"]}}"#),
    ("RangeFilter", r#"{"range": {"start": 1}}"#),
    (
        "EducationFilter",
        r#"{"school": {"any": {"include": ["x"]}}}"#,
    ),
    (
        "ExperienceFilter",
        r#"{"current": {"title": {"any": {"include": ["x"]}}}}"#,
    ),
];

/// Whether a key of `kind` also takes the sample of `other`: a location is
/// a list filter, and a text filter takes the list form (mode `SMART`).
fn also_accepts(kind: &str, other: &str) -> bool {
    let list = |k: &str| k == "ListFilter" || k == "LocationFilter";
    kind == other || (list(kind) && list(other)) || (kind == "TextFilter" && list(other))
}

fn sample(kind: &str) -> Value {
    let (_, text) = KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .unwrap_or_else(|| panic!("no sample for {kind}"));
    serde_json::from_str(text).unwrap()
}

/// Keys the parser might accept that the schema must then list: the spec's
/// keys of both sections, the reference's unsupported ones, near misses.
const CANDIDATES: &[&str] = &[
    "fullName",
    "location",
    "seniority",
    "departmentAndFunction",
    "skill",
    "language",
    "certification",
    "education",
    "experience",
    "nameOrDomain",
    "industry",
    "employeeSize",
    "revenue",
    "foundedYear",
    "type",
    "socialMediaLink",
    "socialMedia",
    "keyword",
    "profileBadge",
    "metric",
    "geoLocation",
    "funding",
    "technology",
    "skills",
    "name",
    "Location",
    "department",
    "title",
    "company",
    "size",
    "",
];

#[test]
fn filter_keys_and_kinds_are_those_the_parser_accepts() {
    let doc = openapi();
    for (section, schema_name, other) in [
        ("contact", "ContactFilters", "account"),
        ("account", "AccountFilters", "contact"),
    ] {
        let section_schema = schema(&doc, schema_name);
        assert_eq!(section_schema["additionalProperties"], json!(false));
        let listed = keys(section_schema);
        let bare: BTreeSet<String> = listed
            .iter()
            .filter(|k| !k.contains('.'))
            .cloned()
            .collect();
        let prefixed: BTreeSet<String> = bare.iter().map(|k| format!("{section}.{k}")).collect();
        assert_eq!(
            listed,
            bare.union(&prefixed).cloned().collect(),
            "{section}: each key also with its section prefix, nothing else"
        );
        // Every listed key parses with a value of its kind, and with no
        // value of another kind.
        for key in &listed {
            let kind = ref_name(&section_schema["properties"][key]);
            let accepted = filters::compile(&json!({section: {key: sample(kind)}}));
            assert!(
                accepted.is_ok(),
                "filters.{section}.{key} ({kind}): {accepted:?}"
            );
            for (other_kind, _) in KINDS {
                if also_accepts(kind, other_kind) {
                    continue;
                }
                assert!(
                    filters::compile(&json!({section: {key: sample(other_kind)}})).is_err(),
                    "filters.{section}.{key} ({kind}) also takes a {other_kind}"
                );
            }
        }
        // Every key the parser accepts is listed.
        let candidates = CANDIDATES.iter().flat_map(|k| {
            [
                k.to_string(),
                format!("{section}.{k}"),
                format!("{other}.{k}"),
            ]
        });
        for key in candidates {
            let parses = filters::compile(&json!({section: {&key: null}})).is_ok();
            assert_eq!(parses, listed.contains(&key), "filters.{section}.{key:?}");
        }
    }
    assert_eq!(
        keys(schema(&doc, "Filters")),
        BTreeSet::from(["contact".to_string(), "account".to_string()])
    );
    assert!(filters::compile(&json!({"people": {}})).is_err());

    // Nested keys: education's and experience's.
    let education = keys(schema(&doc, "EducationFilter"));
    for key in ["school", "degree", "fieldOfStudy", "major", "institution"] {
        let parses =
            filters::compile(&json!({"contact": {"education": {key: sample("TextFilter")}}}))
                .is_ok();
        assert_eq!(parses, education.contains(key), "education.{key}");
    }
    let tenses = keys(schema(&doc, "ExperienceFilter"));
    let parts = keys(schema(&doc, "ExperienceTense"));
    for tense in ["current", "previous", "any", "past", "all"] {
        for part in ["title", "company", "employer"] {
            let parses = filters::compile(&json!({"contact": {"experience":
                {tense: {part: sample("TextFilter")}}}}))
            .is_ok();
            assert_eq!(
                parses,
                tenses.contains(tense) && parts.contains(part),
                "experience.{tense}.{part}"
            );
        }
    }
    // The parts of a list or text filter.
    for name in ["ListFilter", "LocationFilter", "TextFilter"] {
        assert_eq!(
            keys(schema(&doc, name)),
            BTreeSet::from(["any".into(), "all".into()])
        );
    }
    for name in ["ListPart", "TextPart"] {
        assert_eq!(
            keys(schema(&doc, name)),
            BTreeSet::from(["include".into(), "exclude".into()])
        );
    }
    assert_eq!(
        keys(schema(&doc, "TextQuery")),
        BTreeSet::from(["mode".into(), "content".into()])
    );
    assert_eq!(
        keys(schema(&doc, "RangeFilter")),
        BTreeSet::from(["type".into(), "range".into()])
    );
}

#[test]
fn limits_are_the_code_constants() {
    let doc = openapi();
    assert_eq!(schema(&doc, "Terms")["maxItems"], json!(MAX_LIST_TERMS));
    assert_eq!(schema(&doc, "IdList")["maxItems"], json!(MAX_IDS));
    assert_eq!(schema(&doc, "OptionalIdList")["maxItems"], json!(MAX_IDS));
    assert_eq!(schema(&doc, "LeadId")["maxLength"], json!(MAX_ID_BYTES));
    let bulk = &schema(&doc, "BulkSelection")["properties"];
    assert_eq!(bulk["targetCount"]["maximum"], json!(MAX_TARGET_COUNT));
    assert_eq!(bulk["targetCount"]["minimum"], json!(1));
    assert_eq!(bulk["startIndex"]["maximum"], json!(u64::MAX));
    let ranges = &schema(&doc, "RangeFilter")["properties"]["range"]["oneOf"];
    let list = ranges
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["type"] == "array")
        .expect("a list of spans");
    assert_eq!(list["maxItems"], json!(MAX_RANGES));
    let bound = schema(&doc, "Bound");
    assert_eq!(bound["maximum"].as_f64(), Some(MAX_RANGE_BOUND));
    assert_eq!(bound["minimum"].as_f64(), Some(-MAX_RANGE_BOUND));
    // The parser's side of the same numbers.
    let terms = vec!["x"; MAX_LIST_TERMS + 1];
    assert!(filters::compile(&json!({"contact": {"skill": {"any": {"include": terms}}}})).is_err());
    let spans = vec![json!({"start": 1}); MAX_RANGES + 1];
    assert!(filters::compile(&json!({"account": {"revenue": {"range": spans}}})).is_err());
    let over = MAX_RANGE_BOUND * 1.5;
    assert!(filters::compile(&json!({"account": {"revenue": {"range": {"end": over}}}})).is_err());
}

fn manual_with_format(format: Value) -> Result<request::ExportRequest, ExportError> {
    let body = json!({"selection": {"mode": "manual", "includedIds": ["a"]}, "format": format});
    request::parse(body.to_string().as_bytes())
}

/// Every `format` option of the schema (`type`, `bom`, `delimiter`,
/// `lineEnding`, `escapeFormulas`, `preset`) is accepted with its default
/// (where it has one) and enum values.
#[test]
fn format_keys_defaults_and_values_are_accepted() {
    let doc = openapi();
    let format = schema(&doc, "Format");
    assert_eq!(format["additionalProperties"], json!(false));
    let listed = keys(format);
    let expected = [
        "type",
        "bom",
        "delimiter",
        "lineEnding",
        "escapeFormulas",
        "preset",
    ];
    assert_eq!(listed, expected.iter().map(|k| k.to_string()).collect());
    let mut refused = Vec::new();
    for key in &listed {
        let property = &format["properties"][key];
        let mut values: Vec<Value> = property.get("default").cloned().into_iter().collect();
        values.extend(property["enum"].as_array().cloned().unwrap_or_default());
        if property["type"] == "boolean" {
            values.extend([json!(true), json!(false)]);
        }
        values.dedup();
        for value in values {
            if let Err(e) = manual_with_format(json!({key: value})) {
                refused.push(format!("{key}: {value} ({e})"));
            }
        }
        // A value of the wrong type is refused.
        let wrong = if property["type"] == "boolean" {
            json!("yes")
        } else {
            json!(7)
        };
        assert!(
            manual_with_format(json!({key: wrong})).is_err(),
            "format.{key}: {wrong}"
        );
    }
    assert!(
        refused.is_empty(),
        "schema values the parser refuses: {refused:#?}"
    );
    assert!(manual_with_format(json!({"colour": "red"})).is_err());
}

#[test]
fn request_examples_parse() {
    let doc = openapi();
    let examples = operation(&doc)["requestBody"]["content"]["application/json"]["examples"]
        .as_object()
        .expect("request examples");
    assert!(examples.len() >= 2);
    for (name, example) in examples {
        let body = example["value"].to_string();
        if let Err(e) = request::parse(body.as_bytes()) {
            panic!("example {name} is refused: {e}");
        }
    }
}

#[test]
fn error_responses_match_the_code() {
    let doc = openapi();
    let responses = &operation(&doc)["responses"];
    let errors = [
        ExportError::Validation("selection is required".into()),
        ExportError::NoData,
        ExportError::PayloadTooLarge { limit: 1 << 20 },
        ExportError::Unauthorized("expired".into()),
        ExportError::Forbidden("no organization".into()),
        ExportError::NoValidFields,
        ExportError::Internal("boom".into()),
        ExportError::Unavailable("throttled".into()),
        ExportError::Timeout { stage: "reading" },
    ];
    for err in errors {
        let status = err.status().as_u16().to_string();
        let response = &responses[&status];
        assert!(response.is_object(), "no {status} response for {err:?}");
        let body = err.body();
        let body_schema = &response["content"]["application/json"]["schema"];
        let candidates: Vec<&Value> = match body_schema["oneOf"].as_array() {
            Some(list) => list.iter().map(|s| deref(&doc, s)).collect(),
            None => vec![deref(&doc, body_schema)],
        };
        let matches = candidates.iter().any(|s| {
            let error = &s["properties"]["error"];
            if let Some(constant) = error.get("const") {
                return &body["error"] == constant;
            }
            let detail = &error["allOf"][1]["properties"];
            body["error"]["code"] == detail["code"]["const"]
                && detail
                    .get("message")
                    .is_none_or(|m| body["error"]["message"] == m["const"])
                && body["error"].as_object().unwrap().len() == 2
        });
        assert!(
            matches,
            "{status}: {body} matches no schema of the response"
        );
        // Required headers of the response are sent.
        let sent = error_response(&err);
        if let Some(headers) = response["headers"].as_object() {
            for (name, header) in headers {
                if header["required"] == json!(true) {
                    assert!(
                        sent.headers().contains_key(name.as_str()),
                        "{status}: {name}"
                    );
                }
            }
        }
    }
}

/// The export jobs' routes: the job limit is the code's, the request
/// examples parse with it, the statuses are those the code answers, and
/// each error status has the code the reply carries.
#[test]
fn the_export_jobs_routes_match_the_code() {
    use lead_export::jobs::{JobStatus, JOB_LIMITS, MAX_JOB_TARGET_COUNT};
    let doc = openapi();
    let bulk = schema(&doc, "BulkJobSelection");
    assert_eq!(
        bulk["properties"]["targetCount"]["maximum"].as_u64(),
        Some(MAX_JOB_TARGET_COUNT as u64)
    );
    assert!(
        !bulk["required"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str() == Some("targetCount")),
        "a job's targetCount is optional (the whole search)"
    );
    let submit = &doc["paths"]["/api/v1/operations/export-jobs"]["post"];
    let examples = submit["requestBody"]["content"]["application/json"]["examples"]
        .as_object()
        .unwrap();
    assert!(!examples.is_empty());
    for (name, example) in examples {
        let body = example["value"].to_string();
        if let Err(e) = request::parse_with(body.as_bytes(), &JOB_LIMITS) {
            panic!("example {name:?}: {e}");
        }
    }
    let statuses: BTreeSet<String> = schema(&doc, "JobStatus")["properties"]["status"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let mut expected: BTreeSet<String> = [
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
    ]
    .iter()
    .map(|s| s.name().to_string())
    .collect();
    expected.insert("EXPIRED".into());
    assert_eq!(statuses, expected);
    let not_found = ExportError::NotFound(lead_export::jobs::api::NOT_FOUND_MESSAGE);
    assert_eq!(not_found.status().as_u16(), 404);
    let get = &doc["paths"]["/api/v1/operations/export-jobs/{id}"]["get"];
    let error = deref(
        &doc,
        &get["responses"]["404"]["content"]["application/json"]["schema"],
    );
    assert_eq!(
        error["properties"]["error"]["allOf"][1]["properties"]["code"]["const"].as_str(),
        not_found.body()["error"]["code"].as_str()
    );
}
