//! Bearer JWT verification: the organization comes from the verified token,
//! never from the request body.

use jsonwebtoken::{decode, decode_header, jwk::AlgorithmParameters, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::config::{JwtConfig, JwtKey};
use crate::error::ExportError;

/// The caller's organization, taken from a verified token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrgId(String);

/// Longest accepted organization id, in bytes (DynamoDB keys are bounded).
const MAX_ORG_ID_BYTES: usize = 1024;

impl OrgId {
    /// Wraps a non-empty organization id of at most 1024 bytes.
    pub fn new(id: impl Into<String>) -> Option<Self> {
        let id = id.into();
        (!id.is_empty() && id.len() <= MAX_ORG_ID_BYTES).then_some(OrgId(id))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for OrgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who made a request: the organization and, for the audit trail, the
/// token's `sub` claim (absent when the token has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The organization, as [`Authenticator::authenticate`] returns it.
    pub org: OrgId,
    /// The `sub` claim when it is a non-empty string, cut to
    /// [`MAX_SUB_BYTES`].
    pub user: Option<String>,
}

/// Longest `sub` kept for the audit trail, in bytes.
pub const MAX_SUB_BYTES: usize = 1024;

/// Verifies tokens with the configured algorithm and key.
#[derive(Clone)]
pub struct Authenticator {
    config: JwtConfig,
    validation: Validation,
    secret_key: Option<DecodingKey>,
}

impl Authenticator {
    /// Prepares the validation rules once.
    pub fn new(config: JwtConfig) -> Self {
        let mut validation = Validation::new(config.algorithm);
        validation.leeway = config.leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        match &config.issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &config.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        let secret_key = match &config.key {
            JwtKey::Secret(bytes) => Some(DecodingKey::from_secret(bytes)),
            _ => None,
        };
        Authenticator {
            config,
            validation,
            secret_key,
        }
    }

    /// Verifies the `Authorization` header value and returns the organization.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<OrgId, ExportError> {
        self.authenticate_caller(authorization).map(|c| c.org)
    }

    /// Verifies the `Authorization` header value and returns the caller: the
    /// organization (as [`Self::authenticate`]) and the `sub` claim.
    pub fn authenticate_caller(&self, authorization: Option<&str>) -> Result<Caller, ExportError> {
        let token = bearer_token(authorization)?;
        let jwks_key;
        let key = match &self.config.key {
            JwtKey::Secret(_) => self.secret_key.as_ref().expect("built in new"),
            JwtKey::PublicKey(key) => key,
            JwtKey::Jwks(set) => {
                jwks_key = self.jwks_key(set, token)?;
                &jwks_key
            }
        };
        let data = decode::<Map<String, Value>>(token, key, &self.validation)
            .map_err(|e| unauthorized(&describe(&e)))?;
        let org = match data.claims.get(&self.config.org_claim) {
            Some(Value::String(org)) => OrgId::new(org.clone()).ok_or_else(|| {
                ExportError::Forbidden("The token's organization is empty or too long".into())
            }),
            _ => Err(ExportError::Forbidden(format!(
                "The token carries no organization ({} claim)",
                self.config.org_claim
            ))),
        }?;
        let user = match data.claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => Some(cut(sub, MAX_SUB_BYTES)),
            _ => None,
        };
        Ok(Caller { org, user })
    }

    fn jwks_key(
        &self,
        set: &jsonwebtoken::jwk::JwkSet,
        token: &str,
    ) -> Result<DecodingKey, ExportError> {
        let header = decode_header(token).map_err(|_| unauthorized("malformed token header"))?;
        let kid = header
            .kid
            .ok_or_else(|| unauthorized("no kid in the header"))?;
        let jwk = set.find(&kid).ok_or_else(|| unauthorized("unknown kid"))?;
        let family_ok = matches!(
            (&jwk.algorithm, self.config.algorithm),
            (AlgorithmParameters::RSA(_), jsonwebtoken::Algorithm::RS256)
                | (
                    AlgorithmParameters::EllipticCurve(_),
                    jsonwebtoken::Algorithm::ES256
                )
        );
        if !family_ok {
            return Err(unauthorized(
                "the kid's key type does not match the configured algorithm",
            ));
        }
        DecodingKey::from_jwk(jwk).map_err(|_| unauthorized("the kid's key is unusable"))
    }
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// A 401 whose `reason` goes to the log only (the client sees
/// [`crate::error::UNAUTHORIZED_MESSAGE`]). A reason never quotes the token.
fn unauthorized(reason: &str) -> ExportError {
    ExportError::Unauthorized(format!("token rejected: {reason}"))
}

fn bearer_token(header: Option<&str>) -> Result<&str, ExportError> {
    let header = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or_else(|| unauthorized("no Authorization header"))?;
    let (scheme, token) = header
        .split_once(' ')
        .ok_or_else(|| unauthorized("malformed Authorization header (expected: Bearer <token>)"))?;
    // `header` is trimmed, so `token` holds a non-blank character.
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(unauthorized("Authorization scheme is not Bearer"));
    }
    Ok(token.trim())
}

/// Why jsonwebtoken refused a token, from a fixed vocabulary (its own
/// messages may quote parts of the token).
fn describe(err: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind::*;
    match err.kind() {
        ExpiredSignature => "expired".into(),
        ImmatureSignature => "not yet valid (nbf)".into(),
        InvalidSignature => "bad signature".into(),
        InvalidAlgorithm | InvalidAlgorithmName | MissingAlgorithm => {
            "algorithm not accepted".into()
        }
        InvalidIssuer => "wrong issuer".into(),
        InvalidAudience => "wrong audience".into(),
        MissingRequiredClaim(claim) => format!("missing required claim {claim}"),
        InvalidToken => "malformed token".into(),
        Base64(_) => "malformed token (not base64url)".into(),
        Json(_) => "malformed token (not JSON)".into(),
        Utf8(_) => "malformed token (not UTF-8)".into(),
        _ => "unverifiable token".into(),
    }
}

/// Signs an HS256 token for `org` valid for `ttl_seconds`, with the
/// configured organization claim, issuer and audience: the dev token of
/// `make token`, and what tests use.
pub fn sign_hs256(
    secret: &[u8],
    org_claim: &str,
    org: &str,
    ttl_seconds: i64,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = Map::new();
    claims.insert("sub".into(), Value::from("dev-user"));
    claims.insert(org_claim.into(), Value::from(org));
    claims.insert("iat".into(), Value::from(now));
    claims.insert("exp".into(), Value::from(now + ttl_seconds));
    if let Some(iss) = issuer {
        claims.insert("iss".into(), Value::from(iss));
    }
    if let Some(aud) = audience {
        claims.insert("aud".into(), Value::from(aud));
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn authenticator() -> Authenticator {
        let config = Config::from_lookup(|k| (k == "JWT_SECRET").then(|| "s".repeat(32))).unwrap();
        Authenticator::new(config.jwt)
    }

    fn signed(claims: Value) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret("s".repeat(32).as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn the_caller_carries_the_sub_claim() {
        let auth = authenticator();
        let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 60;
        let token = signed(serde_json::json!({"sub": "user-7", "org_id": "org-1", "exp": exp}));
        let caller = auth
            .authenticate_caller(Some(&format!("Bearer {token}")))
            .unwrap();
        assert_eq!(caller.org.as_str(), "org-1");
        assert_eq!(caller.user.as_deref(), Some("user-7"));
        for sub in [Value::Null, Value::from(""), Value::from(42)] {
            let token = signed(serde_json::json!({"sub": sub, "org_id": "org-1", "exp": exp}));
            let caller = auth
                .authenticate_caller(Some(&format!("Bearer {token}")))
                .unwrap();
            assert_eq!(caller.user, None, "{sub:?}");
        }
        let long = "é".repeat(600);
        let token = signed(serde_json::json!({"sub": long, "org_id": "org-1", "exp": exp}));
        let user = auth
            .authenticate_caller(Some(&format!("Bearer {token}")))
            .unwrap()
            .user
            .unwrap();
        assert_eq!(user.len(), MAX_SUB_BYTES);
        assert!(long.starts_with(&user));
        let token = signed(serde_json::json!({"sub": "u", "exp": exp}));
        assert!(matches!(
            auth.authenticate_caller(Some(&format!("Bearer {token}"))),
            Err(ExportError::Forbidden(_))
        ));
    }
}
