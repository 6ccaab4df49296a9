//! The one JWT verifier of the local stack: the local API Gateway's
//! authorizer and the local identity pool check tokens with the tenant
//! authorizer's own verifier ([`tenant_access::authorizer`]), as API
//! Gateway's JWT authorizer and Cognito do; this module only fetches and
//! caches the issuer's keys.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Map, Value};
use tenant_access::authorizer::{KeySet, Refusal, TokenRules, bearer};
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
    keys: Mutex<KeySet>,
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

    /// Fetch the issuer's key set again (keys rotate).
    async fn refresh_keys(&self) -> Result<(), Unauthorized> {
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
        let keys = KeySet::from_jwks(&body).map_err(|e| Unauthorized(e.to_string()))?;
        *self.keys.lock().expect("keys lock poisoned") = keys;
        Ok(())
    }

    /// The verified claims of `authorization` (`Bearer <jwt>` or the bare
    /// token, as API Gateway takes either), by the tenant authorizer's rules:
    /// an RS256 signature by a key of the issuer's JWKS, `iss`, the audience
    /// (`aud` of an ID token, `client_id` of an access token), `token_use`,
    /// `exp` and `nbf`.
    pub async fn authorize(
        &self,
        authorization: Option<&str>,
    ) -> Result<Map<String, Value>, Unauthorized> {
        let token = authorization
            .and_then(bearer)
            .ok_or_else(|| Unauthorized(Refusal::Missing.to_string()))?;
        let rules = TokenRules::new(&self.authorizer.issuer, self.authorizer.audience.clone());
        let skew = self.skew.load(Ordering::Relaxed);
        let now = if skew >= 0 {
            SystemTime::now() + Duration::from_secs(skew as u64)
        } else {
            SystemTime::now() - Duration::from_secs(skew.unsigned_abs())
        };
        let verify = |keys: &KeySet| rules.verify(token, keys, now);
        let first = verify(&self.keys.lock().expect("keys lock poisoned"));
        let verified = match first {
            // An unknown key id: fetch the JWKS again (keys rotate).
            Err(Refusal::UnknownKey(_)) => {
                self.refresh_keys().await?;
                verify(&self.keys.lock().expect("keys lock poisoned"))
            }
            other => other,
        };
        verified
            .map(|v| v.into_claims())
            .map_err(|e| Unauthorized(e.to_string()))
    }
}
