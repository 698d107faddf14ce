//! Imports JSON Lines lead documents into `LEADS_TABLE` for one organization,
//! then bumps its data version in `CURSORS_TABLE` (its position checkpoints
//! stop being used). Usage: import-leads <org> <file.jsonl | ->

use std::io::{BufRead, BufReader};

use indicatif::{ProgressBar, ProgressStyle};
use lead_export::auth::OrgId;
use lead_export::store::{CursorStore, DynamoCursors, DynamoStore};
use lead_export::{aws, import::import_jsonl};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [org, file] = args.as_slice() else {
        eprintln!("usage: import-leads <org> <file.jsonl | ->");
        std::process::exit(2);
    };
    let Some(org) = OrgId::new(org.clone()) else {
        eprintln!("the organization id must be 1 to 1024 bytes");
        std::process::exit(2);
    };
    let table = std::env::var("LEADS_TABLE")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "leads".into());
    let endpoint = lead_export::config::service_endpoint(|v| std::env::var(v).ok(), "DYNAMODB");
    let (input, total): (Box<dyn BufRead>, u64) = if file == "-" {
        (Box::new(BufReader::new(std::io::stdin())), 0)
    } else {
        match std::fs::read_to_string(file) {
            Ok(text) => {
                let lines = text.lines().count() as u64;
                (Box::new(std::io::Cursor::new(text)), lines)
            }
            Err(e) => {
                eprintln!("cannot read {file}: {e}");
                std::process::exit(2);
            }
        }
    };
    let cursors_table = std::env::var("CURSORS_TABLE")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "export-cursors".into());
    let sdk = aws::sdk_config().await;
    let dynamo = aws::dynamodb(&sdk, endpoint.as_deref());
    let store = DynamoStore::new(dynamo.clone(), &table);
    let cursors = DynamoCursors::new(dynamo, &cursors_table);
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} lines {elapsed_precise} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let result = import_jsonl(input, &store, &org, |n| bar.set_position(n as u64)).await;
    bar.finish_and_clear();
    // Whatever was written (even by a failed import) moves positions: the
    // organization's checkpoints stop being used.
    if let Err(e) = cursors.bump(&org).await {
        eprintln!("could not bump the data version in {cursors_table}: {e}");
        std::process::exit(1);
    }
    match result {
        Ok(report) => {
            for (line, reason) in &report.bad_lines {
                eprintln!("line {line}: {reason}");
            }
            println!(
                "imported {} leads into {table} for {org}; {} bad lines skipped",
                report.imported,
                report.bad_lines.len()
            );
            if !report.bad_lines.is_empty() {
                std::process::exit(3);
            }
        }
        Err(e) => {
            eprintln!("import failed: {e}");
            std::process::exit(1);
        }
    }
}
