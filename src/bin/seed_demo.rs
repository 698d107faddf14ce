//! Creates the leads, audit and cursors tables and the bucket if missing
//! and, unless `SEED=none`, seeds deterministic demo leads in two
//! organizations: `SEED_LEADS` (default 3000) in `org-demo-a` and a third of
//! that in `org-demo-b`, then bumps each organization's data version (its
//! position checkpoints stop being used).
//!
//! `seed-demo --count ORG BODY` seeds nothing: it prints how many leads the
//! export request `BODY` selects among ORG's demo leads, through the
//! handler's own parsing and selection code (what `make run` prints as the
//! curl's expected `X-Export-Count`).
//!
//! It also creates the export jobs' table (`JOBS_TABLE`) and their queue
//! (`JOBS_QUEUE`, default `export-jobs`, on the SQS of
//! `AWS_ENDPOINT_URL_SQS`); `seed-demo --queue-url` creates nothing else
//! and prints the queue's URL (what `make run` gives the local server as
//! `JOBS_QUEUE_URL`).

use lead_export::auth::OrgId;
use lead_export::demo::demo_leads;
use lead_export::model::Lead;
use lead_export::store::{CursorStore, DynamoCursors, DynamoStore, MemoryStore};
use lead_export::{aws, config::Config, request, resolve::resolve_all};

/// Leads of `org-demo-a` unless `SEED_LEADS` says otherwise.
const DEFAULT_LEADS: usize = 3000;
/// The most `SEED_LEADS` accepts.
const MAX_LEADS: usize = 100_000;

/// The demo organizations: name, generator seed, number of leads.
fn orgs(leads: usize) -> [(&'static str, u64, usize); 2] {
    [("org-demo-a", 1, leads), ("org-demo-b", 2, leads / 3)]
}

/// The demo leads of `org` as seeded (none with `SEED=none`).
fn seeded(org: &str, leads: usize) -> Vec<Lead> {
    if seed_none() {
        return Vec::new();
    }
    orgs(leads)
        .iter()
        .find(|(name, _, _)| *name == org)
        .map(|(_, seed, n)| demo_leads(*seed, *n))
        .unwrap_or_default()
}

fn seed_none() -> bool {
    std::env::var("SEED").as_deref() == Ok("none")
}

fn fail(code: i32, message: impl std::fmt::Display) -> ! {
    eprintln!("{message}");
    std::process::exit(code);
}

/// `SEED_LEADS`: 1..=100000, default 3000.
fn seed_leads() -> usize {
    match std::env::var("SEED_LEADS").ok().filter(|v| !v.is_empty()) {
        None => DEFAULT_LEADS,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LEADS).contains(&n) => n,
            _ => fail(
                2,
                format!("SEED_LEADS must be a number of leads from 1 to {MAX_LEADS}, got {v:?}"),
            ),
        },
    }
}

/// Creates the export jobs' queue if missing (`JOBS_QUEUE`, default
/// `export-jobs`; the in-process worker of the local server runs a step
/// within `EXPORT_TIMEOUT_SECONDS`, so a message becomes visible again a
/// minute after it was received); its URL.
async fn jobs_queue(config: &Config) -> String {
    let name = std::env::var("JOBS_QUEUE")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "export-jobs".into());
    let sdk = aws::sdk_config().await;
    let sqs = aws::sqs(&sdk, config.sqs_endpoint.as_deref());
    let visibility = config.export_timeout.as_secs() as u32 + 60;
    lead_export::jobs::sqs::ensure_queue(&sqs, &name, visibility)
        .await
        .unwrap_or_else(|e| fail(1, e))
}

/// The number of leads `body` exports for `org` over the demo data.
async fn expected_count(org: &str, body: &str, leads: usize) -> usize {
    let org_id = OrgId::new(org).unwrap_or_else(|| fail(2, "ORG must not be empty"));
    let parsed = request::parse(body.as_bytes()).unwrap_or_else(|e| fail(2, e));
    let fields = parsed
        .fields
        .unwrap_or_else(|| fail(2, "no valid export fields in BODY"));
    let store = MemoryStore::new();
    store.insert(org, seeded(org, leads));
    resolve_all(
        &store,
        &org_id,
        &parsed.selection,
        &fields.lead_attributes(),
    )
    .await
    .unwrap_or_else(|e| fail(1, e))
    .len()
}

#[tokio::main]
async fn main() {
    let leads = seed_leads();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {}
        [flag, org, body] if flag == "--count" => {
            println!("{}", expected_count(org, body, leads).await);
            return;
        }
        [flag] if flag == "--queue-url" => {
            let config = Config::from_env().unwrap_or_else(|e| fail(2, e));
            println!("{}", jobs_queue(&config).await);
            return;
        }
        _ => fail(2, "usage: seed-demo [--count ORG BODY | --queue-url]"),
    }
    let config = Config::from_env().unwrap_or_else(|e| fail(2, e));
    let (dynamo, s3) = aws::clients(&config).await;
    lead_export::jobs::dynamodb::ensure_table(&dynamo, &config.jobs_table)
        .await
        .unwrap_or_else(|e| fail(1, e));
    let queue = jobs_queue(&config).await;
    aws::ensure_table(&dynamo, &config.leads_table)
        .await
        .unwrap_or_else(|e| fail(1, e));
    lead_export::audit::ensure_table(&dynamo, &config.audit_table)
        .await
        .unwrap_or_else(|e| fail(1, e));
    lead_export::store::cursors::ensure_table(&dynamo, &config.cursors_table)
        .await
        .unwrap_or_else(|e| fail(1, e));
    aws::ensure_bucket(&s3, &config.exports_bucket)
        .await
        .unwrap_or_else(|e| fail(1, e));
    if seed_none() {
        println!(
            "tables {}, {}, {} and {}, bucket {} and queue {queue} ready; SEED=none, nothing seeded",
            config.leads_table,
            config.audit_table,
            config.cursors_table,
            config.jobs_table,
            config.exports_bucket
        );
        return;
    }
    let cursors = DynamoCursors::new(dynamo.clone(), &config.cursors_table);
    let store = DynamoStore::new(dynamo, &config.leads_table);
    for (org, seed, n) in orgs(leads) {
        let org = OrgId::new(org).expect("static org id");
        let leads = demo_leads(seed, n);
        for chunk in leads.chunks(500) {
            let writes = chunk.chunks(25).map(|c| store.put_leads(&org, c));
            if let Err(e) = futures::future::try_join_all(writes).await {
                fail(1, e);
            }
        }
        cursors.bump(&org).await.unwrap_or_else(|e| fail(1, e));
        println!("seeded {n} demo leads for {org}");
    }
}
