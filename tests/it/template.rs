//! The function role in `template.yaml` grants exactly the AWS calls the
//! Lambda's code makes: the SDK operations called on a client in
//! `src/store/dynamodb.rs` and `src/deliver/s3.rs`, as IAM actions.

use std::collections::BTreeSet;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// SDK operations called on a client: `client` (after optional whitespace)
/// `.op()`, outside the file's `#[cfg(test)]` module.
fn client_calls(source: &str) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut calls = BTreeSet::new();
    for (at, _) in code.match_indices("client") {
        let rest = code[at + "client".len()..].trim_start();
        let Some(rest) = rest.strip_prefix('.') else {
            continue;
        };
        let op: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if !op.is_empty() && rest[op.len()..].starts_with("()") {
            calls.insert(op);
        }
    }
    calls
}

/// `batch_get_item` -> `BatchGetItem`.
fn pascal(op: &str) -> String {
    op.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The IAM action that authorizes an S3 operation.
fn s3_action(op: &str) -> String {
    match op {
        // A multipart upload is authorized by s3:PutObject as a whole.
        "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload" => "s3:PutObject".into(),
        other => format!("s3:{other}"),
    }
}

/// Calls in those files the Lambda never makes: `DynamoStore::put_leads`
/// serves the import tool, which runs with the user's own credentials.
const NOT_IN_THE_LAMBDA: &[&str] = &["dynamodb:BatchWriteItem"];

/// The actions of the function's inline policy (`Policies:` up to `Events:`).
fn template_actions(template: &str) -> BTreeSet<String> {
    let start = template
        .find("      Policies:")
        .expect("the function's Policies");
    let end = start + template[start..].find("      Events:").expect("Events");
    template[start..end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .filter(|a| a.starts_with("dynamodb:") || a.starts_with("s3:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_role_grants_exactly_the_calls_the_code_makes() {
    let dynamodb = client_calls(&read("src/store/dynamodb.rs"));
    let s3 = client_calls(&read("src/deliver/s3.rs"));
    assert!(dynamodb.contains("query"), "{dynamodb:?}");
    assert!(s3.contains("upload_part"), "{s3:?}");
    let mut called: BTreeSet<String> = dynamodb
        .iter()
        .map(|op| format!("dynamodb:{}", pascal(op)))
        .chain(s3.iter().map(|op| s3_action(&pascal(op))))
        .collect();
    for action in NOT_IN_THE_LAMBDA {
        assert!(called.remove(*action), "{action} is no longer called");
    }
    let granted = template_actions(&read("template.yaml"));
    assert_eq!(
        granted, called,
        "template.yaml's function policy vs the calls in the code"
    );
}

#[test]
fn the_scanner_finds_calls_across_lines() {
    let src = "let out = self\n    .client\n    .batch_get_item()\n    .send();\nclient.get_object().key(k);\nclient_id.len();\n#[cfg(test)]\nclient.scan()";
    let calls: Vec<String> = client_calls(src).into_iter().collect();
    assert_eq!(calls, ["batch_get_item", "get_object"]);
    assert_eq!(pascal("batch_get_item"), "BatchGetItem");
    assert_eq!(s3_action("UploadPart"), "s3:PutObject");
    assert_eq!(s3_action("AbortMultipartUpload"), "s3:AbortMultipartUpload");
}
