//! Lists an organization's most recent audit records, newest first, as a
//! table: `make audit ORG=<org> [LIMIT=20]`. Reads `AUDIT_TABLE` at
//! `AWS_ENDPOINT_URL` (moto), or real AWS when it is unset.
//! Usage: audit-log <org> [limit]

use lead_export::audit::{AuditRecord, PARTITION_KEY};
use lead_export::aws;

/// Records shown unless a limit is given.
const DEFAULT_LIMIT: i32 = 20;
/// The most records one call lists.
const MAX_LIMIT: i32 = 1000;

fn fail(code: i32, message: impl std::fmt::Display) -> ! {
    eprintln!("{message}");
    std::process::exit(code);
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (org, limit) = match args.as_slice() {
        [org] => (org.clone(), DEFAULT_LIMIT),
        [org, limit] => match limit.parse::<i32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => (org.clone(), n),
            _ => fail(2, format!("limit must be 1..{MAX_LIMIT}, got {limit:?}")),
        },
        _ => fail(2, "usage: audit-log <org> [limit]"),
    };
    if org.is_empty() {
        fail(2, "usage: audit-log <org> [limit]");
    }
    let table = std::env::var("AUDIT_TABLE")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "export-audit".into());
    let endpoint = lead_export::config::service_endpoint(|v| std::env::var(v).ok(), "DYNAMODB");
    let sdk = aws::sdk_config().await;
    let out = aws::dynamodb(&sdk, endpoint.as_deref())
        .query()
        .table_name(&table)
        .key_condition_expression("#pk = :org")
        .expression_attribute_names("#pk", PARTITION_KEY)
        .expression_attribute_values(
            ":org",
            aws_sdk_dynamodb::types::AttributeValue::S(org.clone()),
        )
        .scan_index_forward(false)
        .limit(limit)
        .send()
        .await
        .unwrap_or_else(|e| {
            fail(
                1,
                format!(
                    "Query {table}: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                ),
            )
        });
    let records: Vec<AuditRecord> = out
        .items()
        .iter()
        .map(|item| AuditRecord::from_item(item).unwrap_or_else(|e| fail(1, e)))
        .collect();
    if records.is_empty() {
        println!("no audit records for {org} in {table}");
        return;
    }
    print!("{}", table_text(&records));
    println!(
        "{} most recent record(s) of {org} in {table}, newest first",
        records.len()
    );
}

/// The records as aligned columns under a header row.
fn table_text(records: &[AuditRecord]) -> String {
    let header = [
        "TIME (UTC)",
        "STATUS",
        "CODE",
        "USER",
        "MODE",
        "COUNT",
        "BYTES",
        "FORMAT",
        "FIELDS",
        "SELECTION",
        "REQUEST ID",
        "JOB",
        "DESTINATION",
    ];
    let dash = || "-".to_string();
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.time_text(),
                r.status.to_string(),
                r.code.clone(),
                r.user.clone().unwrap_or_else(dash),
                r.mode.clone().unwrap_or_else(dash),
                r.count.map(|c| c.to_string()).unwrap_or_else(dash),
                r.bytes.map(|b| b.to_string()).unwrap_or_else(dash),
                r.format.clone().unwrap_or_else(dash),
                r.fields.len().to_string(),
                r.selection_hash
                    .as_deref()
                    .map(|h| h[..h.len().min(12)].to_string())
                    .unwrap_or_else(dash),
                r.request_id.clone(),
                r.job_id.clone().unwrap_or_else(dash),
                match (&r.destination, &r.s3_key) {
                    (Some(_), Some(key)) => format!("s3 {key}"),
                    (Some(d), None) => d.clone(),
                    _ => dash(),
                },
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let mut text = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        text.truncate(text.trim_end().len());
        text + "\n"
    };
    let mut out = line(header.to_vec());
    for row in &rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}
