//! Shared by the integration tests: apps over in-memory or moto-backed
//! stores, tokens, and API Gateway events.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lambda_http::{Body, Request, Response};
use lead_export::auth::{sign_hs256, Authenticator};
use lead_export::config::Config;
use lead_export::deliver::memory::MemoryObjects;
use lead_export::deliver::{inline_limit, ObjectMeta, ObjectStore, ObjectStoreError};
use lead_export::demo::demo_leads;
use lead_export::http::App;
use lead_export::store::{LeadStore, MemoryStore};

/// The secret the event fixtures are signed with.
pub const DEV_SECRET: &str = "dev-secret-change-me";
pub const ORG_A: &str = "org-demo-a";
pub const ORG_B: &str = "org-demo-b";

/// A configuration from `vars` (JWT_SECRET defaults to the dev secret).
pub fn config(vars: &[(&str, &str)]) -> Config {
    let mut map: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if !map.contains_key("JWT_PUBLIC_KEY") && !map.contains_key("JWT_JWKS") {
        map.entry("JWT_SECRET".into()).or_insert(DEV_SECRET.into());
    }
    Config::from_lookup(|k| map.get(k).cloned()).expect("test config")
}

/// The demo data of `make run`: 3000 leads in org A, 1000 in org B.
pub fn demo_store() -> Arc<MemoryStore> {
    let store = MemoryStore::new();
    store.insert(ORG_A, demo_leads(1, 3000));
    store.insert(ORG_B, demo_leads(2, 1000));
    Arc::new(store)
}

pub fn app_with(config: &Config, store: Arc<dyn LeadStore>, objects: Arc<dyn ObjectStore>) -> App {
    App {
        auth: Authenticator::new(config.jwt.clone()),
        store,
        objects,
        inline_limit: inline_limit(config.inline_max_bytes),
        url_ttl: config.export_url_ttl,
        timeout: config.export_timeout,
    }
}

/// An app over the demo data with in-memory objects.
pub fn demo_app() -> (App, Arc<MemoryObjects>) {
    let objects = Arc::new(MemoryObjects::new());
    (
        app_with(&config(&[]), demo_store(), objects.clone()),
        objects,
    )
}

pub fn token(org: &str) -> String {
    sign_hs256(DEV_SECRET.as_bytes(), "org_id", org, 600, None, None).unwrap()
}

/// A POST of `body` as an HTTP API event would deliver it.
pub fn post(body: &str, headers: &[(&str, &str)]) -> Request {
    let mut builder = http::Request::builder()
        .method("POST")
        .uri("https://api.example.com/api/v1/operations/export");
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

pub fn post_as(org: &str, body: &serde_json::Value) -> Request {
    let auth = format!("Bearer {}", token(org));
    post(
        &body.to_string(),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
    )
}

pub fn body_bytes(resp: &Response<Body>) -> Vec<u8> {
    match resp.body() {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.clone().into_bytes(),
        Body::Binary(b) => b.clone(),
        _ => panic!("unexpected body kind"),
    }
}

pub fn body_json(resp: &Response<Body>) -> serde_json::Value {
    serde_json::from_slice(&body_bytes(resp)).expect("a JSON body")
}

pub fn header<'a>(resp: &'a Response<Body>, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// The CSV of a response as rows of cells.
pub fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// The moto endpoint `make test` started, or None (then moto tests skip,
/// unless REQUIRE_MOTO is set, when they fail).
pub fn moto_endpoint() -> Option<String> {
    match std::env::var("MOTO_ENDPOINT") {
        Ok(e) if !e.is_empty() => Some(e),
        _ if std::env::var("REQUIRE_MOTO").is_ok() => {
            panic!("REQUIRE_MOTO is set but MOTO_ENDPOINT is not")
        }
        _ => {
            eprintln!("MOTO_ENDPOINT not set: skipping (run `make test`)");
            None
        }
    }
}

/// A unique name for a table or bucket of one test.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

pub const SECOND: Duration = Duration::from_secs(1);

/// An object store whose part uploads fail from part `from` on; everything
/// else goes to the wrapped store.
pub struct FailParts<S> {
    pub inner: S,
    pub from: i32,
}

#[async_trait]
impl<S: ObjectStore> ObjectStore for FailParts<S> {
    async fn create_multipart(
        &self,
        key: &str,
        meta: &ObjectMeta,
    ) -> Result<String, ObjectStoreError> {
        self.inner.create_multipart(key, meta).await
    }
    async fn upload_part(
        &self,
        key: &str,
        id: &str,
        n: i32,
        body: Vec<u8>,
    ) -> Result<String, ObjectStoreError> {
        if n >= self.from {
            return Err(ObjectStoreError::other(format!(
                "injected failure of part {n}: connection reset"
            )));
        }
        self.inner.upload_part(key, id, n, body).await
    }
    async fn complete(
        &self,
        key: &str,
        id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), ObjectStoreError> {
        self.inner.complete(key, id, parts).await
    }
    async fn abort(&self, key: &str, id: &str) -> Result<(), ObjectStoreError> {
        self.inner.abort(key, id).await
    }
    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, ObjectStoreError> {
        self.inner.presign_get(key, ttl).await
    }
}
