//! The AWS SDK, a leaf module: the shared SDK configuration and clients, the
//! retry policy, the classification of a failed SDK call
//! ([`fault_kind`]) and the one wrapper that turns it into a backend's error
//! ([`sdk_error`]), and provisioning of tables and buckets for local runs.

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::retry::RetryConfig;

use crate::config::Config;
use crate::error::{Fault, FaultKind};

/// The shared SDK configuration: region and credentials from the usual
/// chain, the retry policy. Endpoints are per client ([`dynamodb`], [`s3`]):
/// DynamoDB and S3 may be local emulators on different ports.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .load()
        .await
}

/// Calls the SDK makes for one request before giving up on throttling,
/// timeouts and 5xx (the standard retry mode, exponential backoff with jitter).
pub const SDK_MAX_ATTEMPTS: u32 = 3;

/// The SDK retry policy of every client: standard mode, [`SDK_MAX_ATTEMPTS`].
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(SDK_MAX_ATTEMPTS)
}

/// A DynamoDB client, at `endpoint` when given (a local DynamoDB:
/// [`Config::dynamodb_endpoint`]), else at the service's own endpoint.
///
/// Stalled-stream protection for downloads only: a DynamoDB request body is
/// a few kilobytes of JSON, and the upload check re-arms a timer for as long
/// as the request waits for its answer (`perf` of `make bench`: about
/// 1.5 ms of CPU per second of waiting). A stalled answer is still detected.
pub fn dynamodb(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::StalledStreamProtectionConfig;
    let mut config = aws_sdk_dynamodb::config::Builder::from(sdk).stalled_stream_protection(
        StalledStreamProtectionConfig::enabled()
            .upload_enabled(false)
            .build(),
    );
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

/// An S3 client, at `endpoint` when given (a local S3, addressed
/// path-style: [`Config::s3_endpoint`]), else at the service's own endpoint.
pub fn s3(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> aws_sdk_s3::Client {
    let mut config = aws_sdk_s3::config::Builder::from(sdk);
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(config.build())
}

/// An SQS client (the export jobs' queue), at `endpoint` when given (a
/// local SQS: [`Config::sqs_endpoint`]), else at the service's own
/// endpoint.
pub fn sqs(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> aws_sdk_sqs::Client {
    let mut config = aws_sdk_sqs::config::Builder::from(sdk);
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    aws_sdk_sqs::Client::from_conf(config.build())
}

/// The DynamoDB and S3 clients of `config`'s endpoints.
pub async fn clients(config: &Config) -> (aws_sdk_dynamodb::Client, aws_sdk_s3::Client) {
    let sdk = sdk_config().await;
    (
        dynamodb(&sdk, config.dynamodb_endpoint.as_deref()),
        s3(&sdk, config.s3_endpoint.as_deref()),
    )
}

/// Error codes of DynamoDB and S3 that say "slow down" or "try again": the
/// SDK's own throttling and transient lists, plus the 5xx codes.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalServerError",
    "ServiceUnavailable",
];

/// Whether a failed SDK call (after the SDK's own retries) may pass later:
/// throttling and timeout codes, 429 and 5xx answers, timeouts and
/// connection failures are [`FaultKind::Transient`]; anything else (access
/// denied, validation, a request we could not build) is `Other`.
pub fn fault_kind<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> FaultKind {
    let transient_status = |status: u16| status == 429 || status >= 500;
    let transient = match err {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(failure) => !failure.is_user(),
        SdkError::ResponseError(response) => transient_status(response.raw().status().as_u16()),
        SdkError::ServiceError(service) => {
            err.code()
                .is_some_and(|code| TRANSIENT_CODES.contains(&code))
                || transient_status(service.raw().status().as_u16())
        }
        _ => false,
    };
    if transient {
        FaultKind::Transient
    } else {
        FaultKind::Other
    }
}

/// The one wrapper of a failed SDK call: a [`Fault`] of its [`fault_kind`]
/// and a message for the log made of the operation and [`describe`]; each
/// backend's error type converts from it (`?`).
pub fn sdk_error<E>(op: impl std::fmt::Display) -> impl Fn(SdkError<E, HttpResponse>) -> Fault
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |e| Fault {
        kind: fault_kind(&e),
        message: format!("{op}: {}", describe(&e)),
    }
}

/// A failed SDK call by kind only: the service's error code and HTTP
/// status, or the kind of failure (timeout, dispatch failure, unreadable
/// response). Never the error's message, which DynamoDB and S3 may write
/// with values of the request (a key, an attribute value, an object key).
pub fn describe<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> String {
    match err {
        SdkError::ConstructionFailure(_) => "the request could not be built".into(),
        SdkError::TimeoutError(_) => "timeout".into(),
        SdkError::DispatchFailure(failure) => {
            let kind = if failure.is_timeout() {
                "timeout"
            } else if failure.is_io() {
                "io"
            } else if failure.is_user() {
                "user"
            } else {
                "other"
            };
            format!("dispatch failure ({kind})")
        }
        SdkError::ResponseError(response) => format!(
            "unreadable response (HTTP {})",
            response.raw().status().as_u16()
        ),
        SdkError::ServiceError(service) => format!(
            "{} (HTTP {})",
            error_code(err.code()),
            service.raw().status().as_u16()
        ),
        _ => "unknown SDK failure".into(),
    }
}

/// An error code as the log shows it: the code's own characters (letters,
/// digits, `.`, `_`, `-`, `:`, `#`) up to 64 of them, or `no error code`.
fn error_code(code: Option<&str>) -> String {
    match code {
        Some(code) if !code.is_empty() => code
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || ".-_:#".contains(*c))
            .take(64)
            .collect(),
        _ => "no error code".into(),
    }
}

/// Creates the leads table (on-demand; `orgId` / `leadId` keys) if it is
/// missing, and waits until it is active. For local runs and tests.
pub async fn ensure_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), String> {
    ensure_keyed_table(client, table, "orgId", "leadId").await
}

/// Creates an on-demand table keyed by the string attributes `hash` and
/// `range` if it is missing, and waits until it is active.
pub async fn ensure_keyed_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    hash: &str,
    range: &str,
) -> Result<(), String> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TableStatus,
    };
    let exists = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .is_ok();
    if !exists {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| e.to_string())
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| e.to_string())
        };
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr(hash)?)
            .attribute_definitions(attr(range)?)
            .key_schema(key(hash, KeyType::Hash)?)
            .key_schema(key(range, KeyType::Range)?)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "CreateTable {table}: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                )
            })?;
    }
    for _ in 0..100 {
        let out = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "DescribeTable {table}: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                )
            })?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(format!("table {table} did not become active"))
}

/// The error code of a DynamoDB without the time-to-live API (dynalite
/// answers `UpdateTimeToLive` with it; its `DescribeTimeToLive` answers
/// `DISABLED`).
const NO_TTL_API: &str = "UnknownOperationException";

/// [`ensure_keyed_table`], then time to live on the attribute `ttl` (a
/// no-op where it is already on). For local runs and tests: an emulator
/// without the time-to-live API ([`NO_TTL_API`], dynalite) gets the table
/// without it and a warning on stderr; any other error fails.
pub async fn ensure_keyed_table_with_ttl(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    hash: &str,
    range: &str,
    ttl: &str,
) -> Result<(), String> {
    ensure_keyed_table(client, table, hash, range).await?;
    let no_ttl_api = |op: &str| {
        eprintln!(
            "warning: {op} {table}: this DynamoDB has no time-to-live API ({NO_TTL_API}); the table keeps its items"
        );
    };
    let current = match client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
    {
        Ok(out) => out.time_to_live_description.and_then(|d| d.attribute_name),
        Err(e) if e.code() == Some(NO_TTL_API) => {
            no_ttl_api("DescribeTimeToLive");
            return Ok(());
        }
        Err(_) => None,
    };
    if current.as_deref() != Some(ttl) {
        let ttl = aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
            .attribute_name(ttl)
            .enabled(true)
            .build()
            .map_err(|e| e.to_string())?;
        match client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(ttl)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == Some(NO_TTL_API) => no_ttl_api("UpdateTimeToLive"),
            Err(e) => {
                return Err(format!(
                    "UpdateTimeToLive {table}: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                ))
            }
        }
    }
    Ok(())
}

/// Creates the exports bucket if it is missing. For local runs and tests.
pub async fn ensure_bucket(client: &aws_sdk_s3::Client, bucket: &str) -> Result<(), String> {
    if client.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    let mut create = client.create_bucket().bucket(bucket);
    let region = client.config().region().map(|r| r.to_string());
    if let Some(region) = region.filter(|r| r != "us-east-1") {
        create = create.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    region.as_str(),
                ))
                .build(),
        );
    }
    create.send().await.map_err(|e| {
        format!(
            "CreateBucket {bucket}: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&e)
        )
    })?;
    Ok(())
}
