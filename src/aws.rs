//! Building the SDK clients and the handler's `App` from the configuration,
//! once per process.

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::retry::RetryConfig;

use crate::audit::{Audit, DynamoAuditLog};
use crate::auth::Authenticator;
use crate::config::Config;
use crate::deliver::{inline_limit, s3::S3Objects};
use crate::error::FaultKind;
use crate::http::App;
use crate::store::DynamoStore;

/// The shared SDK configuration: region and credentials from the usual
/// chain, `AWS_ENDPOINT_URL` honoured for a local endpoint.
pub async fn sdk_config(config: &Config) -> aws_config::SdkConfig {
    sdk_config_for(config.endpoint_url.as_deref()).await
}

/// Calls the SDK makes for one request before giving up on throttling,
/// timeouts and 5xx (the standard retry mode, exponential backoff with jitter).
pub const SDK_MAX_ATTEMPTS: u32 = 3;

/// The SDK retry policy of every client: standard mode, [`SDK_MAX_ATTEMPTS`].
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(SDK_MAX_ATTEMPTS)
}

/// The shared SDK configuration for an optional local endpoint.
pub async fn sdk_config_for(endpoint_url: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry_config());
    if let Some(endpoint) = endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// A DynamoDB client.
///
/// Stalled-stream protection for downloads only: a DynamoDB request body is
/// a few kilobytes of JSON, and the upload check re-arms a timer for as long
/// as the request waits for its answer (`perf` of `make bench`: about
/// 1.5 ms of CPU per second of waiting). A stalled answer is still detected.
pub fn dynamodb(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::StalledStreamProtectionConfig;
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .stalled_stream_protection(
            StalledStreamProtectionConfig::enabled()
                .upload_enabled(false)
                .build(),
        )
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// An S3 client; path-style addressing against a local endpoint.
pub fn s3(sdk: &aws_config::SdkConfig, config: &Config) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(config.endpoint_url.is_some())
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
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

/// The handler's dependencies, on DynamoDB and S3.
pub async fn app(config: &Config) -> App {
    let sdk = sdk_config(config).await;
    App {
        auth: Authenticator::new(config.jwt.clone()),
        store: Arc::new(DynamoStore::new(dynamodb(&sdk), &config.leads_table)),
        objects: Arc::new(S3Objects::new(s3(&sdk, config), &config.exports_bucket)),
        inline_limit: inline_limit(config.inline_max_bytes),
        url_ttl: config.export_url_ttl,
        timeout: config.export_timeout,
        audit: Audit {
            log: Arc::new(DynamoAuditLog::new(dynamodb(&sdk), &config.audit_table)),
            retention_days: config.audit_retention_days,
        },
        metrics: Arc::new(crate::observe::StdoutMetrics),
    }
}

/// Creates the leads table (on-demand; `orgId` / `leadId` keys) if it is
/// missing, and waits until it is active. For local runs and tests.
pub async fn ensure_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), String> {
    ensure_keyed_table(client, table, "orgId", "leadId").await
}

/// Creates an on-demand table keyed by the string attributes `hash` and
/// `range` if it is missing, and waits until it is active.
async fn ensure_keyed_table(
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

/// Creates the audit table (on-demand; `orgId` / `sk` keys, TTL on
/// `expiresAt`) if it is missing, and waits until it is active. For local
/// runs and tests; `template.yaml` declares it for a deployment.
pub async fn ensure_audit_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(), String> {
    use crate::audit::{PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};
    ensure_keyed_table(client, table, PARTITION_KEY, SORT_KEY).await?;
    let current = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .ok()
        .and_then(|out| out.time_to_live_description)
        .and_then(|d| d.attribute_name);
    if current.as_deref() != Some(TTL_ATTRIBUTE) {
        let ttl = aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
            .attribute_name(TTL_ATTRIBUTE)
            .enabled(true)
            .build()
            .map_err(|e| e.to_string())?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "UpdateTimeToLive {table}: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                )
            })?;
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
