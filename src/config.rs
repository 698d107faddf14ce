//! The typed configuration, read once from the environment at start-up.
//! A bad value fails fast with a message naming the variable.

use std::time::Duration;

use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey};

/// The largest `EXPORT_URL_TTL_SECONDS` a SigV4 presigned URL allows (7 days).
pub const MAX_URL_TTL_SECONDS: u64 = 7 * 24 * 3600;

/// The largest `EXPORT_TIMEOUT_SECONDS` (Lambda's own maximum, 15 minutes).
pub const MAX_EXPORT_TIMEOUT_SECONDS: u64 = 900;

/// Everything the function reads from its environment.
#[derive(Clone, Debug)]
pub struct Config {
    /// `LEADS_TABLE` (default `leads`).
    pub leads_table: String,
    /// `EXPORTS_BUCKET` (default `lead-exports`).
    pub exports_bucket: String,
    /// `AWS_ENDPOINT_URL`: a local endpoint (moto) for both DynamoDB and S3.
    pub endpoint_url: Option<String>,
    /// The JWT settings (`JWT_*`).
    pub jwt: JwtConfig,
    /// `INLINE_MAX_BYTES`: lowers the inline response threshold.
    pub inline_max_bytes: Option<usize>,
    /// `EXPORT_URL_TTL_SECONDS` (default 900, at most 7 days).
    pub export_url_ttl: Duration,
    /// `EXPORT_TIMEOUT_SECONDS` (default 25, 1..=900): the invocation's
    /// timeout where no Lambda context gives a deadline (the local server).
    pub export_timeout: Duration,
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
        Ok(Config {
            leads_table: get("LEADS_TABLE").unwrap_or_else(|| "leads".into()),
            exports_bucket: get("EXPORTS_BUCKET").unwrap_or_else(|| "lead-exports".into()),
            endpoint_url: get("AWS_ENDPOINT_URL"),
            jwt: JwtConfig::from_lookup(&get)?,
            inline_max_bytes,
            export_url_ttl: Duration::from_secs(ttl),
            export_timeout: Duration::from_secs(timeout),
        })
    }
}

impl JwtConfig {
    fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let secret = get("JWT_SECRET");
        let pem = get("JWT_PUBLIC_KEY");
        let jwks = get("JWT_JWKS");
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
        Ok(JwtConfig {
            algorithm,
            key,
            issuer: get("JWT_ISSUER"),
            audience: get("JWT_AUDIENCE"),
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

    #[test]
    fn rejects_a_bad_pem() {
        let e = config(&[("JWT_PUBLIC_KEY", "not a pem")]).unwrap_err();
        assert!(e.to_string().contains("JWT_PUBLIC_KEY"));
    }
}
