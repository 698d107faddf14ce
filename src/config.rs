//! The typed configuration, read once from the environment at start-up.
//! A bad value fails fast with a message naming the variable.

use std::time::Duration;

use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey};

/// The largest `EXPORT_URL_TTL_SECONDS` a SigV4 presigned URL allows (7 days).
pub const MAX_URL_TTL_SECONDS: u64 = 7 * 24 * 3600;

/// The largest `EXPORT_TIMEOUT_SECONDS` (Lambda's own maximum, 15 minutes).
pub const MAX_EXPORT_TIMEOUT_SECONDS: u64 = 900;

/// The documented development secret of `make run` and the `events/`
/// fixtures: public, so the Lambda refuses it (see [`Config::check_production`]).
pub const DEV_SECRET: &str = "dev-secret-change-me";

/// The shortest `JWT_SECRET` the Lambda accepts, in bytes (HS256 wants a key
/// at least as long as its 256-bit output).
pub const MIN_SECRET_BYTES: usize = 32;

/// The largest `JWT_LEEWAY_SECONDS`: clock skew, not a token lifetime extension.
pub const MAX_LEEWAY_SECONDS: u64 = 300;

/// The default `AUDIT_RETENTION_DAYS`: a little over a year.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 400;

/// The largest `AUDIT_RETENTION_DAYS` (10 years).
pub const MAX_AUDIT_RETENTION_DAYS: u32 = 3650;

/// The default `JOB_RETENTION_DAYS`.
pub const DEFAULT_JOB_RETENTION_DAYS: u32 = 7;

/// The largest `JOB_RETENTION_DAYS`.
pub const MAX_JOB_RETENTION_DAYS: u32 = 30;

/// Everything the function reads from its environment.
#[derive(Clone, Debug)]
pub struct Config {
    /// `LEADS_TABLE` (default `leads`).
    pub leads_table: String,
    /// `EXPORTS_BUCKET` (default `lead-exports`).
    pub exports_bucket: String,
    /// `AWS_ENDPOINT_URL_DYNAMODB`, else `AWS_ENDPOINT_URL`: a local
    /// DynamoDB (moto, dynalite); unset, the service's own endpoint.
    pub dynamodb_endpoint: Option<String>,
    /// `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`: a local S3 (moto,
    /// addressed path-style); unset, the service's own endpoint.
    pub s3_endpoint: Option<String>,
    /// The JWT settings (`JWT_*`).
    pub jwt: JwtConfig,
    /// `INLINE_MAX_BYTES`: lowers the inline response threshold.
    pub inline_max_bytes: Option<usize>,
    /// `EXPORT_URL_TTL_SECONDS` (default 900, at most 7 days).
    pub export_url_ttl: Duration,
    /// `EXPORT_TIMEOUT_SECONDS` (default 25, 1..=900): the invocation's
    /// timeout where no Lambda context gives a deadline (the local server).
    pub export_timeout: Duration,
    /// `AUDIT_TABLE` (default `export-audit`): the audit trail's table.
    pub audit_table: String,
    /// `CURSORS_TABLE` (default `export-cursors`): the position checkpoints
    /// of bulk ranges and the organizations' data versions.
    pub cursors_table: String,
    /// `AUDIT_RETENTION_DAYS` (default 400, 1..=3650): how long an audit
    /// record is kept (its TTL).
    pub audit_retention_days: u32,
    /// `JOBS_TABLE` (default `export-jobs`): the export jobs' records.
    pub jobs_table: String,
    /// `JOBS_QUEUE_URL`: the SQS queue of the export jobs' steps; unset,
    /// the jobs routes answer 503 (nowhere to send the work).
    pub jobs_queue_url: Option<String>,
    /// `AWS_ENDPOINT_URL_SQS`, else `AWS_ENDPOINT_URL`: a local SQS (moto).
    pub sqs_endpoint: Option<String>,
    /// `JOB_RETENTION_DAYS` (default 7, 1..=30): how long a job's record
    /// is kept (its TTL); its file lives a day.
    pub job_retention_days: u32,
}

/// How tokens are verified. The algorithm comes from here, never from a token.
#[derive(Clone)]
pub struct JwtConfig {
    /// `JWT_ALGORITHM` (HS256, RS256 or ES256); defaults to HS256 with a
    /// secret, RS256 with a public key or a JWKS.
    pub algorithm: Algorithm,
    /// The key material.
    pub key: JwtKey,
    /// `JWT_ISSUER`: required `iss` when set.
    pub issuer: Option<String>,
    /// `JWT_AUDIENCE`: required `aud` when set.
    pub audience: Option<String>,
    /// `JWT_ORG_CLAIM` (default `org_id`): the claim that names the organization.
    pub org_claim: String,
    /// `JWT_LEEWAY_SECONDS` (default 0): clock skew allowed on `exp` and `nbf`.
    pub leeway_seconds: u64,
}

/// Where the verification key comes from.
#[derive(Clone)]
pub enum JwtKey {
    /// `JWT_SECRET`: the raw bytes, for HS256.
    Secret(Vec<u8>),
    /// `JWT_PUBLIC_KEY`: a PEM public key, for RS256 or ES256.
    PublicKey(DecodingKey),
    /// `JWT_JWKS`: a JWKS document; the key is chosen by the token's `kid`.
    Jwks(JwkSet),
}

impl std::fmt::Debug for JwtConfig {
    /// Never prints key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = match self.key {
            JwtKey::Secret(_) => "secret",
            JwtKey::PublicKey(_) => "public key",
            JwtKey::Jwks(_) => "jwks",
        };
        f.debug_struct("JwtConfig")
            .field("algorithm", &self.algorithm)
            .field("key", &key)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("org_claim", &self.org_claim)
            .field("leeway_seconds", &self.leeway_seconds)
            .finish()
    }
}

/// A configuration value that is missing or invalid.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// The rules only a deployed function enforces (see
    /// [`JwtConfig::check_production`]); `from_lookup` alone is the lenient
    /// configuration of local runs and tests.
    pub fn check_production(&self) -> Result<(), ConfigError> {
        self.jwt.check_production()
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in
    /// tests). Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let inline_max_bytes = match get("INLINE_MAX_BYTES") {
            Some(v) => Some(parse_number::<usize>("INLINE_MAX_BYTES", &v)?),
            None => None,
        };
        let ttl = match get("EXPORT_URL_TTL_SECONDS") {
            Some(v) => parse_number::<u64>("EXPORT_URL_TTL_SECONDS", &v)?,
            None => 900,
        };
        if ttl == 0 || ttl > MAX_URL_TTL_SECONDS {
            return Err(ConfigError(format!(
                "EXPORT_URL_TTL_SECONDS must be between 1 and {MAX_URL_TTL_SECONDS}, got {ttl}"
            )));
        }
        let timeout = match get("EXPORT_TIMEOUT_SECONDS") {
            Some(v) => parse_number::<u64>("EXPORT_TIMEOUT_SECONDS", &v)?,
            None => 25,
        };
        if timeout == 0 || timeout > MAX_EXPORT_TIMEOUT_SECONDS {
            return Err(ConfigError(format!(
                "EXPORT_TIMEOUT_SECONDS must be between 1 and {MAX_EXPORT_TIMEOUT_SECONDS}, got {timeout}"
            )));
        }
        let retention = match get("AUDIT_RETENTION_DAYS") {
            Some(v) => parse_number::<u32>("AUDIT_RETENTION_DAYS", &v)?,
            None => DEFAULT_AUDIT_RETENTION_DAYS,
        };
        if retention == 0 || retention > MAX_AUDIT_RETENTION_DAYS {
            return Err(ConfigError(format!(
                "AUDIT_RETENTION_DAYS must be between 1 and {MAX_AUDIT_RETENTION_DAYS}, got {retention}"
            )));
        }
        let job_retention = match get("JOB_RETENTION_DAYS") {
            Some(v) => parse_number::<u32>("JOB_RETENTION_DAYS", &v)?,
            None => DEFAULT_JOB_RETENTION_DAYS,
        };
        if job_retention == 0 || job_retention > MAX_JOB_RETENTION_DAYS {
            return Err(ConfigError(format!(
                "JOB_RETENTION_DAYS must be between 1 and {MAX_JOB_RETENTION_DAYS}, got {job_retention}"
            )));
        }
        Ok(Config {
            leads_table: get("LEADS_TABLE").unwrap_or_else(|| "leads".into()),
            exports_bucket: get("EXPORTS_BUCKET").unwrap_or_else(|| "lead-exports".into()),
            dynamodb_endpoint: service_endpoint(get, "DYNAMODB"),
            s3_endpoint: service_endpoint(get, "S3"),
            jwt: JwtConfig::from_lookup(&get)?,
            inline_max_bytes,
            export_url_ttl: Duration::from_secs(ttl),
            export_timeout: Duration::from_secs(timeout),
            audit_table: get("AUDIT_TABLE").unwrap_or_else(|| "export-audit".into()),
            cursors_table: get("CURSORS_TABLE").unwrap_or_else(|| "export-cursors".into()),
            audit_retention_days: retention,
            jobs_table: get("JOBS_TABLE").unwrap_or_else(|| "export-jobs".into()),
            jobs_queue_url: get("JOBS_QUEUE_URL"),
            sqs_endpoint: service_endpoint(get, "SQS"),
            job_retention_days: job_retention,
        })
    }
}

/// The endpoint of one service (`DYNAMODB`, `S3`), as the SDK reads it
/// from the environment: `AWS_ENDPOINT_URL_<SERVICE>`, else
/// `AWS_ENDPOINT_URL`; `None` (the service's own endpoint) when neither is
/// set. Empty values count as unset.
pub fn service_endpoint(lookup: impl Fn(&str) -> Option<String>, service: &str) -> Option<String> {
    let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    get(&format!("AWS_ENDPOINT_URL_{service}")).or_else(|| get("AWS_ENDPOINT_URL"))
}

impl JwtConfig {
    /// The production rules on top of what [`Config::from_lookup`] checks:
    /// an HS256 `JWT_SECRET` must not be the documented development secret
    /// and must be at least [`MIN_SECRET_BYTES`] long. The Lambda refuses to
    /// start otherwise; the local server only warns.
    pub fn check_production(&self) -> Result<(), ConfigError> {
        let JwtKey::Secret(secret) = &self.key else {
            return Ok(());
        };
        if secret.as_slice() == DEV_SECRET.as_bytes() {
            return Err(ConfigError(format!(
                "JWT_SECRET is the documented development secret; set at least {MIN_SECRET_BYTES} random bytes"
            )));
        }
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError(format!(
                "JWT_SECRET is {} bytes; at least {MIN_SECRET_BYTES} random bytes are required",
                secret.len()
            )));
        }
        Ok(())
    }

    fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let secret = get("JWT_SECRET");
        let pem = get("JWT_PUBLIC_KEY");
        let jwks = get("JWT_JWKS");
        let pem_given = pem.is_some();
        let sources = [secret.is_some(), pem.is_some(), jwks.is_some()];
        match sources.iter().filter(|s| **s).count() {
            0 => {
                return Err(ConfigError(
                    "one of JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS must be set".into(),
                ))
            }
            1 => {}
            _ => {
                return Err(ConfigError(
                    "set only one of JWT_SECRET, JWT_PUBLIC_KEY and JWT_JWKS".into(),
                ))
            }
        }
        let algorithm = match get("JWT_ALGORITHM").as_deref().map(str::trim) {
            None if secret.is_some() => Algorithm::HS256,
            None => Algorithm::RS256,
            Some("HS256") => Algorithm::HS256,
            Some("RS256") => Algorithm::RS256,
            Some("ES256") => Algorithm::ES256,
            Some(other) => {
                return Err(ConfigError(format!(
                    "JWT_ALGORITHM must be HS256, RS256 or ES256, got {other:?}"
                )))
            }
        };
        let key = if let Some(secret) = secret {
            if algorithm != Algorithm::HS256 {
                return Err(ConfigError(format!(
                    "JWT_SECRET goes with HS256, but JWT_ALGORITHM is {algorithm:?}"
                )));
            }
            JwtKey::Secret(secret.into_bytes())
        } else if algorithm == Algorithm::HS256 {
            return Err(ConfigError(
                "HS256 needs JWT_SECRET; JWT_PUBLIC_KEY and JWT_JWKS go with RS256 or ES256".into(),
            ));
        } else if let Some(pem) = pem {
            let pem = pem.replace("\\n", "\n");
            let key = match algorithm {
                Algorithm::ES256 => DecodingKey::from_ec_pem(pem.as_bytes()),
                _ => DecodingKey::from_rsa_pem(pem.as_bytes()),
            }
            .map_err(|e| ConfigError(format!("JWT_PUBLIC_KEY is not a valid PEM key: {e}")))?;
            JwtKey::PublicKey(key)
        } else {
            let jwks = jwks.unwrap_or_default();
            let set: JwkSet = serde_json::from_str(&jwks)
                .map_err(|e| ConfigError(format!("JWT_JWKS is not a valid JWKS document: {e}")))?;
            if set.keys.is_empty() {
                return Err(ConfigError("JWT_JWKS holds no key".into()));
            }
            JwtKey::Jwks(set)
        };
        let leeway_seconds = match get("JWT_LEEWAY_SECONDS") {
            Some(v) => parse_number::<u64>("JWT_LEEWAY_SECONDS", &v)?,
            None => 0,
        };
        if leeway_seconds > MAX_LEEWAY_SECONDS {
            return Err(ConfigError(format!(
                "JWT_LEEWAY_SECONDS must be at most {MAX_LEEWAY_SECONDS}, got {leeway_seconds}"
            )));
        }
        let (issuer, audience) = (get("JWT_ISSUER"), get("JWT_AUDIENCE"));
        if !matches!(key, JwtKey::Secret(_)) {
            // A public key usually belongs to a shared identity provider that
            // signs tokens for other applications too: only iss and aud tell
            // this function's tokens apart.
            let source = if pem_given {
                "JWT_PUBLIC_KEY"
            } else {
                "JWT_JWKS"
            };
            let missing: Vec<&str> = [("JWT_ISSUER", &issuer), ("JWT_AUDIENCE", &audience)]
                .into_iter()
                .filter(|(_, value)| value.is_none())
                .map(|(name, _)| name)
                .collect();
            if !missing.is_empty() {
                return Err(ConfigError(format!(
                    "{source} requires JWT_ISSUER and JWT_AUDIENCE (tokens of a shared identity provider are told apart by iss and aud); missing: {}",
                    missing.join(", ")
                )));
            }
        }
        Ok(JwtConfig {
            algorithm,
            key,
            issuer,
            audience,
            org_claim: get("JWT_ORG_CLAIM").unwrap_or_else(|| "org_id".into()),
            leeway_seconds,
        })
    }
}

fn parse_number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| ConfigError(format!("{name} must be a whole number, got {value:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_with_a_secret() {
        let c = config(&[("JWT_SECRET", "s3cret")]).unwrap();
        assert_eq!(c.leads_table, "leads");
        assert_eq!(c.exports_bucket, "lead-exports");
        assert_eq!(c.export_url_ttl, Duration::from_secs(900));
        assert_eq!(c.jwt.algorithm, Algorithm::HS256);
        assert_eq!(c.jwt.org_claim, "org_id");
        assert!(c.inline_max_bytes.is_none());
        assert_eq!(c.export_timeout, Duration::from_secs(25));
    }

    #[test]
    fn endpoints_per_service_fall_back_to_the_shared_one() {
        let c = config(&[("JWT_SECRET", "a")]).unwrap();
        assert_eq!((c.dynamodb_endpoint, c.s3_endpoint), (None, None));
        let shared = ("AWS_ENDPOINT_URL", "http://127.0.0.1:5005");
        let c = config(&[("JWT_SECRET", "a"), shared]).unwrap();
        assert_eq!(c.dynamodb_endpoint.as_deref(), Some(shared.1));
        assert_eq!(c.s3_endpoint.as_deref(), Some(shared.1));
        let dynamodb = ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:4567");
        let c = config(&[("JWT_SECRET", "a"), shared, dynamodb]).unwrap();
        assert_eq!(c.dynamodb_endpoint.as_deref(), Some(dynamodb.1));
        assert_eq!(c.s3_endpoint.as_deref(), Some(shared.1));
        let s3 = ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000");
        let c = config(&[("JWT_SECRET", "a"), dynamodb, s3, ("AWS_ENDPOINT_URL", " ")]).unwrap();
        assert_eq!(c.dynamodb_endpoint.as_deref(), Some(dynamodb.1));
        assert_eq!(c.s3_endpoint.as_deref(), Some(s3.1));
        let c = config(&[("JWT_SECRET", "a"), dynamodb]).unwrap();
        assert_eq!(c.s3_endpoint, None, "S3 stays on AWS");
    }

    #[test]
    fn export_timeout_is_checked() {
        let c = config(&[("JWT_SECRET", "a"), ("EXPORT_TIMEOUT_SECONDS", "900")]).unwrap();
        assert_eq!(c.export_timeout, Duration::from_secs(900));
        for bad in ["0", "901", "soon", "-1"] {
            let e = config(&[("JWT_SECRET", "a"), ("EXPORT_TIMEOUT_SECONDS", bad)]).unwrap_err();
            assert!(
                e.to_string().contains("EXPORT_TIMEOUT_SECONDS"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn rejects_missing_or_conflicting_keys() {
        assert!(config(&[]).unwrap_err().to_string().contains("JWT_SECRET"));
        let both = config(&[("JWT_SECRET", "a"), ("JWT_JWKS", "{\"keys\":[]}")]);
        assert!(both.unwrap_err().to_string().contains("only one"));
        let mismatch = config(&[("JWT_SECRET", "a"), ("JWT_ALGORITHM", "RS256")]);
        assert!(mismatch.unwrap_err().to_string().contains("HS256"));
        let bad_alg = config(&[("JWT_SECRET", "a"), ("JWT_ALGORITHM", "none")]);
        assert!(bad_alg.unwrap_err().to_string().contains("JWT_ALGORITHM"));
    }

    #[test]
    fn rejects_bad_numbers_and_ttl() {
        let e = config(&[("JWT_SECRET", "a"), ("INLINE_MAX_BYTES", "lots")]).unwrap_err();
        assert!(e.to_string().contains("INLINE_MAX_BYTES"));
        let e = config(&[("JWT_SECRET", "a"), ("EXPORT_URL_TTL_SECONDS", "604801")]).unwrap_err();
        assert!(e.to_string().contains("EXPORT_URL_TTL_SECONDS"));
        let c = config(&[("JWT_SECRET", "a"), ("EXPORT_URL_TTL_SECONDS", "604800")]).unwrap();
        assert_eq!(c.export_url_ttl.as_secs(), 604800);
    }

    fn production(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let c = config(vars)?;
        c.check_production().map(|()| c)
    }

    const RSA_PUBLIC: &str = include_str!("../tests/data/rsa_public.pem");
    const JWKS: &str = include_str!("../tests/data/jwks.json");

    #[test]
    fn production_refuses_short_and_dev_secrets() {
        let e = production(&[("JWT_SECRET", "abc")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("JWT_SECRET is 3 bytes"), "{e}");
        let e = production(&[("JWT_SECRET", DEV_SECRET)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("development secret"), "{e}");
        assert!(!e.contains(DEV_SECRET), "the message names no secret: {e}");
        let e = production(&[("JWT_SECRET", &"x".repeat(31))]).unwrap_err();
        assert!(e.to_string().contains("31 bytes"), "{e}");
        // Bytes, not characters: 11 three-byte characters are 33 bytes.
        assert!(production(&[("JWT_SECRET", &"€".repeat(11))]).is_ok());
        let c = production(&[("JWT_SECRET", &"k".repeat(32))]).unwrap();
        assert_eq!(c.jwt.algorithm, Algorithm::HS256);
        // The lenient configuration (local server, tests) still reads them.
        assert!(config(&[("JWT_SECRET", DEV_SECRET)]).is_ok());
        assert!(config(&[("JWT_SECRET", "abc")]).is_ok());
    }

    #[test]
    fn production_accepts_public_keys() {
        let c = production(&[
            ("JWT_PUBLIC_KEY", RSA_PUBLIC),
            ("JWT_ISSUER", "https://idp.example"),
            ("JWT_AUDIENCE", "lead-export"),
        ])
        .unwrap();
        assert_eq!(c.jwt.algorithm, Algorithm::RS256);
    }

    #[test]
    fn leeway_is_at_most_300_seconds() {
        let secret = ("JWT_SECRET", "a");
        let e = config(&[secret, ("JWT_LEEWAY_SECONDS", "301")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid configuration: JWT_LEEWAY_SECONDS must be at most 300, got 301"
        );
        let c = config(&[secret, ("JWT_LEEWAY_SECONDS", "300")]).unwrap();
        assert_eq!(c.jwt.leeway_seconds, 300);
        assert_eq!(config(&[secret]).unwrap().jwt.leeway_seconds, 0);
    }

    #[test]
    fn public_keys_require_issuer_and_audience() {
        for (source, value) in [("JWT_PUBLIC_KEY", RSA_PUBLIC), ("JWT_JWKS", JWKS)] {
            let e = config(&[(source, value)]).unwrap_err().to_string();
            assert!(
                e.contains(source) && e.contains("missing: JWT_ISSUER, JWT_AUDIENCE"),
                "{e}"
            );
            let e = config(&[(source, value), ("JWT_ISSUER", "https://idp.example")])
                .unwrap_err()
                .to_string();
            assert!(e.ends_with("missing: JWT_AUDIENCE"), "{e}");
            let e = config(&[(source, value), ("JWT_AUDIENCE", "lead-export")])
                .unwrap_err()
                .to_string();
            assert!(e.ends_with("missing: JWT_ISSUER"), "{e}");
            let e = config(&[(source, value), ("JWT_AUDIENCE", " "), ("JWT_ISSUER", "i")])
                .unwrap_err()
                .to_string();
            assert!(e.ends_with("missing: JWT_AUDIENCE"), "blank is unset: {e}");
            let c = config(&[
                (source, value),
                ("JWT_ISSUER", "https://idp.example"),
                ("JWT_AUDIENCE", "lead-export"),
            ])
            .unwrap();
            assert_eq!(c.jwt.issuer.as_deref(), Some("https://idp.example"));
            assert_eq!(c.jwt.audience.as_deref(), Some("lead-export"));
        }
    }

    #[test]
    fn audit_settings_have_defaults_and_bounds() {
        let secret = ("JWT_SECRET", "a");
        let c = config(&[secret]).unwrap();
        assert_eq!(c.audit_table, "export-audit");
        assert_eq!(c.cursors_table, "export-cursors");
        assert_eq!(c.audit_retention_days, 400);
        let c = config(&[
            secret,
            ("AUDIT_TABLE", "audit-prod"),
            ("AUDIT_RETENTION_DAYS", "30"),
        ])
        .unwrap();
        assert_eq!(c.audit_table, "audit-prod");
        assert_eq!(c.audit_retention_days, 30);
        for bad in ["0", "3651", "-1", "1.5", "a year"] {
            let e = config(&[secret, ("AUDIT_RETENTION_DAYS", bad)])
                .unwrap_err()
                .to_string();
            assert!(e.contains("AUDIT_RETENTION_DAYS"), "{bad}: {e}");
        }
        assert_eq!(
            config(&[secret, ("AUDIT_RETENTION_DAYS", "3650")])
                .unwrap()
                .audit_retention_days,
            3650
        );
    }

    #[test]
    fn job_settings_have_defaults_and_bounds() {
        let secret = ("JWT_SECRET", "a");
        let c = config(&[secret]).unwrap();
        assert_eq!(c.jobs_table, "export-jobs");
        assert_eq!(c.jobs_queue_url, None);
        assert_eq!(c.job_retention_days, 7);
        let c = config(&[
            secret,
            (
                "JOBS_QUEUE_URL",
                "http://127.0.0.1:5005/123456789012/export-jobs",
            ),
            ("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:5005"),
            ("JOB_RETENTION_DAYS", "30"),
        ])
        .unwrap();
        assert_eq!(
            c.jobs_queue_url.as_deref(),
            Some("http://127.0.0.1:5005/123456789012/export-jobs")
        );
        assert_eq!(c.sqs_endpoint.as_deref(), Some("http://127.0.0.1:5005"));
        assert_eq!(c.job_retention_days, 30);
        for bad in ["0", "31", "a week"] {
            let e = config(&[secret, ("JOB_RETENTION_DAYS", bad)])
                .unwrap_err()
                .to_string();
            assert!(e.contains("JOB_RETENTION_DAYS"), "{bad}: {e}");
        }
    }

    #[test]
    fn rejects_a_bad_pem() {
        let e = config(&[("JWT_PUBLIC_KEY", "not a pem")]).unwrap_err();
        assert!(e.to_string().contains("JWT_PUBLIC_KEY"));
    }
}
