//! The endpoint's contract through the handler, over in-memory stores.

use crate::support;

use std::io::Read;
use std::sync::Arc;

use lead_export::auth::OrgId;
use lead_export::csv_export::to_csv;
use lead_export::deliver::memory::MemoryObjects;
use lead_export::demo::demo_leads;
use lead_export::error::FaultKind;
use lead_export::fields::{Field, FieldList};
use lead_export::http::handle;
use lead_export::request::CsvFormat;
use serde_json::json;
use support::*;

fn all_field_ids() -> Vec<&'static str> {
    Field::ALL.iter().map(|f| f.id()).collect()
}

fn manual(ids: &[String]) -> serde_json::Value {
    json!({"selection": {"mode": "manual", "includedIds": ids}})
}

#[tokio::test]
async fn manual_export_with_every_field_matches_the_lead_model() {
    let (app, _) = demo_app();
    let a = demo_leads(1, 3000);
    let ids: Vec<String> = a[..50].iter().rev().map(|l| l.id.clone()).collect();
    let mut body = manual(&ids);
    body["exportFields"] = json!(all_field_ids());
    let resp = handle(&app, post_as(ORG_A, &body)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-export-count"), "50");
    let rows = csv_rows(&body_bytes(&resp));
    let labels: Vec<&str> = Field::ALL.iter().map(|f| f.label()).collect();
    assert_eq!(rows[0], labels);
    for (row, lead) in rows[1..].iter().zip(a[..50].iter().rev()) {
        let expected: Vec<String> = Field::ALL
            .iter()
            .map(|f| f.cell(lead).into_owned())
            .collect();
        assert_eq!(row, &expected);
    }
}

#[tokio::test]
async fn tenancy_another_organization_sees_nothing() {
    let (app, _) = demo_app();
    let a_ids: Vec<String> = demo_leads(1, 3000)[..20]
        .iter()
        .map(|l| l.id.clone())
        .collect();
    let resp = handle(&app, post_as(ORG_B, &manual(&a_ids))).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(body_json(&resp), json!({"error": "No data to export"}));
    // Same ids in a bulk inclusion: still nothing of org A.
    let body = json!({"selection": {"mode": "bulk", "startIndex": 5000, "targetCount": 10,
        "filters": {}, "includedIds": a_ids}});
    let resp = handle(&app, post_as(ORG_B, &body)).await;
    assert_eq!(resp.status(), 400);
    // An organization in the body is ignored: the token decides.
    let mut body = manual(&a_ids);
    body["orgId"] = json!(ORG_A);
    body["selection"]["orgId"] = json!(ORG_A);
    assert_eq!(handle(&app, post_as(ORG_B, &body)).await.status(), 400);
}

#[tokio::test]
async fn bulk_range_exclusions_and_inclusions() {
    let (app, _) = demo_app();
    let mut sorted = demo_leads(1, 3000);
    sorted.sort_by(|x, y| x.id.cmp(&y.id));
    let ids =
        |rows: &[Vec<String>]| -> Vec<String> { rows[1..].iter().map(|r| r[0].clone()).collect() };
    let body = json!({"selection": {"mode": "bulk", "startIndex": 100, "targetCount": 20, "filters": {},
        "excludedIds": [sorted[105].id, sorted[2000].id],
        "includedIds": [sorted[2000].id, sorted[2500].id, sorted[110].id, sorted[2500].id, sorted[1].id]}});
    let mut body = body;
    body["exportFields"] = json!(["linkedinUrl", "name"]);
    let resp = handle(&app, post_as(ORG_A, &body)).await;
    assert_eq!(resp.status(), 200);
    let rows = csv_rows(&body_bytes(&resp));
    let got = ids(&rows);
    let mut expected: Vec<String> = sorted[100..120]
        .iter()
        .filter(|l| l.id != sorted[105].id)
        .map(|l| l.linkedin_url.clone().unwrap_or_default().into())
        .collect();
    expected.push(sorted[2500].linkedin_url.clone().unwrap_or_default().into());
    expected.push(sorted[1].linkedin_url.clone().unwrap_or_default().into());
    assert_eq!(got, expected);
    assert_eq!(header(&resp, "x-export-count"), "21");
}

#[tokio::test]
async fn documented_errors() {
    let (app, _) = demo_app();
    let a = demo_leads(1, 1);
    // None of the given fields is known: the documented 500.
    let mut body = manual(&[a[0].id.clone()]);
    body["exportFields"] = json!(["nope", "Name"]);
    let resp = handle(&app, post_as(ORG_A, &body)).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(
        body_json(&resp),
        json!({"error": {"code": "INTERNAL_ERROR", "message": "No valid export fields specified"}})
    );
    // Unknown mode.
    let resp = handle(
        &app,
        post_as(ORG_A, &json!({"selection": {"mode": "smart"}})),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        body_json(&resp),
        json!({"error": {"code": "VALIDATION_ERROR", "message": "Invalid selection mode"}})
    );
    // Malformed JSON.
    let auth = format!("Bearer {}", token(ORG_A));
    let resp = handle(&app, post("{\"selection\":", &[("authorization", &auth)])).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(body_json(&resp)["error"]["code"], "VALIDATION_ERROR");
    // A body over 1 MiB.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(1 << 20));
    let resp = handle(&app, post(&big, &[("authorization", &auth)])).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(body_json(&resp)["error"]["code"], "VALIDATION_ERROR");
    // Nothing resolved.
    let resp = handle(&app, post_as(ORG_A, &manual(&["missing".into()]))).await;
    assert_eq!(
        (resp.status().as_u16(), body_json(&resp)),
        (400, json!({"error": "No data to export"}))
    );
    // Only POST.
    let get = http::Request::builder()
        .method("GET")
        .uri("/api/v1/operations/export")
        .header("authorization", &auth)
        .body(lambda_http::Body::Empty)
        .unwrap();
    let resp = handle(&app, get).await;
    assert_eq!(resp.status(), 405);
    assert_eq!(header(&resp, "allow"), "POST");
}

#[tokio::test]
async fn a_store_failure_is_a_generic_500() {
    let app = app_with(
        &config(&[]),
        Arc::new(FakeStore::failing(
            FaultKind::Other,
            "dynamodb.eu-west-1.amazonaws.com: connection refused",
        )),
        Arc::new(MemoryObjects::new()),
    );
    let resp = handle(&app, post_as(ORG_A, &manual(&["x".into()]))).await;
    assert_eq!(resp.status(), 500);
    let body = body_json(&resp);
    assert_eq!(body["error"]["code"], "INTERNAL_ERROR");
    assert!(!body.to_string().contains("amazonaws"), "{body}");
}

fn big_selection() -> serde_json::Value {
    let ids: Vec<String> = demo_leads(1, 3000).iter().map(|l| l.id.clone()).collect();
    let mut body = manual(&ids);
    body["exportFields"] = json!(all_field_ids());
    body
}

#[tokio::test]
async fn gzip_when_accepted_and_it_decodes_to_the_plain_csv() {
    let (app, _) = demo_app();
    let plain = handle(&app, post_as(ORG_A, &big_selection())).await;
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("content-encoding").is_none());
    let mut req = post_as(ORG_A, &big_selection());
    req.headers_mut()
        .insert("accept-encoding", "gzip, deflate, br".parse().unwrap());
    let gz = handle(&app, req).await;
    assert_eq!(gz.status(), 200);
    assert_eq!(header(&gz, "content-encoding"), "gzip");
    assert!(header(&gz, "vary").contains("Accept-Encoding"));
    assert!(matches!(gz.body(), lambda_http::Body::Binary(_)));
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&body_bytes(&gz)[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, body_bytes(&plain));
    assert!(body_bytes(&gz).len() * 3 < decoded.len(), "compresses");
}

#[tokio::test]
async fn over_the_inline_limit_goes_to_objects_with_a_303() {
    let objects = Arc::new(MemoryObjects::new());
    let cfg = config(&[
        ("INLINE_MAX_BYTES", "100000"),
        ("EXPORT_URL_TTL_SECONDS", "600"),
    ]);
    let app = app_with(&cfg, demo_store(), objects.clone());
    let (inline_app, _) = demo_app();
    let inline = body_bytes(&handle(&inline_app, post_as(ORG_A, &big_selection())).await);
    assert!(inline.len() > 100_000);

    let resp = handle(&app, post_as(ORG_A, &big_selection())).await;
    assert_eq!(resp.status(), 303);
    let body = body_json(&resp);
    assert_eq!(header(&resp, "location"), body["url"]);
    assert_eq!(header(&resp, "x-export-count"), "3000");
    assert_eq!(body["count"], 3000);
    assert_eq!(
        body["filename"],
        lead_export::export::naming::file_name(time::OffsetDateTime::now_utc(), "csv")
    );
    let expires = time::OffsetDateTime::parse(
        body["expiresAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let ttl = expires - time::OffsetDateTime::now_utc();
    assert!(
        ttl <= time::Duration::seconds(600) && ttl > time::Duration::seconds(590),
        "{ttl}"
    );
    let keys = objects.keys();
    assert_eq!(keys.len(), 1);
    assert!(
        keys[0].starts_with(&format!("exports/{}/", org_part(ORG_A))) && keys[0].ends_with(".csv"),
        "{}",
        keys[0]
    );
    let (meta, bytes) = objects.get(&keys[0]).unwrap();
    assert_eq!(bytes, inline, "the uploaded file is the inline file");
    assert_eq!(meta.content_type, "text/csv; charset=utf-8");
    assert_eq!(
        meta.content_disposition,
        format!(
            "attachment; filename=\"{}\"",
            body["filename"].as_str().unwrap()
        )
    );

    // With gzip accepted the same export fits inline again.
    let cfg = config(&[("INLINE_MAX_BYTES", "1000000")]);
    let app = app_with(&cfg, demo_store(), Arc::new(MemoryObjects::new()));
    let plain = handle(&app, post_as(ORG_A, &big_selection())).await;
    assert_eq!(plain.status(), 303, "plain is over 1 MB");
    let mut req = post_as(ORG_A, &big_selection());
    req.headers_mut()
        .insert("accept-encoding", "gzip".parse().unwrap());
    assert_eq!(handle(&app, req).await.status(), 200, "gzip fits");
}

#[tokio::test]
async fn accept_json_always_gets_the_link() {
    let (app, objects) = demo_app();
    let a = demo_leads(1, 2);
    let mut req = post_as(ORG_A, &manual(&[a[0].id.clone(), a[1].id.clone()]));
    req.headers_mut()
        .insert("accept", "application/json".parse().unwrap());
    let resp = handle(&app, req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), "application/json");
    assert!(resp.headers().get("location").is_none());
    let body = body_json(&resp);
    assert_eq!(body["count"], 2);
    assert!(body["url"]
        .as_str()
        .unwrap()
        .contains(&format!("exports/{}/", org_part(ORG_A))));
    assert_eq!(objects.keys().len(), 1);
}

#[tokio::test]
async fn an_upload_failure_is_a_500_and_leaves_nothing() {
    let objects = Arc::new(FakeObjects::failing_from(1, FaultKind::Other));
    let app = app_with(
        &config(&[("INLINE_MAX_BYTES", "1000")]),
        demo_store(),
        objects.clone(),
    );
    let resp = handle(&app, post_as(ORG_A, &big_selection())).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(body_json(&resp)["error"]["code"], "INTERNAL_ERROR");
    assert!(!body_json(&resp).to_string().contains("injected"));
    assert_eq!(objects.inner.open_uploads(), 0);
    assert!(objects.inner.keys().is_empty());
}

/// The filter examples of docs/filters.md are valid filters.
#[test]
fn readme_filter_examples_compile() {
    let readme =
        std::fs::read_to_string(format!("{}/docs/filters.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let block = readme
        .split("```jsonc\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a jsonc block in docs/filters.md");
    let examples: Vec<String> = block
        .split("\n\n")
        .map(|chunk| {
            chunk
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    assert_eq!(examples.len(), 3);
    for example in examples {
        let value: serde_json::Value =
            serde_json::from_str(&example).unwrap_or_else(|e| panic!("{e}: {example}"));
        lead_export::filters::compile(&value).unwrap_or_else(|e| panic!("{e}: {example}"));
    }
}

/// The sizes of the JSON the Lambda runtime posts for `resp` answering a
/// REST API (v1) and an HTTP API (v2) event, serialized by lambda_http itself
/// (its `Adapter`, which `lambda_http::run` serves).
async fn serialized_sizes(resp: &lambda_http::Response<lambda_http::Body>) -> (usize, usize) {
    use lambda_http::tower::Service;
    let mut sizes = Vec::new();
    for fixture in ["rest-missing-token.json", "http-missing-token.json"] {
        let path = format!("{}/events/{fixture}", env!("CARGO_MANIFEST_DIR"));
        let event = std::fs::read_to_string(path).unwrap();
        let request: lambda_http::request::LambdaRequest = serde_json::from_str(&event).unwrap();
        let mut adapter = lambda_http::Adapter::from(lambda_http::service_fn(
            |_: lambda_http::Request| async move {
                let mut copy = lambda_http::Response::new(resp.body().clone());
                *copy.status_mut() = resp.status();
                *copy.headers_mut() = resp.headers().clone();
                Ok::<_, lambda_http::Error>(copy)
            },
        ));
        let response = adapter
            .call(lambda_http::LambdaEvent::new(
                request,
                lambda_http::Context::default(),
            ))
            .await
            .unwrap();
        sizes.push(serde_json::to_vec(&response).unwrap().len());
    }
    (sizes[0], sizes[1])
}

#[tokio::test]
async fn inline_responses_fit_lambdas_limit_once_serialized() {
    const LIMIT: usize = 6_291_556;
    // Escape-heavy rows (quotes, newlines) of about 2 KB each.
    let mut leads = demo_leads(5, 3400);
    for (i, lead) in leads.iter_mut().enumerate() {
        lead.company.as_mut().unwrap().summary =
            Some(compact_str::format_compact!("\"quoted\"\nline\t{i} ").repeat(110));
    }
    let store = lead_export::store::MemoryStore::new();
    store.insert(ORG_A, leads.clone());
    let store = Arc::new(store);
    let ids: Vec<String> = leads.iter().map(|l| l.id.clone()).collect();
    // Inline at 1,800 leads, redirected at 2,600: bisect the boundary (each
    // step renders about 6 MB, slow in a debug build), checking every inline
    // answer's serialized size.
    let export = |n: usize| {
        let app = app_with(&config(&[]), store.clone(), Arc::new(MemoryObjects::new()));
        let mut body = manual(&ids[..n]);
        body["exportFields"] = json!(["name", "companySummary"]);
        async move {
            let resp = handle(&app, post_as(ORG_A, &body)).await;
            match resp.status().as_u16() {
                200 => {
                    let (v1, v2) = serialized_sizes(&resp).await;
                    assert!(v1 <= LIMIT && v2 <= LIMIT, "{n} leads: {v1} / {v2} bytes");
                    Some(v1.max(v2))
                }
                303 => None,
                other => panic!("{n} leads: status {other}"),
            }
        }
    };
    let (mut lo, mut hi) = (1800, 2600);
    let mut largest_inline = export(lo).await.expect("1,800 leads fit inline");
    assert!(export(hi).await.is_none(), "2,600 leads are redirected");
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        match export(mid).await {
            Some(size) => (lo, largest_inline) = (mid, size),
            None => hi = mid,
        }
    }
    println!("largest inline response serialized: {largest_inline} bytes ({lo} leads); {hi} leads redirected");
    assert!(
        largest_inline > LIMIT - 150_000,
        "inline up to near the limit: {largest_inline}"
    );
}

/// The organization's segment of its object keys.
fn org_part(org: &str) -> String {
    lead_export::export::naming::org_key_part(&OrgId::new(org).unwrap())
}

/// The CSV of `ids` of org A as the reference rendering writes it.
fn reference_csv(ids: &[String]) -> Vec<u8> {
    let by_id: std::collections::HashMap<String, lead_export::model::Lead> = demo_leads(1, 3000)
        .into_iter()
        .map(|l| (l.id.clone(), l))
        .collect();
    let leads: Vec<_> = ids.iter().map(|id| by_id[id].clone()).collect();
    let fields = FieldList::from_ids(all_field_ids()).unwrap();
    to_csv(&fields, &leads, &CsvFormat::default())
}

#[tokio::test]
async fn each_lead_is_handed_out_once_and_the_bytes_match_the_reference() {
    // 600 ids in an order that is not the table's, every field.
    let ids: Vec<String> = demo_leads(1, 3000)
        .iter()
        .rev()
        .step_by(5)
        .map(|l| l.id.clone())
        .collect();
    let expected = reference_csv(&ids);
    let mut body = manual(&ids);
    body["exportFields"] = json!(all_field_ids());
    // (INLINE_MAX_BYTES, Accept-Encoding, Accept, expected status)
    let cases = [
        (None, None, None, 200),
        (None, Some("gzip"), None, 200),
        (Some("100000"), None, None, 303),
        (Some("20000"), Some("gzip"), None, 303),
        (None, Some("gzip"), Some("application/json"), 200),
    ];
    for (limit, encoding, accept, status) in cases {
        let store = Arc::new(FakeStore::over(demo_store()));
        let objects = Arc::new(MemoryObjects::new());
        let vars: Vec<(&str, &str)> = limit.map(|l| ("INLINE_MAX_BYTES", l)).into_iter().collect();
        let app = app_with(&config(&vars), store.clone(), objects.clone());
        let mut req = post_as(ORG_A, &body);
        if let Some(encoding) = encoding {
            req.headers_mut()
                .insert("accept-encoding", encoding.parse().unwrap());
        }
        if let Some(accept) = accept {
            req.headers_mut().insert("accept", accept.parse().unwrap());
        }
        let resp = handle(&app, req).await;
        let case = format!("{limit:?} {encoding:?} {accept:?}");
        assert_eq!(resp.status(), status, "{case}");
        assert_eq!(header(&resp, "x-export-count"), "600", "{case}");
        let file = if status == 200 && accept.is_none() {
            assert!(objects.keys().is_empty(), "{case}: nothing uploaded");
            let bytes = body_bytes(&resp);
            if encoding.is_some() {
                let mut plain = Vec::new();
                flate2::read::GzDecoder::new(&bytes[..])
                    .read_to_end(&mut plain)
                    .unwrap();
                plain
            } else {
                bytes
            }
        } else {
            let keys = objects.keys();
            assert_eq!(keys.len(), 1, "{case}");
            objects.get(&keys[0]).unwrap().1
        };
        assert!(file == expected, "{case}: the bytes differ from to_csv");
        let handed = store.handed_out();
        assert_eq!(handed.len(), 600, "{case}");
        assert!(
            handed.values().all(|n| *n == 1),
            "{case}: a lead handed out twice"
        );
    }
}

#[tokio::test]
async fn manual_chunks_arriving_last_first_keep_the_requested_order() {
    let mut ids: Vec<String> = demo_leads(1, 3000)[..450]
        .iter()
        .map(|l| l.id.clone())
        .collect();
    ids.rotate_left(170);
    let store = Arc::new(FakeStore {
        reverse_chunks: true,
        ..FakeStore::over(demo_store())
    });
    let app = app_with(&config(&[]), store.clone(), Arc::new(MemoryObjects::new()));
    let mut body = manual(&ids);
    body["exportFields"] = json!(all_field_ids());
    let resp = handle(&app, post_as(ORG_A, &body)).await;
    assert_eq!(resp.status(), 200);
    assert!(
        body_bytes(&resp) == reference_csv(&ids),
        "order or bytes differ"
    );
    assert!(store.handed_out().values().all(|n| *n == 1));
}
