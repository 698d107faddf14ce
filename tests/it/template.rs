//! The function roles in `template.yaml` grant exactly the AWS calls the
//! Lambdas' code makes: for the export function, the SDK operations called
//! on a client in `src/store/dynamodb.rs` (the leads table), `src/audit.rs`
//! (the audit table), `src/store/cursors.rs` (the cursors table) and
//! `src/deliver/s3.rs` (the bucket), as IAM actions, each on its own
//! resource; for the stream function, the version bump. The cursors table
//! and the leads table's stream are declared as the code needs them.

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
        // HeadObject is authorized by s3:GetObject (there is no
        // s3:HeadObject action).
        "HeadObject" => "s3:GetObject".into(),
        // Listing uploads is an action on the bucket, not on its objects.
        "ListMultipartUploads" => "s3:ListBucketMultipartUploads".into(),
        other => format!("s3:{other}"),
    }
}

/// Calls in those files the Lambda never makes: `DynamoStore::put_leads`
/// serves the import tool, which runs with the user's own credentials.
const NOT_IN_THE_LAMBDA: &[&str] = &["dynamodb:BatchWriteItem"];

/// The call of `src/store/cursors.rs` the export Lambda never makes: the
/// version bump (`CursorStore::bump`), made by the stream function and the
/// tools.
const BUMP: &str = "dynamodb:UpdateItem";

/// The statements of the export function's inline policy.
fn template_statements(template: &str) -> Vec<(BTreeSet<String>, String)> {
    function_statements(template, "ExportFunction")
}

/// The statements of `function`'s inline policy (`Policies:` up to
/// `Events:`), or of its role's when it has its own (`Role: !GetAtt
/// <role>.Arn`): each statement's actions and its `Resource:` line.
fn function_statements(template: &str, function: &str) -> Vec<(BTreeSet<String>, String)> {
    let text = resource(template, function);
    let policies = match text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Role: !GetAtt "))
    {
        // A role's trust statement has no `Sid`: only its policies' count.
        Some(role) => resource(template, role.trim().trim_end_matches(".Arn")),
        None => {
            let start = text
                .find("      Policies:")
                .expect("the function's Policies");
            let end = start + text[start..].find("      Events:").expect("Events");
            text[start..end].to_string()
        }
    };
    policies
        .split("- Sid:")
        .skip(1)
        .map(|statement| {
            let actions = statement
                .lines()
                .filter_map(|l| l.trim().strip_prefix("- "))
                .filter(|a| {
                    a.starts_with("dynamodb:") || a.starts_with("s3:") || a.starts_with("sqs:")
                })
                .map(str::to_string)
                .collect();
            let resource = statement
                .lines()
                .find_map(|l| l.trim().strip_prefix("Resource:"))
                .unwrap_or_default()
                .trim()
                .to_string();
            (actions, resource)
        })
        .collect()
}

/// The actions of the function's inline policy, all statements together.
fn template_actions(template: &str) -> BTreeSet<String> {
    template_statements(template)
        .into_iter()
        .flat_map(|(actions, _)| actions)
        .collect()
}

/// The actions granted on `resource` (the statement whose `Resource:` is it).
fn granted_on(template: &str, resource: &str) -> BTreeSet<String> {
    let found: Vec<_> = template_statements(template)
        .into_iter()
        .filter(|(_, r)| r == resource)
        .collect();
    assert_eq!(found.len(), 1, "one statement on {resource}: {found:?}");
    found.into_iter().next().unwrap().0
}

#[test]
fn the_role_grants_exactly_the_calls_the_code_makes() {
    let dynamodb = client_calls(&read("src/store/dynamodb.rs"));
    let audit = client_calls(&read("src/audit.rs"));
    let cursors = client_calls(&read("src/store/cursors.rs"));
    assert!(cursors.contains("batch_get_item"), "{cursors:?}");
    let s3 = client_calls(&read("src/deliver/s3.rs"));
    assert!(dynamodb.contains("query"), "{dynamodb:?}");
    assert!(audit.contains("put_item"), "{audit:?}");
    assert!(s3.contains("upload_part"), "{s3:?}");
    let as_dynamodb = |ops: &BTreeSet<String>| -> BTreeSet<String> {
        ops.iter()
            .map(|op| format!("dynamodb:{}", pascal(op)))
            .collect()
    };
    let mut leads = as_dynamodb(&dynamodb);
    for action in NOT_IN_THE_LAMBDA {
        assert!(leads.remove(*action), "{action} is no longer called");
    }
    let audit = as_dynamodb(&audit);
    let mut cursors = as_dynamodb(&cursors);
    assert!(cursors.remove(BUMP), "the bump is no longer called");
    let s3: BTreeSet<String> = s3.iter().map(|op| s3_action(&pascal(op))).collect();
    // Actions on the bucket itself; the rest on its objects.
    let (s3_bucket, s3): (BTreeSet<String>, BTreeSet<String>) =
        s3.into_iter().partition(|a| a.starts_with("s3:ListBucket"));
    let template = read("template.yaml");
    assert_eq!(
        granted_on(&template, "!GetAtt LeadsTable.Arn"),
        leads,
        "the leads table: template.yaml vs src/store/dynamodb.rs"
    );
    assert_eq!(
        granted_on(&template, "!GetAtt AuditTable.Arn"),
        audit,
        "the audit table: template.yaml vs src/audit.rs"
    );
    assert_eq!(
        granted_on(&template, "!GetAtt CursorsTable.Arn"),
        cursors,
        "the cursors table: template.yaml vs src/store/cursors.rs"
    );
    assert_eq!(
        granted_on(&template, "!Sub \"${ExportsBucket.Arn}/exports/*\""),
        s3,
        "the bucket's objects: template.yaml vs src/deliver/s3.rs"
    );
    assert_eq!(
        granted_on(&template, "!GetAtt ExportsBucket.Arn"),
        s3_bucket,
        "the bucket: template.yaml vs src/deliver/s3.rs"
    );
    let called: BTreeSet<String> = leads
        .into_iter()
        .chain(audit)
        .chain(cursors)
        .chain(s3)
        .chain(s3_bucket)
        .collect();
    assert_eq!(
        template_actions(&template),
        called,
        "template.yaml's function policy vs the calls in the code"
    );
}

/// The actions `function` is granted on `resource`, all its statements
/// together.
fn function_grants(template: &str, function: &str, resource: &str) -> BTreeSet<String> {
    function_statements(template, function)
        .into_iter()
        .filter(|(_, r)| r == resource)
        .flat_map(|(actions, _)| actions)
        .collect()
}

/// The export jobs' functions: the jobs table as `src/jobs/dynamodb.rs`
/// calls it, the queue's SendMessage of `src/jobs/sqs.rs` (its
/// ReceiveMessage and DeleteMessage are the in-process worker's of `make
/// run`, CreateQueue the local runs'; the worker's event source gets SAM's
/// receive and delete), the staged objects of `src/jobs/s3.rs`; the API
/// function stages and presigns but reads no lead; the worker reads leads
/// and checkpoints as the export does and writes the file.
#[test]
fn the_jobs_functions_grant_exactly_the_calls_their_code_makes() {
    let template = read("template.yaml");
    let dynamodb = |file: &str| -> BTreeSet<String> {
        client_calls(&read(file))
            .iter()
            .map(|op| format!("dynamodb:{}", pascal(op)))
            .collect()
    };
    let jobs_table = dynamodb("src/jobs/dynamodb.rs");
    assert_eq!(
        jobs_table,
        BTreeSet::from([
            "dynamodb:GetItem".to_string(),
            "dynamodb:PutItem".to_string()
        ])
    );
    let sqs: BTreeSet<String> = client_calls(&read("src/jobs/sqs.rs"))
        .iter()
        .map(|op| format!("sqs:{}", pascal(op)))
        .collect();
    let local_only = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:CreateQueue"];
    for op in local_only {
        assert!(sqs.contains(op), "{op} is no longer called");
    }
    let send: BTreeSet<String> = sqs
        .into_iter()
        .filter(|op| !local_only.contains(&op.as_str()))
        .collect();
    let staging: BTreeSet<String> = client_calls(&read("src/jobs/s3.rs"))
        .iter()
        .map(|op| s3_action(&pascal(op)))
        .collect();
    let audit = dynamodb("src/audit.rs");
    let objects = "!Sub \"${ExportsBucket.Arn}/exports/*\"";
    // What the worker's SQS event source mapping calls with its role.
    let mut receive = send.clone();
    receive.extend(
        [
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        ]
        .map(String::from),
    );
    for (function, queue) in [
        ("ExportJobsFunction", &send),
        ("ExportWorkerFunction", &receive),
    ] {
        let grants = |resource: &str| function_grants(&template, function, resource);
        assert_eq!(grants("!GetAtt JobsTable.Arn"), jobs_table, "{function}");
        assert_eq!(&grants("!GetAtt JobsQueue.Arn"), queue, "{function}");
        assert_eq!(grants("!GetAtt AuditTable.Arn"), audit, "{function}");
        let files = grants(objects);
        assert!(files.is_superset(&staging), "{function}: {files:?}");
        assert!(
            files.contains("s3:GetObject"),
            "{function}: presigns or reads"
        );
    }
    let api = |resource: &str| function_grants(&template, "ExportJobsFunction", resource);
    assert_eq!(api(objects), staging, "the API stages and presigns only");
    assert!(
        api("!GetAtt LeadsTable.Arn").is_empty(),
        "the API reads no lead"
    );
    let worker = |resource: &str| function_grants(&template, "ExportWorkerFunction", resource);
    let export = |resource: &str| function_grants(&template, "ExportFunction", resource);
    assert_eq!(
        worker("!GetAtt LeadsTable.Arn"),
        export("!GetAtt LeadsTable.Arn")
    );
    assert_eq!(
        worker("!GetAtt CursorsTable.Arn"),
        BTreeSet::from(["dynamodb:BatchGetItem".to_string()]),
        "the worker loads checkpoints, saves none"
    );
    let mut file = staging.clone();
    file.insert("s3:AbortMultipartUpload".into());
    assert_eq!(worker(objects), file);
    assert_eq!(
        worker("!GetAtt ExportsBucket.Arn"),
        BTreeSet::from(["s3:ListBucketMultipartUploads".to_string()])
    );
}

#[test]
fn the_queue_outlasts_a_step_and_has_a_dead_letter_queue() {
    let template = template_yaml();
    let resources = &template["Resources"];
    let timeout = resources["ExportWorkerFunction"]["Properties"]["Timeout"]
        .as_u64()
        .unwrap();
    let queue = &resources["JobsQueue"]["Properties"];
    let visibility = queue["VisibilityTimeout"].as_u64().unwrap();
    assert!(
        visibility > timeout,
        "{visibility} s <= a step's {timeout} s"
    );
    // One delivery more than a job's attempts: a step killed on the last
    // attempt (it fails nothing) leaves one delivery to fail the job before
    // the message is dead-lettered. With as many, the job stayed RUNNING.
    assert_eq!(
        queue["RedrivePolicy"]["maxReceiveCount"].as_u64(),
        Some(lead_export::jobs::MAX_ATTEMPTS as u64 + 1)
    );
    let event = &resources["ExportWorkerFunction"]["Properties"]["Events"]["Steps"]["Properties"];
    assert_eq!(event["BatchSize"].as_u64(), Some(1));
    assert_eq!(
        event["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
    let table = &resources["JobsTable"]["Properties"];
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(lead_export::jobs::dynamodb::TTL_ATTRIBUTE)
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

#[test]
fn the_stream_function_reads_only_its_stream_and_may_only_bump_versions() {
    let template = template_yaml();
    let function = &template["Resources"]["LeadStreamFunction"]["Properties"];
    // Its own role: SAM `Policies` would make SAM attach
    // AWSLambdaDynamoDBExecutionRole, stream actions on every stream.
    assert!(function.get("Policies").is_none(), "{function:?}");
    assert_eq!(cfn(&function["Role"]), "!GetAtt LeadStreamRole.Arn");
    let role = &template["Resources"]["LeadStreamRole"]["Properties"];
    let managed: Vec<String> = role["ManagedPolicyArns"]
        .as_sequence()
        .expect("managed policies")
        .iter()
        .map(cfn)
        .collect();
    assert_eq!(
        managed,
        ["!Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]
    );
    assert_eq!(
        cfn(&role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]),
        "lambda.amazonaws.com"
    );
    let statements: Vec<(BTreeSet<String>, String)> = role["Policies"]
        .as_sequence()
        .expect("inline policies")
        .iter()
        .flat_map(|p| {
            p["PolicyDocument"]["Statement"]
                .as_sequence()
                .expect("statements")
        })
        .map(|st| {
            assert_eq!(st["Effect"].as_str(), Some("Allow"));
            let actions = st["Action"]
                .as_sequence()
                .expect("actions")
                .iter()
                .map(cfn)
                .collect();
            (actions, cfn(&st["Resource"]))
        })
        .collect();
    let set = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        statements,
        [
            (
                set(&[
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                    "dynamodb:ListStreams"
                ]),
                "!Sub ${LeadsTable.Arn}/stream/*".to_string()
            ),
            (set(&[BUMP]), "!GetAtt CursorsTable.Arn".to_string()),
        ]
    );
    // The stream it reads is that table's; the bump it makes is the
    // UpdateItem of cursors.rs.
    let events = &function["Events"]["LeadWrites"];
    assert_eq!(cfn(&events["Type"]), "DynamoDB");
    assert_eq!(
        cfn(&events["Properties"]["Stream"]),
        "!GetAtt LeadsTable.StreamArn"
    );
    assert!(client_calls(&read("src/store/cursors.rs")).contains("update_item"));
    let text = resource(&read("template.yaml"), "LeadStreamFunction");
    for line in ["Binary: lead-stream", "CURSORS_TABLE: !Ref CursorsTable"] {
        assert!(text.contains(line), "LeadStreamFunction: {line}");
    }
}

/// SAM attaches a managed policy for a function's DynamoDB stream or SQS
/// event source to the role it generates (`AWSLambdaDynamoDBExecutionRole`,
/// `AWSLambdaSQSQueueExecutionRole`), and those grant their actions on every
/// stream or queue of the account: a function with such an event has a role
/// of its own, scoped to its source.
#[test]
fn no_event_source_gets_a_policy_on_every_stream_or_queue() {
    let template = template_yaml();
    let resources = template["Resources"].as_mapping().expect("resources");
    let mut checked = 0;
    for (name, res) in resources {
        if res["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let props = &res["Properties"];
        let Some(events) = props["Events"].as_mapping() else {
            continue;
        };
        let polled = events
            .values()
            .any(|e| matches!(e["Type"].as_str(), Some("DynamoDB" | "SQS" | "Kinesis")));
        if !polled {
            continue;
        }
        checked += 1;
        assert!(
            props.get("Policies").is_none(),
            "{name:?}: SAM Policies with a stream or queue event"
        );
        let role = cfn(&props["Role"]);
        let role = role
            .strip_prefix("!GetAtt ")
            .and_then(|r| r.strip_suffix(".Arn"))
            .unwrap_or_else(|| panic!("{name:?}: its role is one of the template's"));
        let role = &template["Resources"][role]["Properties"];
        for arn in role["ManagedPolicyArns"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            assert!(
                cfn(arn).ends_with("/AWSLambdaBasicExecutionRole"),
                "{name:?}: a managed policy beyond the logs: {arn:?}"
            );
        }
        for policy in role["Policies"].as_sequence().expect("inline policies") {
            for st in policy["PolicyDocument"]["Statement"]
                .as_sequence()
                .expect("statements")
            {
                assert_ne!(cfn(&st["Resource"]), "*", "{name:?}: {st:?}");
            }
        }
    }
    assert_eq!(checked, 2, "the stream function and the jobs worker");
}

/// A scalar of the template as written: `!Tag value` for CloudFormation's
/// short forms.
fn cfn(value: &serde_norway::Value) -> String {
    match value {
        serde_norway::Value::Tagged(tagged) => {
            format!("{} {}", tagged.tag, cfn(&tagged.value))
        }
        serde_norway::Value::String(s) => s.clone(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// The text of the top-level resource `name` (up to the next one).
fn resource(template: &str, name: &str) -> String {
    let at = template
        .find(&format!("\n  {name}:\n"))
        .unwrap_or_else(|| panic!("the resource {name}"));
    let body = &template[at + name.len() + 4..];
    let end = body
        .lines()
        .scan(0, |offset, line| {
            let here = *offset;
            *offset += line.len() + 1;
            Some((here, line))
        })
        .find(|(_, l)| {
            l.len() > 2
                && l.starts_with("  ")
                && !l.starts_with("   ")
                && !l.trim_start().starts_with('#')
        })
        .map_or(body.len(), |(at, _)| at);
    body[..end].to_string()
}

#[test]
fn the_cursors_table_and_the_leads_stream_are_as_the_code_needs() {
    let template = read("template.yaml");
    let cursors = resource(&template, "CursorsTable");
    for line in [
        "Type: AWS::DynamoDB::Table",
        "AttributeName: orgId",
        "AttributeName: key",
        "AttributeName: expiresAt",
        "Enabled: true",
    ] {
        assert!(cursors.contains(line), "CursorsTable: {line}\n{cursors}");
    }
    // The names the code reads and writes.
    assert_eq!(lead_export::store::cursors::PARTITION_KEY, "orgId");
    assert_eq!(lead_export::store::cursors::SORT_KEY, "key");
    assert_eq!(lead_export::store::cursors::TTL_ATTRIBUTE, "expiresAt");
    let leads = resource(&template, "LeadsTable");
    assert!(leads.contains("StreamViewType: KEYS_ONLY"), "{leads}");
    let export = resource(&template, "ExportFunction");
    assert!(export.contains("CURSORS_TABLE: !Ref CursorsTable"));
}

#[test]
fn the_stream_never_drops_a_batch_of_lead_writes() {
    // A dropped batch is a data version not bumped: checkpoints recorded
    // before the writes would go on being used (docs/scale.md).
    let template = template_yaml();
    let events = &template["Resources"]["LeadStreamFunction"]["Properties"]["Events"];
    let event = events
        .as_mapping()
        .and_then(|m| m.values().next())
        .expect("the stream function has its event source");
    assert_eq!(event["Type"].as_str(), Some("DynamoDB"));
    let p = &event["Properties"];
    // -1: retried until it passes or its records expire; absent is -1 too.
    for key in ["MaximumRetryAttempts", "MaximumRecordAgeInSeconds"] {
        let value = p.get(key).map(|v| v.as_i64());
        assert!(
            matches!(value, None | Some(Some(-1))),
            "{key}: {:?}",
            p.get(key)
        );
    }
    assert_eq!(p["BisectBatchOnFunctionError"].as_bool(), Some(true));
    assert_eq!(events.as_mapping().map(|m| m.len()), Some(1));
}

#[test]
fn a_job_message_never_expires_unreported() {
    // An expired message goes to no dead-letter queue: its job would stay
    // PENDING or RUNNING for good. So the queue keeps messages as long as
    // SQS allows, and an alarm reports a backlog long before that, above
    // the age that retries alone reach.
    let template = template_yaml();
    let resources = &template["Resources"];
    let queue = &resources["JobsQueue"]["Properties"];
    assert_eq!(
        queue["MessageRetentionPeriod"].as_u64(),
        Some(14 * 24 * 3600),
        "SQS's longest retention"
    );
    let visibility = queue["VisibilityTimeout"].as_u64().unwrap();
    let receives = queue["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap();
    let alarm = &resources["JobsBacklogAlarm"]["Properties"];
    assert_eq!(alarm["Namespace"].as_str(), Some("AWS/SQS"));
    assert_eq!(
        alarm["MetricName"].as_str(),
        Some("ApproximateAgeOfOldestMessage")
    );
    assert!(
        format!("{:?}", alarm["Dimensions"][0]["Value"]).contains("JobsQueue.QueueName"),
        "{:?}",
        alarm["Dimensions"]
    );
    assert_eq!(alarm["Statistic"].as_str(), Some("Maximum"));
    let threshold = alarm["Threshold"].as_u64().unwrap();
    assert!(
        threshold > receives * visibility,
        "{threshold} s: retries alone reach {} s",
        receives * visibility
    );
    assert!(threshold <= 24 * 3600, "{threshold} s: a day at most");
}

/// `template.yaml` as YAML (CloudFormation's `!Ref`, `!Sub` ... read as
/// tagged values).
fn template_yaml() -> serde_norway::Value {
    serde_norway::from_str(&read("template.yaml")).expect("template.yaml is YAML")
}

#[test]
fn the_bucket_aborts_incomplete_uploads_and_outlives_every_link() {
    let template = template_yaml();
    let rules = template["Resources"]["ExportsBucket"]["Properties"]["LifecycleConfiguration"]
        ["Rules"]
        .as_sequence()
        .expect("the exports bucket has lifecycle rules");
    let enabled = |r: &&serde_norway::Value| r["Status"].as_str() == Some("Enabled");
    // Every prefix an export is written under is covered (keys start
    // `exports/`, docs/delivery.md); a rule without a prefix covers all.
    let covers_exports = |r: &&serde_norway::Value| {
        let prefix = r["Prefix"]
            .as_str()
            .or_else(|| r["Filter"]["Prefix"].as_str())
            .unwrap_or("");
        "exports/".starts_with(prefix)
    };
    let abort_days: Vec<u64> = rules
        .iter()
        .filter(enabled)
        .filter(covers_exports)
        .filter_map(|r| r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"].as_u64())
        .collect();
    assert!(
        !abort_days.is_empty(),
        "no enabled lifecycle rule over exports/ aborts incomplete multipart uploads"
    );
    // The soonest an export object can be deleted: S3 expires objects no
    // sooner than ExpirationInDays whole days after their creation.
    let expiry_days: Vec<u64> = rules
        .iter()
        .filter(enabled)
        .filter(covers_exports)
        .filter_map(|r| r["ExpirationInDays"].as_u64())
        .collect();
    let soonest = expiry_days
        .iter()
        .min()
        .map(|d| d * 86_400)
        .expect("export objects expire");
    let ttl = &template["Parameters"]["ExportUrlTtlSeconds"];
    let longest_link = ttl["MaxValue"]
        .as_u64()
        .expect("ExportUrlTtlSeconds has a MaxValue");
    assert!(
        longest_link <= soonest,
        "a presigned link may live {longest_link} s, but its object expires after {soonest} s"
    );
    // The default is within the bounds too.
    let default = ttl["Default"].as_u64().expect("a default TTL");
    assert!((1..=longest_link).contains(&default), "{default}");
}

/// The alarms: each notifies `AlarmTopicArn` (when set) as it fires and
/// clears, and treats missing data as no alarm; the jobs alarm watches the
/// EMF metric the worker writes (`observe::job_emf_line`), under the
/// namespace, metric, dimension and outcome codes the code emits; the
/// function alarm covers every function of the template.
#[test]
fn the_alarms_watch_what_the_code_emits_and_notify_the_topic() {
    let template = template_yaml();
    let resources = template["Resources"].as_mapping().expect("resources");
    let alarms: Vec<(&str, &serde_norway::Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .map(|(name, r)| (name.as_str().unwrap(), &r["Properties"]))
        .collect();
    let names: BTreeSet<&str> = alarms.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "ApiServerErrorsAlarm",
            "FunctionErrorsAlarm",
            "JobsBacklogAlarm",
            "JobsDeadLetterAlarm",
            "JobsFailedAlarm"
        ])
    );
    for (name, alarm) in &alarms {
        assert_eq!(
            alarm["TreatMissingData"].as_str(),
            Some("notBreaching"),
            "{name}"
        );
        for actions in ["AlarmActions", "OKActions"] {
            let tagged = format!("{:?}", alarm[actions]);
            assert!(
                tagged.contains("HasAlarmTopic") && tagged.contains("AlarmTopicArn"),
                "{name}: {actions} {tagged}"
            );
        }
    }
    // What a failed job's EMF line holds, from the code.
    let err = lead_export::error::ExportError::internal("a fault");
    let unavailable = lead_export::error::ExportError::Unavailable("throttled".into());
    let codes: BTreeSet<String> = [err, unavailable]
        .iter()
        .map(|e| lead_export::jobs::step::failure_of(e).code)
        .collect();
    let line: serde_json::Value = serde_json::from_str(&lead_export::observe::job_emf_line(
        &lead_export::observe::JobEnd {
            job_id: "j",
            code: "INTERNAL_ERROR",
            rows: 0,
            bytes: 0,
            duration: std::time::Duration::ZERO,
            steps: 1,
        },
        time::OffsetDateTime::UNIX_EPOCH,
    ))
    .unwrap();
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    let alarm = |name: &str| &template["Resources"][name]["Properties"];
    let jobs = alarm("JobsFailedAlarm");
    let mut watched = BTreeSet::new();
    for metric in jobs["Metrics"].as_sequence().unwrap() {
        let stat = &metric["MetricStat"];
        if stat.is_null() {
            continue;
        }
        let m = &stat["Metric"];
        assert_eq!(m["Namespace"].as_str(), directive["Namespace"].as_str());
        let name = m["MetricName"].as_str().unwrap();
        assert!(
            directive["Metrics"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["Name"] == name),
            "{name} is a metric of the line"
        );
        let dimension = &m["Dimensions"][0];
        assert_eq!(
            serde_json::json!([[dimension["Name"].as_str().unwrap()]]),
            directive["Dimensions"]
        );
        assert_eq!(stat["Stat"].as_str(), Some("SampleCount"));
        watched.insert(dimension["Value"].as_str().unwrap().to_string());
    }
    assert_eq!(
        watched, codes,
        "the outcomes of a job failed by the service"
    );
    // Every function's errors, and the dead-letter queue of the jobs.
    let function_alarm = format!("{:?}", alarm("FunctionErrorsAlarm"));
    for (name, r) in resources {
        if r["Type"].as_str() == Some("AWS::Serverless::Function") {
            let name = name.as_str().unwrap();
            assert!(function_alarm.contains(&format!("\"{name}\"")), "{name}");
        }
    }
    let dlq = format!("{:?}", alarm("JobsDeadLetterAlarm")["Dimensions"]);
    assert!(dlq.contains("JobsDeadLetterQueue.QueueName"), "{dlq}");
}
