//! Building the SDK clients and the handler's `App` from the configuration,
//! once per process.

use std::sync::Arc;

use aws_config::BehaviorVersion;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::deliver::{inline_limit, s3::S3Objects};
use crate::http::App;
use crate::store::DynamoStore;

/// The shared SDK configuration: region and credentials from the usual
/// chain, `AWS_ENDPOINT_URL` honoured for a local endpoint.
pub async fn sdk_config(config: &Config) -> aws_config::SdkConfig {
    sdk_config_for(config.endpoint_url.as_deref()).await
}

/// The shared SDK configuration for an optional local endpoint.
pub async fn sdk_config_for(endpoint_url: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(endpoint) = endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// A DynamoDB client.
pub fn dynamodb(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}

/// An S3 client; path-style addressing against a local endpoint.
pub fn s3(sdk: &aws_config::SdkConfig, config: &Config) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(config.endpoint_url.is_some())
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
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
    }
}

/// Creates the leads table (on-demand; `orgId` / `leadId` keys) if it is
/// missing, and waits until it is active. For local runs and tests.
pub async fn ensure_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), String> {
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
            .attribute_definitions(attr("orgId")?)
            .attribute_definitions(attr("leadId")?)
            .key_schema(key("orgId", KeyType::Hash)?)
            .key_schema(key("leadId", KeyType::Range)?)
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
