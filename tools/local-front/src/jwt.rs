//! The one JWT verifier of the local stack: the local API Gateway's
//! authorizer and the local identity pool check tokens with it, as API
//! Gateway's JWT authorizer and Cognito do.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// The authorizer's settings, as the template's `JwtConfiguration`.
#[derive(Debug, Clone)]
pub struct Authorizer {
    /// The issuer (`iss`), e.g. `https://cognito-idp.<region>.amazonaws.com/<pool>`.
    pub issuer: String,
    /// Accepted audiences (app client ids).
    pub audience: Vec<String>,
    /// Where the issuer's JWKS is served.
    pub jwks_url: String,
}

/// Verifies one issuer's tokens, caching its JWKS keys by id.
pub struct JwtVerifier {
    authorizer: Authorizer,
    client: Client<HttpConnector, Full<Bytes>>,
    keys: Mutex<HashMap<String, DecodingKey>>,
    /// Seconds added to the clock `exp`/`nbf` are checked with.
    skew: AtomicI64,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("authorizer", &self.authorizer)
            .finish_non_exhaustive()
    }
}

/// Why a token is refused (for the log; the client sees only 401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unauthorized(pub String);

impl JwtVerifier {
    /// A verifier for `authorizer`'s issuer and audiences.
    pub fn new(authorizer: Authorizer) -> Self {
        JwtVerifier {
            authorizer,
            client: crate::server::client(),
            keys: Mutex::default(),
            skew: AtomicI64::new(0),
        }
    }

    /// Check tokens as if the clock were `seconds` ahead (expiry tests).
    pub fn skew_clock(&self, seconds: i64) {
        self.skew.store(seconds, Ordering::Relaxed);
    }

    /// The issuer whose tokens this verifier accepts.
    pub fn issuer(&self) -> &str {
        &self.authorizer.issuer
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, Unauthorized> {
        if let Some(key) = self.keys.lock().expect("keys lock poisoned").get(kid) {
            return Ok(key.clone());
        }
        // An unknown key id: fetch the JWKS again (keys rotate).
        let uri: hyper::Uri = self
            .authorizer
            .jwks_url
            .parse()
            .map_err(|e| Unauthorized(format!("JWKS URL: {e}")))?;
        let request = Request::get(uri)
            .body(Full::new(Bytes::new()))
            .expect("a GET request");
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| Unauthorized(format!("fetching the JWKS: {e}")))?;
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Unauthorized(format!("reading the JWKS: {e}")))?
            .to_bytes();
        let jwks: Value = serde_json::from_slice(&body)
            .map_err(|e| Unauthorized(format!("the JWKS is not JSON: {e}")))?;
        let mut keys = self.keys.lock().expect("keys lock poisoned");
        for key in jwks["keys"].as_array().into_iter().flatten() {
            let (Some(id), Some(n), Some(e), Some("RSA")) = (
                key["kid"].as_str(),
                key["n"].as_str(),
                key["e"].as_str(),
                key["kty"].as_str(),
            ) else {
                continue;
            };
            if let Ok(decoding) = DecodingKey::from_rsa_components(n, e) {
                keys.insert(id.to_owned(), decoding);
            }
        }
        keys.get(kid)
            .cloned()
            .ok_or_else(|| Unauthorized(format!("no key {kid} in the issuer's JWKS")))
    }

    /// The verified claims of `authorization` (`Bearer <jwt>` or the bare
    /// token, as API Gateway takes either): an RS256 signature by a key of
    /// the issuer's JWKS, `iss`, the audience (`aud` of an ID token,
    /// `client_id` of an access token), `token_use`, `exp` and `nbf`.
    pub async fn authorize(
        &self,
        authorization: Option<&str>,
    ) -> Result<Map<String, Value>, Unauthorized> {
        let token = authorization
            .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Unauthorized("no Authorization header".into()))?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| Unauthorized(format!("not a JWT: {e}")))?;
        if header.alg != Algorithm::RS256 {
            return Err(Unauthorized(format!("algorithm {:?}", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| Unauthorized("no key id".into()))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.authorizer.issuer]);
        validation.set_required_spec_claims(&["iss", "exp"]);
        // Checked below against this front's clock, and the audience by
        // token use.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| Unauthorized(format!("invalid token: {e}")))?
            .claims;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
            + self.skew.load(Ordering::Relaxed);
        let number = |name: &str| claims.get(name).and_then(Value::as_i64);
        if number("exp").is_none_or(|exp| now >= exp) {
            return Err(Unauthorized("the token has expired".into()));
        }
        if number("nbf").is_some_and(|nbf| now < nbf) {
            return Err(Unauthorized("the token is not valid yet".into()));
        }
        let audience = match claims.get("token_use").and_then(Value::as_str) {
            Some("id") => claims.get("aud"),
            Some("access") => claims.get("client_id"),
            other => return Err(Unauthorized(format!("token use {other:?}"))),
        };
        let audience_ok = match audience {
            Some(Value::String(a)) => self.authorizer.audience.contains(a),
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .any(|a| self.authorizer.audience.iter().any(|ok| ok == a)),
            _ => false,
        };
        if !audience_ok {
            return Err(Unauthorized("the token is for another audience".into()));
        }
        Ok(claims)
    }
}
