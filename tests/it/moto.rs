//! Integration tests against the moto server that `make test` starts
//! (MOTO_ENDPOINT): the DynamoDB store, the import tool, and S3 delivery.
//! DynamoDB is `DYNAMODB_ENDPOINT` when set (`make test` runs these tests
//! again with dynalite there), S3 always moto.

use crate::support;

use std::collections::BTreeSet;
use std::sync::Arc;

use lead_export::app::App;
use lead_export::auth::OrgId;
use lead_export::config::Config;
use lead_export::deliver::s3::S3Objects;
use lead_export::demo::demo_leads;
use lead_export::error::FaultKind;
use lead_export::fields::Field;
use lead_export::filters;
use lead_export::http::handle;
use lead_export::store::dynamodb::{json_text_item, legacy_item, previous_item};
use lead_export::store::{DynamoStore, LeadStore};
use lead_export::{aws, import};
use serde_json::json;
use support::*;

struct Env {
    config: Config,
    sdk: aws_config::SdkConfig,
}

impl Env {
    async fn new(extra: &[(&str, &str)]) -> Env {
        let table = unique("leads");
        let bucket = unique("exports");
        let audit = unique("audit");
        // Checkpoints of this test's leads only (the org names are shared).
        let cursors = unique("cursors");
        let mut vars = vec![
            ("CURSORS_TABLE", cursors.as_str()),
            ("LEADS_TABLE", table.as_str()),
            ("EXPORTS_BUCKET", bucket.as_str()),
            ("AUDIT_TABLE", audit.as_str()),
            // moto on a shared machine reads thousands of items slower than
            // the default 25 s invocation; these tests are not about the deadline.
            ("EXPORT_TIMEOUT_SECONDS", "900"),
        ];
        vars.extend_from_slice(extra);
        let config = endpoint_config(&vars);
        let sdk = aws::sdk_config().await;
        let env = Env { config, sdk };
        aws::ensure_table(&env.dynamodb(), &env.config.leads_table)
            .await
            .unwrap();
        lead_export::audit::ensure_table(&env.dynamodb(), &env.config.audit_table)
            .await
            .unwrap();
        lead_export::store::cursors::ensure_table(&env.dynamodb(), &env.config.cursors_table)
            .await
            .unwrap();
        aws::ensure_bucket(&env.s3(), &env.config.exports_bucket)
            .await
            .unwrap();
        env
    }

    fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws::dynamodb(&self.sdk, self.config.dynamodb_endpoint.as_deref())
    }

    fn store(&self) -> DynamoStore {
        DynamoStore::new(self.dynamodb(), &self.config.leads_table)
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        aws::s3(&self.sdk, self.config.s3_endpoint.as_deref())
    }

    async fn seed(&self, org: &str, seed: u64, n: usize) -> Vec<lead_export::model::Lead> {
        let leads = demo_leads(seed, n);
        self.store()
            .put_leads(&OrgId::new(org).unwrap(), &leads)
            .await
            .unwrap();
        leads
    }

    async fn app(&self) -> App {
        App::from_config(&self.config).await
    }

    async fn leftovers(&self) -> (usize, usize) {
        let s3 = self.s3();
        let objects = s3
            .list_objects_v2()
            .bucket(&self.config.exports_bucket)
            .send()
            .await
            .unwrap();
        let uploads = s3
            .list_multipart_uploads()
            .bucket(&self.config.exports_bucket)
            .send()
            .await
            .unwrap();
        (objects.contents().len(), uploads.uploads().len())
    }
}

fn org(id: &str) -> OrgId {
    OrgId::new(id).unwrap()
}

#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn store_reads_only_the_callers_leads_in_chunks() {
    let env = Env::new(&[]).await;
    let a = env.seed(ORG_A, 1, 250).await;
    let b = env.seed(ORG_B, 2, 30).await;
    let store = env.store();
    // 250 + 30 foreign + 3 unknown ids: 3 BatchGetItem chunks of at most 100.
    let mut ids: Vec<String> = a.iter().map(|l| l.id.clone()).collect();
    ids.extend(b.iter().map(|l| l.id.clone()));
    ids.extend(["nope-1", "nope-2", "nope-3"].map(String::from));
    let attrs: BTreeSet<&str> = Field::ALL
        .iter()
        .flat_map(|f| f.lead_attributes().iter().copied())
        .collect();
    let got = store.get_all(&org(ORG_A), &ids, &attrs).await.unwrap();
    assert_eq!(got.len(), 250);
    let mut expected = a.clone();
    let mut got_sorted = got;
    expected.sort_by(|x, y| x.id.cmp(&y.id));
    got_sorted.sort_by(|x, y| x.id.cmp(&y.id));
    // The projection of every export field returns every exported value.
    for (g, e) in got_sorted.iter().zip(&expected) {
        for f in Field::ALL {
            assert_eq!(f.cell(g), f.cell(e), "{} of {}", f.id(), e.id);
        }
    }
    // A compact item is read whole, whatever the projection asks.
    let only_name: BTreeSet<&str> = Field::Name.lead_attributes().iter().copied().collect();
    let mut got = store
        .get_all(&org(ORG_A), &ids[..3], &only_name)
        .await
        .unwrap();
    got.sort_by(|x, y| x.id.cmp(&y.id));
    let mut first: Vec<_> = a[..3].to_vec();
    first.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(got, first);
}

/// One organization holding items of today's layout (the packed `d`), of
/// the one before (`d` as JSON text), of the previous one (camelCase
/// `doc`, search attributes of `s_v` 1) and of the earliest
/// (nested attributes, with and without search attributes): manual and
/// bulk exports read them all.
#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn items_of_both_layouts_read_in_one_organization() {
    let env = Env::new(&[]).await;
    let org_a = org(ORG_A);
    let leads = demo_leads(4, 240);
    let store = env.store();
    let client = env.dynamodb();
    let compact: Vec<_> = leads
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 8 == 0)
        .map(|(_, l)| l.clone())
        .collect();
    store.put_leads(&org_a, &compact).await.unwrap();
    for (i, lead) in leads.iter().enumerate().filter(|(i, _)| i % 8 != 0) {
        let item = if i % 8 == 4 {
            json_text_item(&org_a, lead).unwrap()
        } else if i % 4 == 3 {
            previous_item(&org_a, lead).unwrap()
        } else {
            legacy_item(&org_a, lead)
                .unwrap()
                .into_iter()
                .filter(|(k, _)| i % 4 == 1 || !k.starts_with("s_"))
                .collect()
        };
        client
            .put_item()
            .table_name(&env.config.leads_table)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
    let all_fields: BTreeSet<&str> = Field::ALL
        .iter()
        .flat_map(|f| f.lead_attributes().iter().copied())
        .collect();
    let mut sorted = leads.clone();
    sorted.sort_by(|x, y| x.id.cmp(&y.id));

    // Manual: every lead, with every exported value, whatever its layout
    // (a compact item whole, one of the earlier layout as projected).
    let ids: Vec<String> = leads.iter().map(|l| l.id.clone()).collect();
    let mut got = store.get_all(&org_a, &ids, &all_fields).await.unwrap();
    got.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(got.len(), sorted.len());
    for (i, (g, e)) in got.iter().zip(&sorted).enumerate() {
        assert_eq!(g.id, e.id);
        for f in Field::ALL {
            assert_eq!(f.cell(g), f.cell(e), "{} of {}", f.id(), e.id);
        }
        let layout = leads.iter().position(|l| l.id == e.id).unwrap() % 4;
        if layout == 0 || layout == 3 {
            assert_eq!(g, e, "a document is read whole ({i})");
        }
    }

    // Bulk: deep ranges, unfiltered and with an exact and an inexact filter
    // (the first skims, and must read the earlier items in full).
    for filter in [
        json!({}),
        json!({"contact": {"location": {"any": {"include": ["Germany"]}}}}),
        json!({"contact": {"skill": {"any": {"include": {"mode": "STRICT", "content": ["Salesforce"]}}}}}),
        json!({"contact": {"skill": {"any": {"include": {"mode": "WORD", "content": ["learning"]}}}}}),
    ] {
        let compiled = filters::compile(&filter).unwrap();
        let matching: Vec<&str> = sorted
            .iter()
            .filter(|l| compiled.matches(l))
            .map(|l| l.id.as_str())
            .collect();
        assert!(matching.len() >= 20, "{filter}: {}", matching.len());
        let start = matching.len() / 2;
        let (got, stats) = store
            .query_range(&org_a, &compiled, start, 10, &all_fields)
            .await
            .unwrap();
        let got_ids: Vec<&str> = got.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(got_ids, &matching[start..start + 10], "{filter}");
        for lead in &got {
            let expected = sorted.iter().find(|l| l.id == lead.id).unwrap();
            for f in Field::ALL {
                assert_eq!(f.cell(lead), f.cell(expected), "{} of {}", f.id(), lead.id);
            }
        }
        // Pages mixing layouts are the SDK's to read.
        assert!(stats.sdk_pages >= 1, "{filter}: {stats:?}");
        println!("{filter}: start {start}: {stats:?}");
    }
}

#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn bulk_ranges_are_ordered_by_id_and_stop_early() {
    let env = Env::new(&[]).await;
    let mut a = env.seed(ORG_A, 1, 300).await;
    env.seed(ORG_B, 2, 100).await;
    a.sort_by(|x, y| x.id.cmp(&y.id));
    let store = env.store();
    let all = filters::compile(&json!({})).unwrap();
    let (leads, stats) = store
        .query_range(&org(ORG_A), &all, 150, 50, &BTreeSet::new())
        .await
        .unwrap();
    let ids: Vec<&str> = leads.iter().map(|l| l.id.as_str()).collect();
    let expected: Vec<&str> = a[150..200].iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, expected);
    assert_eq!(
        stats.scanned_count, 200,
        "reads exactly up to the last needed lead: {stats:?}"
    );
    let (tail, _) = store
        .query_range(&org(ORG_A), &all, 290, 100, &BTreeSet::new())
        .await
        .unwrap();
    assert_eq!(tail.len(), 10);
}

#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn import_reports_bad_lines_and_imports_the_rest() {
    let env = Env::new(&[]).await;
    let mut good = demo_leads(9, 60);
    // Near DynamoDB's 400 KB item limit: imported.
    good[30]
        .company
        .get_or_insert_with(Default::default)
        .summary = Some("s".repeat(380_000).into());
    let mut lines: Vec<String> = good
        .iter()
        .map(|l| serde_json::to_string(l).unwrap())
        .collect();
    lines.insert(3, "{not json".into());
    lines.insert(10, r#"{"firstName":"No","lastName":"Id"}"#.into());
    lines.insert(20, String::new());
    // Over it: DynamoDB refuses the item, and with it its whole batch.
    let mut big = demo_leads(10, 1).remove(0);
    big.company.get_or_insert_with(Default::default).summary = Some("s".repeat(420_000).into());
    lines.insert(40, serde_json::to_string(&big).unwrap());
    let input = lines.join("\n");
    let store = env.store();
    let mut seen = 0;
    let report = import::import_jsonl(input.as_bytes(), &store, &org("org-import"), |n| seen = n)
        .await
        .unwrap();
    assert_eq!(report.imported, 60);
    assert_eq!(seen, 64);
    let numbers: Vec<usize> = report.bad_lines.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, [4, 11, 41]);
    assert!(
        report.bad_lines[2]
            .1
            .ends_with("over the 409600-byte item limit"),
        "{:?}",
        report.bad_lines[2]
    );
    let ids: Vec<String> = good.iter().map(|l| l.id.clone()).collect();
    let back = store
        .get_all(
            &org("org-import"),
            &ids,
            &BTreeSet::from(["firstName", "lastName"]),
        )
        .await
        .unwrap();
    assert_eq!(back.len(), 60);
}

fn manual_all_fields(ids: &[String]) -> serde_json::Value {
    json!({"selection": {"mode": "manual", "includedIds": ids},
           "exportFields": Field::ALL.iter().map(|f| f.id()).collect::<Vec<_>>()})
}

#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn a_large_export_goes_to_s3_and_the_link_serves_the_same_bytes() {
    let env = Env::new(&[("INLINE_MAX_BYTES", "20000")]).await;
    let a = env.seed(ORG_A, 1, 300).await;
    let ids: Vec<String> = a.iter().rev().map(|l| l.id.clone()).collect();
    let body = manual_all_fields(&ids);

    let mut inline_env_vars = env.config.clone();
    inline_env_vars.inline_max_bytes = None;
    let inline_app = App::from_config(&inline_env_vars).await;
    let inline = handle(&inline_app, post_as(ORG_A, &body)).await;
    assert_eq!(inline.status(), 200);
    let inline_bytes = body_bytes(&inline);
    assert!(inline_bytes.len() > 20_000);

    let resp = handle(&env.app().await, post_as(ORG_A, &body)).await;
    assert_eq!(
        resp.status(),
        303,
        "{}",
        String::from_utf8_lossy(&body_bytes(&resp))
    );
    assert_eq!(header(&resp, "x-export-count"), "300");
    let location = header(&resp, "location").to_string();
    let got = ureq::get(&location).call().unwrap();
    assert_eq!(got.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        got.header("content-disposition"),
        Some(header(&inline, "content-disposition"))
    );
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut got.into_reader(), &mut bytes).unwrap();
    assert_eq!(bytes, inline_bytes, "the linked file is the inline file");

    // The object: its key, encryption and count metadata.
    let s3 = env.s3();
    let listed = s3
        .list_objects_v2()
        .bucket(&env.config.exports_bucket)
        .send()
        .await
        .unwrap();
    let key = listed.contents()[0].key().unwrap().to_string();
    let prefix = format!(
        "exports/{}/",
        lead_export::export::naming::org_key_part(&org(ORG_A))
    );
    assert!(key.starts_with(&prefix), "{key}");
    let head = s3
        .head_object()
        .bucket(&env.config.exports_bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption().map(|s| s.as_str()),
        Some("AES256")
    );
    // No count in the metadata: the upload starts before the count is known.
    assert!(!head
        .metadata()
        .is_some_and(|m| m.contains_key("export-count")));
    assert_eq!(env.leftovers().await, (1, 0));
}

#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn s3_failures_answer_500_or_503_and_leave_nothing_behind() {
    let env = Env::new(&[("INLINE_MAX_BYTES", "1000")]).await;
    // Enough data for two 8 MiB parts; the leads are served from memory, the
    // upload goes to moto's S3.
    let mut leads = demo_leads(1, 6_000);
    for l in &mut leads {
        if let Some(c) = l.company.as_mut() {
            c.summary = Some("lorem ipsum dolor sit amet ".repeat(100).into());
        }
    }
    let memory = lead_export::store::MemoryStore::new();
    memory.insert(ORG_A, leads.clone());
    let ids: Vec<String> = leads.iter().map(|l| l.id.clone()).collect();
    let body = manual_all_fields(&ids);

    // A failure in the middle of the multipart upload: aborted.
    let mut app = env.app().await;
    app.store = Arc::new(memory);
    app.objects = Arc::new(FakeObjects {
        fail: Some((2, FaultKind::Other)),
        ..FakeObjects::wrapping(S3Objects::new(env.s3(), &env.config.exports_bucket))
    });
    let resp = handle(&app, post_as(ORG_A, &body)).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(body_json(&resp)["error"]["code"], "INTERNAL_ERROR");
    assert_eq!(env.leftovers().await, (0, 0), "no object, no open upload");

    // An S3 endpoint that does not answer at all: a connection failure,
    // transient, so 503.
    let dead = aws_sdk_s3::config::Builder::from(&env.sdk)
        .endpoint_url("http://127.0.0.1:9")
        .force_path_style(true)
        .build();
    app.objects = Arc::new(S3Objects::new(
        aws_sdk_s3::Client::from_conf(dead),
        &env.config.exports_bucket,
    ));
    let small = manual_all_fields(&ids[..50]);
    let resp = handle(&app, post_as(ORG_A, &small)).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(env.leftovers().await, (0, 0));
}

/// The largest filters the request allows, as Queries: DynamoDB (dynalite
/// validates as DynamoDB does) accepts each push-down, and the range is the
/// one the in-memory predicate selects.
#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn filters_at_the_limits_are_queries_dynamodb_accepts() {
    let env = Env::new(&[]).await;
    let mut leads = env.seed(ORG_A, 5, 200).await;
    leads.sort_by(|x, y| x.id.cmp(&y.id));
    let store = env.store();
    // 1,000 distinct terms of 256 characters after normalization.
    let terms = |filler: &str, times: usize| -> Vec<String> {
        (0..1000)
            .map(|i| format!("{i:04}{}", filler.repeat(times)))
            .collect()
    };
    let mut locations = terms("x", 252);
    locations[999] = "Berlin".into();
    let cases = [
        ("the largest legal filter", filters::largest_legal_filter()),
        (
            "1,000 locations of 256 characters, Berlin last",
            json!({"contact": {"location": {"any": {"include": locations}}}}),
        ),
        (
            "1,000 skills all included",
            json!({"contact": {"skill": {"all": {"include": terms("s", 252)}}}}),
        ),
        (
            // U+FDFA is 18 characters under NFKD: near the substitution cap.
            "1,000 locations of U+FDFA",
            json!({"contact": {"location": {"any": {"include": terms("\u{fdfa}", 14)}}}}),
        ),
    ];
    for (name, filter) in cases {
        let compiled = filters::compile(&filter).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let expected: Vec<&str> = leads
            .iter()
            .filter(|l| compiled.matches(l))
            .take(50)
            .map(|l| l.id.as_str())
            .collect();
        if name.contains("Berlin") {
            assert!(!expected.is_empty(), "{name}: some demo lead is in Berlin");
        }
        let (got, _) = store
            .query_range(&org(ORG_A), &compiled, 0, 50, &BTreeSet::new())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got: Vec<&str> = got.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(got, expected, "{name}");
    }
}

/// `S3Objects::size_of` (HeadObject): the size of a completed file, and
/// `None` for a key that holds nothing (S3's 404 without a body); what a
/// job step retried after its upload's completion relies on
/// (`jobs::a_step_killed_after_its_file_was_completed_is_finished_by_the_retry`).
#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn the_size_of_a_completed_file_is_read_and_a_missing_one_is_none() {
    use lead_export::deliver::{ObjectMeta, ObjectStore};
    let env = Env::new(&[]).await;
    let objects = S3Objects::new(env.s3(), &env.config.exports_bucket);
    let key = "exports/size-of/file.csv";
    let meta = ObjectMeta {
        content_type: "text/csv".into(),
        content_disposition: "attachment; filename=\"file.csv\"".into(),
    };
    assert_eq!(objects.size_of(key).await.unwrap(), None);
    let id = objects.create_multipart(key, &meta).await.unwrap();
    let etag = objects
        .upload_part(key, &id, 1, b"a,b\n1,2\n".to_vec())
        .await
        .unwrap();
    assert_eq!(
        objects.size_of(key).await.unwrap(),
        None,
        "an open upload is no object"
    );
    objects.complete(key, &id, vec![(1, etag)]).await.unwrap();
    assert_eq!(objects.size_of(key).await.unwrap(), Some(8));
    assert_eq!(
        objects.size_of("exports/size-of/other.csv").await.unwrap(),
        None
    );
}
