//! The REST API's Lambda `REQUEST` authorizer, for Lambda's tenant
//! isolation mode.
//!
//! A function deployed with `TenancyConfig: PER_TENANT` is invoked with a
//! tenant id, which a REST API sets in `X-Amz-Tenant-Id` from a mapping
//! expression. This authorizer verifies the caller's token and answers with
//! the tenant as `context.authorizer.tenantId`, the mapping's source (see
//! [`tenant_access::authorizer`] for the checks and the answer). The keys are
//! fetched from the issuer at cold start, and again (at a bounded rate) when
//! a token names a key the authorizer does not know.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tenant_access::authorizer::{
    Authorizer, AuthorizerRequest, AuthorizerResponse, KeySet, Refusal, TokenRules,
};
use tenant_access::config::AuthorizerConfig;

/// How long one fetch of the key set may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a request is not allowed through.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizerError {
    /// The token is refused. API Gateway answers 401 only for an error whose
    /// message is exactly `Unauthorized`, so the reason stays in the log.
    #[error("Unauthorized")]
    Unauthorized,
    /// The issuer's keys could not be had, so no token can be checked (API
    /// Gateway answers 500: the fault is not the caller's).
    #[error("the issuer's signing keys are unavailable")]
    KeysUnavailable,
}

impl From<AuthorizerError> for lambda_runtime::Diagnostic {
    fn from(error: AuthorizerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: match error {
                AuthorizerError::Unauthorized => "Unauthorized",
                AuthorizerError::KeysUnavailable => "KeysUnavailable",
            }
            .to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// A key set could not be fetched.
#[derive(Debug, thiserror::Error)]
#[error("fetching {url}: {reason}")]
pub struct FetchError {
    url: String,
    reason: String,
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// The issuer's keys, and when they were last fetched.
struct Keys {
    url: String,
    client: HttpsClient,
    set: RwLock<Arc<KeySet>>,
    last_fetch: Mutex<Option<Instant>>,
    min_interval: Duration,
}

impl Keys {
    fn new(url: String, min_interval: Duration) -> Result<Self, FetchError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| FetchError {
                url: url.clone(),
                reason: format!("no TLS roots: {e}"),
            })?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Keys {
            url,
            client: Client::builder(TokioExecutor::new()).build(connector),
            set: RwLock::new(Arc::new(KeySet::default())),
            last_fetch: Mutex::new(None),
            min_interval,
        })
    }

    fn current(&self) -> Arc<KeySet> {
        self.set.read().expect("key set lock poisoned").clone()
    }

    /// Fetch the key set again unless it was fetched within the minimum
    /// interval; `true` when a new set is in place.
    async fn refresh(&self) -> bool {
        {
            let mut last = self.last_fetch.lock().expect("fetch time lock poisoned");
            if last.is_some_and(|at| at.elapsed() < self.min_interval) {
                return false;
            }
            *last = Some(Instant::now());
        }
        match self.fetch().await {
            Ok(set) => {
                tracing::info!(keys = set.len(), "fetched the issuer's signing keys");
                *self.set.write().expect("key set lock poisoned") = Arc::new(set);
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "the issuer's signing keys could not be fetched");
                false
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, FetchError> {
        let fail = |reason: String| FetchError {
            url: self.url.clone(),
            reason,
        };
        let uri: hyper::Uri = self.url.parse().map_err(|e| fail(format!("{e}")))?;
        let get = async {
            let response = self
                .client
                .get(uri)
                .await
                .map_err(|e| fail(e.to_string()))?;
            if !response.status().is_success() {
                return Err(fail(format!("status {}", response.status())));
            }
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| fail(e.to_string()))?
                .to_bytes();
            KeySet::from_jwks(&body).map_err(|e| fail(e.to_string()))
        };
        tokio::time::timeout(FETCH_TIMEOUT, get)
            .await
            .map_err(|_| fail(format!("no answer in {FETCH_TIMEOUT:?}")))?
    }
}

/// What the authorizer keeps between invocations: its rules and the
/// issuer's keys.
pub struct App {
    authorizer: Authorizer,
    keys: Keys,
}

impl App {
    /// The authorizer `config` describes, with the issuer's keys fetched
    /// (a failed fetch is logged and retried by the first request).
    pub async fn new(config: AuthorizerConfig) -> Self {
        let keys = match Keys::new(config.jwks_url.clone(), config.jwks_refresh) {
            Ok(keys) => keys,
            Err(e) => {
                // No TLS roots at all: nothing this process can fix.
                tracing::error!(error = %e, "the authorizer cannot fetch keys");
                std::process::exit(1);
            }
        };
        keys.refresh().await;
        let mut authorizer = Authorizer::new(
            TokenRules::new(config.issuer, config.audiences),
            config.tenant_claim,
        );
        if let Some(prefix) = config.usage_key_prefix {
            authorizer = authorizer.with_usage_keys(prefix);
        }
        App { authorizer, keys }
    }
}

/// Answer one `REQUEST` authorizer invocation.
pub async fn function_handler(
    app: &App,
    request: AuthorizerRequest,
) -> Result<AuthorizerResponse, AuthorizerError> {
    let answer = |keys: &KeySet| app.authorizer.answer(&request, keys, SystemTime::now());
    let mut keys = app.keys.current();
    let mut result = answer(&keys);
    if matches!(result, Err(Refusal::UnknownKey(_))) && app.keys.refresh().await {
        keys = app.keys.current();
        result = answer(&keys);
    }
    match result {
        Ok(response) => {
            tracing::info!(
                effect = response.policy_document.statement[0].effect,
                "authorized"
            );
            Ok(response)
        }
        Err(Refusal::UnknownKey(_)) if keys.is_empty() => Err(AuthorizerError::KeysUnavailable),
        Err(refusal) => {
            tracing::info!(reason = %refusal, "token refused");
            Err(AuthorizerError::Unauthorized)
        }
    }
}
