//! Loading JSON Lines lead documents into the table for one organization.
//! A bad line is reported with its number and does not stop the others.

use std::io::BufRead;

use futures::{StreamExt, TryStreamExt};

use crate::auth::OrgId;
use crate::model::Lead;
use crate::request::MAX_ID_BYTES;
use crate::store::dynamodb::{
    item_size, lead_to_item, DynamoStore, BATCH_WRITE_ITEMS, MAX_ITEM_BYTES,
};

/// Leads written per batch group (several BatchWriteItem calls in flight).
const GROUP: usize = BATCH_WRITE_ITEMS * 8;
/// BatchWriteItem calls in flight at once.
const CONCURRENCY: usize = 8;

/// What an import did.
#[derive(Debug, Default, PartialEq)]
pub struct ImportReport {
    /// Leads written.
    pub imported: usize,
    /// `(line number, reason)` of each line that was skipped.
    pub bad_lines: Vec<(usize, String)>,
}

/// Parses one JSON Lines line into a lead: an object with a non-empty string
/// `id` (at most 1024 bytes) and string `firstName` and `lastName`.
pub fn parse_line(line: &str) -> Result<Lead, String> {
    // serde_json's messages quote what they could not read: a line is
    // reported by the error's position and kind only.
    let value: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| format!("not valid JSON (at column {})", e.column()))?;
    let obj = value.as_object().ok_or("not a JSON object")?;
    match obj.get("id").and_then(|v| v.as_str()) {
        Some(id) if !id.is_empty() && id.len() <= MAX_ID_BYTES => {}
        _ => return Err("id must be a non-empty string of at most 1024 bytes".into()),
    }
    for key in ["firstName", "lastName"] {
        if !obj.get(key).is_some_and(|v| v.is_string()) {
            return Err(format!("{key} must be a string"));
        }
    }
    serde_json::from_value(value)
        .map_err(|_| "not a lead document: a member has the wrong type".to_string())
}

/// `lead`, unless its stored item is over DynamoDB's [`MAX_ITEM_BYTES`]
/// (DynamoDB would refuse the whole batch holding it).
fn fits_an_item(org: &OrgId, lead: Lead) -> Result<Lead, String> {
    let item = lead_to_item(org, &lead).map_err(|e| e.to_string())?;
    let size = item_size(&item);
    if size > MAX_ITEM_BYTES {
        return Err(format!(
            "the lead is {size} bytes as a DynamoDB item, over the {MAX_ITEM_BYTES}-byte item limit"
        ));
    }
    Ok(lead)
}

/// Imports every good line of `input` into `store` for `org`, calling
/// `progress` with the number of lines read so far.
pub async fn import_jsonl(
    input: impl BufRead,
    store: &DynamoStore,
    org: &OrgId,
    mut progress: impl FnMut(usize),
) -> Result<ImportReport, String> {
    let mut report = ImportReport::default();
    let mut batch = Vec::with_capacity(GROUP);
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| format!("reading line {number}: {e}"))?;
        progress(number);
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(&line).and_then(|lead| fits_an_item(org, lead)) {
            Ok(lead) => batch.push(lead),
            Err(reason) => report.bad_lines.push((number, reason)),
        }
        if batch.len() >= GROUP {
            report.imported += write(store, org, std::mem::take(&mut batch)).await?;
        }
    }
    report.imported += write(store, org, batch).await?;
    Ok(report)
}

async fn write(store: &DynamoStore, org: &OrgId, leads: Vec<Lead>) -> Result<usize, String> {
    let n = leads.len();
    futures::stream::iter(leads.chunks(BATCH_WRITE_ITEMS))
        .map(|chunk| store.put_leads(org, chunk))
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await
        .map_err(|e| e.to_string())?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_line_reasons() {
        assert!(parse_line(r#"{"id":"a","firstName":"A","lastName":"B"}"#).is_ok());
        assert_eq!(parse_line("{").unwrap_err(), "not valid JSON (at column 1)");
        let quoted = r#"{"id":"a","firstName":"Zelphine","lastName":"B","emails":"z@x.example"}"#;
        let reason = parse_line(quoted).unwrap_err();
        assert!(!reason.contains("z@x.example"), "{reason}");
        let reason = parse_line(r#"{"id":"a","firstName":"Zelphine" "#).unwrap_err();
        assert!(!reason.contains("Zelphine"), "{reason}");
        assert_eq!(parse_line("[]").unwrap_err(), "not a JSON object");
        assert!(parse_line(r#"{"firstName":"A","lastName":"B"}"#)
            .unwrap_err()
            .starts_with("id"));
        assert_eq!(
            parse_line(r#"{"id":"a","lastName":"B"}"#).unwrap_err(),
            "firstName must be a string"
        );
        assert!(
            parse_line(r#"{"id":"a","firstName":"A","lastName":"B","emails":"x"}"#)
                .unwrap_err()
                .starts_with("not a lead document")
        );
    }
}
