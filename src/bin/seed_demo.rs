//! Creates the table and the bucket if missing and, unless `SEED=none`,
//! seeds deterministic demo leads in two organizations.

use lead_export::auth::OrgId;
use lead_export::demo::demo_leads;
use lead_export::store::DynamoStore;
use lead_export::{aws, config::Config};

/// The demo organizations and how many leads each gets.
const ORGS: &[(&str, u64, usize)] = &[("org-demo-a", 1, 3000), ("org-demo-b", 2, 1000)];

#[tokio::main]
async fn main() {
    let config = Config::from_env().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    let sdk = aws::sdk_config(&config).await;
    let dynamo = aws::dynamodb(&sdk);
    let fail = |e: String| -> ! {
        eprintln!("{e}");
        std::process::exit(1);
    };
    aws::ensure_table(&dynamo, &config.leads_table)
        .await
        .unwrap_or_else(|e| fail(e));
    aws::ensure_bucket(&aws::s3(&sdk, &config), &config.exports_bucket)
        .await
        .unwrap_or_else(|e| fail(e));
    if std::env::var("SEED").as_deref() == Ok("none") {
        println!(
            "table {} and bucket {} ready; SEED=none, nothing seeded",
            config.leads_table, config.exports_bucket
        );
        return;
    }
    let store = DynamoStore::new(dynamo, &config.leads_table);
    for (org, seed, n) in ORGS {
        let org = OrgId::new(*org).expect("static org id");
        let leads = demo_leads(*seed, *n);
        for chunk in leads.chunks(500) {
            let writes = chunk.chunks(25).map(|c| store.put_leads(&org, c));
            if let Err(e) = futures::future::try_join_all(writes).await {
                fail(e.to_string());
            }
        }
        println!("seeded {n} demo leads for {org}");
    }
}
