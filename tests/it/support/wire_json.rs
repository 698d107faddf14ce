//! An item as DynamoDB's JSON: the body a Query or BatchGetItem answer
//! carries. Used by `tests/it/wire.rs`, `tests/it/store_dynamodb.rs` and by
//! `benches/hot_paths.rs` (through `#[path]`).

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use serde_json::{json, Value};

use lead_export::store::dynamodb::Item;

/// `item` as DynamoDB's JSON (the kinds a lead's item holds).
pub fn wire_json(item: &Item) -> Value {
    item.iter()
        .map(|(k, v)| {
            let v = match v {
                AttributeValue::S(s) => json!({ "S": s }),
                AttributeValue::N(n) => json!({ "N": n }),
                AttributeValue::Ss(s) => json!({ "SS": s }),
                AttributeValue::B(b) => {
                    json!({ "B": base64::engine::general_purpose::STANDARD.encode(b.as_ref()) })
                }
                other => panic!("not in a lead's item: {other:?}"),
            };
            (k.clone(), v)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}
