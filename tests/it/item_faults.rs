//! Stored items that cannot be read into a lead, against moto (`#[ignore]`d,
//! the items written by hand with the SDK): each fault kind is skipped and
//! counted (`X-Export-Skipped`, the link's `skipped`, the audit record's
//! `skipped`) while the other leads are exported, manual and bulk, inline,
//! through S3 and as a JSON link; a bulk range keeps the positions of the
//! skipped items; a selection of unreadable items only is `No data to
//! export`. Every log line of these requests is captured: the skipped items
//! are named by lead id and fault kind, and no stored or requested value
//! appears (`docs/contract.md`, `docs/observability.md`).

use crate::support;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Response};
use lead_export::app::App;
use lead_export::auth::OrgId;
use lead_export::aws;
use lead_export::config::Config;
use lead_export::http::handle;
use lead_export::model::Lead;
use lead_export::store::DynamoStore;
use serde_json::{json, Value};
use support::*;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

use crate::log_capture::Captured;

/// Values of the unreadable items and of the requests: none may be logged.
const LEAKS: &[&str] = &[
    "pii-leak@x.example",
    "zelphine.quorrington@private-mail.example",
    "+1-555-0199",
    "+49 30 9911 2233",
    "Zelphine",
    "Quorrington",
    "linkedin.com/in/zelphine",
    // Requested: an absent id, a filter value, a key of a refused body.
    "req-id-Xylophant-7731",
    "Xylophant Quibbleton",
    "Xylophant-key",
];

/// A good lead: its name cell is `Good <id>`.
fn good(id: String) -> Lead {
    Lead {
        first_name: "Good".into(),
        last_name: id.as_str().into(),
        emails: Some(vec![compact_str::format_compact!("{id}@good.example")]),
        id,
        ..Lead::default()
    }
}

/// The document of a lead full of personal values.
const FULL_DOC: &str = r#"{"firstName":"Zelphine","lastName":"Quorrington","emails":["zelphine.quorrington@private-mail.example"],"phones":["+1-555-0199","+49 30 9911 2233"],"linkedinUrl":"https://www.linkedin.com/in/zelphine"}"#;

/// The unreadable items: id, fault kind (`docs/contract.md`), and the
/// attributes beside the keys. Their ids sort among the good leads'.
/// An unreadable item: its id, its fault kind and its attributes beside
/// the keys.
type Unreadable = (
    &'static str,
    &'static str,
    Vec<(&'static str, AttributeValue)>,
);

fn unreadable() -> Vec<Unreadable> {
    let s = |v: &str| AttributeValue::S(v.to_string());
    let n = |v: &str| AttributeValue::N(v.to_string());
    vec![
        (
            // What the user saw: the right shape, a string for the list.
            "lead-015",
            "wrong_type",
            vec![
                (
                    "doc",
                    s(
                        r#"{"firstName":"Zelphine","lastName":"Quorrington","emails":"pii-leak@x.example"}"#,
                    ),
                ),
                ("s_v", n("2")),
            ],
        ),
        (
            "lead-035",
            "bad_json",
            vec![("doc", s(&FULL_DOC[..95])), ("s_v", n("2"))],
        ),
        ("lead-055", "wrong_type", vec![("doc", n("15550199"))]),
        (
            "lead-075",
            "missing_key",
            vec![(
                "doc",
                s(
                    r#"{"firstName":"Zelphine","emails":["zelphine.quorrington@private-mail.example"]}"#,
                ),
            )],
        ),
        (
            "lead-095",
            "unknown_version",
            vec![("doc", s(FULL_DOC)), ("s_v", n("3"))],
        ),
        (
            // The earlier layout (read through the exported attributes
            // only): a list where a string is due.
            "lead-115",
            "wrong_type",
            vec![
                ("firstName", AttributeValue::L(vec![s("Zelphine")])),
                ("lastName", s("Quorrington")),
                ("phones", s("+1-555-0199")),
            ],
        ),
        (
            "lead-135",
            "bad_json",
            vec![("doc", s("Zelphine Quorrington <pii-leak@x.example>"))],
        ),
    ]
}

struct Env {
    config: Config,
    sdk: aws_config::SdkConfig,
}

impl Env {
    /// Tables and bucket on moto; 50 good leads `lead-000` … `lead-490` of
    /// [`ORG_A`] and the [`unreadable`] items.
    async fn new() -> Env {
        let (table, bucket, audit) = (unique("faults"), unique("faults"), unique("faults-audit"));
        // Checkpoints of its own: organization names are shared across tests.
        let cursors = unique("faults-cursors");
        let config = endpoint_config(&[
            ("LEADS_TABLE", &table),
            ("EXPORTS_BUCKET", &bucket),
            ("AUDIT_TABLE", &audit),
            ("CURSORS_TABLE", &cursors),
            ("EXPORT_TIMEOUT_SECONDS", "900"),
        ]);
        let sdk = aws::sdk_config().await;
        let dynamo = aws::dynamodb(&sdk, config.dynamodb_endpoint.as_deref());
        aws::ensure_table(&dynamo, &table).await.unwrap();
        lead_export::audit::ensure_table(&dynamo, &audit)
            .await
            .unwrap();
        lead_export::store::cursors::ensure_table(&dynamo, &cursors)
            .await
            .unwrap();
        aws::ensure_bucket(&aws::s3(&sdk, config.s3_endpoint.as_deref()), &bucket)
            .await
            .unwrap();
        let leads: Vec<Lead> = (0..50)
            .map(|i| good(format!("lead-{:03}", i * 10)))
            .collect();
        DynamoStore::new(dynamo.clone(), &table)
            .put_leads(&OrgId::new(ORG_A).unwrap(), &leads)
            .await
            .unwrap();
        for (id, _, attributes) in unreadable() {
            let mut item: HashMap<String, AttributeValue> = attributes
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            item.insert("orgId".into(), AttributeValue::S(ORG_A.into()));
            item.insert("leadId".into(), AttributeValue::S(id.into()));
            dynamo
                .put_item()
                .table_name(&table)
                .set_item(Some(item))
                .send()
                .await
                .unwrap();
        }
        Env { config, sdk }
    }

    async fn app(&self) -> App {
        App::from_config(&self.config).await
    }

    /// The `skipped` attribute of the organization's audit records, by
    /// `(status, count)`.
    async fn audited(&self) -> Vec<(u16, Option<u64>, Option<u64>)> {
        let out = aws::dynamodb(&self.sdk, self.config.dynamodb_endpoint.as_deref())
            .query()
            .table_name(&self.config.audit_table)
            .key_condition_expression("orgId = :o")
            .expression_attribute_values(":o", AttributeValue::S(ORG_A.into()))
            .send()
            .await
            .unwrap();
        let number = |item: &HashMap<String, AttributeValue>, name: &str| {
            item.get(name)
                .map(|v| v.as_n().unwrap().parse::<u64>().unwrap())
        };
        let mut records: Vec<_> = out
            .items()
            .iter()
            .map(|item| {
                (
                    number(item, "status").unwrap() as u16,
                    number(item, "count"),
                    number(item, "skipped"),
                )
            })
            .collect();
        records.sort();
        records
    }

    /// The one object in the bucket, as text.
    async fn only_object(&self) -> String {
        let s3 = aws::s3(&self.sdk, self.config.s3_endpoint.as_deref());
        let list = s3
            .list_objects_v2()
            .bucket(&self.config.exports_bucket)
            .send()
            .await
            .unwrap();
        assert_eq!(list.contents().len(), 1);
        let key = list.contents()[0].key().unwrap();
        let object = s3
            .get_object()
            .bucket(&self.config.exports_bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let bytes = object.body.collect().await.unwrap().into_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}

/// The name cells of a CSV export, header left out.
fn names(csv: &[u8]) -> Vec<String> {
    csv_rows(csv)
        .into_iter()
        .skip(1)
        .map(|r| r[0].clone())
        .collect()
}

fn goods(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| format!("Good {id}")).collect()
}

fn manual(ids: &[&str]) -> Value {
    json!({"selection": {"mode": "manual", "includedIds": ids}, "exportFields": ["name"]})
}

fn bulk(start: usize, count: usize) -> Value {
    json!({"selection": {"mode": "bulk", "startIndex": start, "targetCount": count, "filters": {}},
           "exportFields": ["name"]})
}

async fn send(app: &App, body: &Value, extra: &[(&str, &str)]) -> Response<Body> {
    let auth = format!("Bearer {}", token(ORG_A));
    let mut headers = vec![("authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    handle(app, post(&body.to_string(), &headers)).await
}

fn skipped(resp: &Response<Body>) -> &str {
    header(resp, "x-export-skipped")
}

#[tokio::test]
#[ignore = "needs moto: run make test"]
async fn unreadable_items_are_skipped_and_counted_and_never_logged() {
    let env = Env::new().await;
    let app = env.app().await;
    let captured = Captured::default();
    // The production filter at its most verbose setting.
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(captured.clone())
            .with_filter(lead_export::log_filter("trace")),
    );
    let guard = tracing::subscriber::set_default(subscriber);
    // (status, count, skipped) of each served or refused export, for the audit.
    let mut answered: Vec<(u16, Option<u64>, Option<u64>)> = Vec::new();

    // Manual: every unreadable item among good ids and an absent one; the
    // good leads in the requested order.
    let ids = [
        "lead-020",
        "lead-015",
        "lead-000",
        "lead-035",
        "lead-055",
        "lead-075",
        "lead-095",
        "lead-115",
        "lead-135",
        "lead-010",
        "req-id-Xylophant-7731",
    ];
    let resp = send(&app, &manual(&ids), &[]).await;
    assert_eq!(resp.status(), 200, "{:?}", body_bytes(&resp));
    assert_eq!(
        names(&body_bytes(&resp)),
        goods(&["lead-020", "lead-000", "lead-010"])
    );
    assert_eq!(header(&resp, "x-export-count"), "3");
    assert_eq!(skipped(&resp), "7");
    answered.push((200, Some(3), Some(7)));

    // The same as a workbook.
    let xlsx = json!({"selection": {"mode": "manual", "includedIds": ids},
                      "exportFields": ["name"], "format": {"type": "xlsx"}});
    let resp = send(&app, &xlsx, &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-export-count"), "3");
    assert_eq!(skipped(&resp), "7");
    answered.push((200, Some(3), Some(7)));

    // Bulk, inline: positions 000 010 015* 020 030 035* 040 050 055* 060
    // 070 075* 080 090 095* 100 110 115* 120 130 135* 140 … (* unreadable).
    // A skipped item keeps its position: two consecutive ranges tile.
    let resp = send(&app, &bulk(1, 10), &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        names(&body_bytes(&resp)),
        goods(&[
            "lead-010", "lead-020", "lead-030", "lead-040", "lead-050", "lead-060", "lead-070"
        ])
    );
    assert_eq!(header(&resp, "x-export-count"), "7");
    assert_eq!(skipped(&resp), "3");
    answered.push((200, Some(7), Some(3)));
    let resp = send(&app, &bulk(11, 10), &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        names(&body_bytes(&resp)),
        goods(&["lead-080", "lead-090", "lead-100", "lead-110", "lead-120", "lead-130"])
    );
    assert_eq!(skipped(&resp), "4");
    answered.push((200, Some(6), Some(4)));

    // Bulk with a filter over distinctive values: no lead matches. The
    // unreadable items without the current search attributes (055 075 095
    // 115 135) cannot be ruled out, so they take positions and are
    // skipped; those with the current `s_v` (2) and no name (015 035) are
    // ruled out.
    let by_name = json!({"selection": {"mode": "bulk", "targetCount": 5,
        "filters": {"contact": {"fullName": {"any": {"include": ["Xylophant Quibbleton"]}}}}}});
    let resp = send(&app, &by_name, &[]).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(skipped(&resp), "5");
    answered.push((400, None, Some(5)));

    // Exclusions and inclusions: lead-035 excluded (not reported), lead-015
    // skipped in the range and included (reported once), lead-075
    // included and skipped, lead-300 appended.
    let mixed = json!({"selection": {"mode": "bulk", "startIndex": 0, "targetCount": 6, "filters": {},
        "excludedIds": ["lead-035"], "includedIds": ["lead-015", "lead-075", "lead-300"]},
        "exportFields": ["name"]});
    let resp = send(&app, &mixed, &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        names(&body_bytes(&resp)),
        goods(&["lead-000", "lead-010", "lead-020", "lead-030", "lead-300"])
    );
    assert_eq!(skipped(&resp), "2");
    answered.push((200, Some(5), Some(2)));

    // Bulk as a JSON link over every fault kind (positions 1 to 20):
    // `skipped` beside `count`; the file in S3.
    let resp = send(&app, &bulk(1, 20), &[("accept", "application/json")]).await;
    assert_eq!(resp.status(), 200);
    let link = body_json(&resp);
    assert_eq!(
        (link["count"].clone(), link["skipped"].clone()),
        (json!(13), json!(7))
    );
    assert_eq!(skipped(&resp), "7");
    assert_eq!(
        names(env.only_object().await.as_bytes()),
        goods(&[
            "lead-010", "lead-020", "lead-030", "lead-040", "lead-050", "lead-060", "lead-070",
            "lead-080", "lead-090", "lead-100", "lead-110", "lead-120", "lead-130"
        ])
    );
    answered.push((200, Some(13), Some(7)));

    // Manual through S3 (a response too large to be inline): 303.
    let small = App {
        inline_limit: 100,
        ..app.clone()
    };
    let resp = send(&small, &manual(&ids), &[]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(skipped(&resp), "7");
    assert_eq!(body_json(&resp)["skipped"], 7);
    answered.push((303, Some(3), Some(7)));

    // Only unreadable items: `No data to export`, with the count.
    let resp = send(&app, &manual(&["lead-015", "lead-035", "lead-115"]), &[]).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(body_json(&resp), json!({"error": "No data to export"}));
    assert_eq!(skipped(&resp), "3");
    answered.push((400, None, Some(3)));
    let resp = send(&app, &bulk(2, 1), &[]).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(body_json(&resp), json!({"error": "No data to export"}));
    assert_eq!(skipped(&resp), "1");
    answered.push((400, None, Some(1)));

    // A refused body whose message quotes the request: the client sees
    // it, the log does not.
    let refused = json!({"selection": {"mode": "manual", "includedIds": ["lead-000"]},
                         "format": {"Xylophant-key": true}});
    let resp = send(&app, &refused, &[]).await;
    assert_eq!(resp.status(), 400);
    assert!(body_json(&resp)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Xylophant-key"));
    answered.push((400, None, None));

    // A DynamoDB error (the leads table is missing): its code, never its
    // message.
    let missing = App {
        store: Arc::new(DynamoStore::new(
            aws::dynamodb(&env.sdk, env.config.dynamodb_endpoint.as_deref()),
            unique("no-such-table"),
        )),
        ..app.clone()
    };
    let resp = send(&missing, &manual(&["req-id-Xylophant-7731"]), &[]).await;
    assert_eq!(resp.status(), 500);
    answered.push((500, None, None));
    drop(guard);

    // The audit records count the skipped items.
    answered.sort();
    assert_eq!(env.audited().await, answered);

    // The log: each skipped item by lead id and fault kind; no value.
    let lines = captured.lines();
    for line in &lines {
        for leak in LEAKS {
            assert!(!line.contains(leak), "{leak:?} logged: {line}");
        }
    }
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let mut faults: BTreeMap<String, String> = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e["fields"]["message"] == "stored item skipped")
    {
        let id = e["fields"]["lead_id"].as_str().unwrap().to_string();
        let fault = e["fields"]["fault"].as_str().unwrap().to_string();
        assert_eq!(
            faults
                .insert(id.clone(), fault.clone())
                .unwrap_or(fault.clone()),
            fault,
            "{id}"
        );
    }
    let expected: BTreeMap<String, String> = unreadable()
        .into_iter()
        .map(|(id, fault, _)| (id.to_string(), fault.to_string()))
        .collect();
    assert_eq!(faults, expected);
    // The request lines count them: 7 + 7 + 3 + 4 + 5 + 2 + 7 + 7 + 3 + 1.
    let counted: u64 = events
        .iter()
        .filter(|e| {
            matches!(
                e["fields"]["message"].as_str(),
                Some("export served" | "export refused")
            )
        })
        .filter_map(|e| e["fields"]["skipped"].as_u64())
        .sum();
    assert_eq!(counted, 46);
    let failed = events
        .iter()
        .find(|e| e["fields"]["message"] == "export failed")
        .expect("the 500 is logged");
    let cause = failed["fields"]["error"].as_str().unwrap();
    assert!(
        cause.contains("ResourceNotFoundException (HTTP 400)"),
        "{cause}"
    );
}
