//! Tenant-scoped search: the tenant's own index of a shared OpenSearch
//! domain.
//!
//! Every tenant's documents live in one index of its own,
//! `<tenant>.docs` ([`tenant_index`]), whose name is built here from the
//! *session's* tenant, never from the request: a request names only a
//! [`DocId`] or a query string. Each call is signed (SigV4, service `es`,
//! with the SDK's signer) with the tenant session's credentials, and the
//! domain's IAM-based access policy, with the tenant's role (or the shared
//! role's tag, or the session policy) allows `es:ESHttp*` only on that
//! index's documents and its `_search`
//! ([`SessionScope::Search`](crate::session_policy::SessionScope::Search)).
//! So a bug that built another tenant's index name, an index pattern
//! (`_all`, `*`, `t1*`), a comma list or a multi-index call would be refused
//! by IAM. The domain also sets `rest.action.multi.allow_explicit_index:
//! false`, so no `_bulk`, `_mget` or `_msearch` body can name another
//! index.
//!
//! Search has no user areas: its sessions are the tenant's.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde_json::Value;

use crate::Error;
use crate::config::SearchConfig;
use crate::credentials::TenantSession;
pub use crate::session_policy::tenant_index;

/// The longest document id, in bytes.
pub const MAX_DOC_ID_LEN: usize = 128;

/// The upstream's name in errors, metrics and logs.
const SERVICE: &str = "search";

/// A document's id: 1 to [`MAX_DOC_ID_LEN`] ASCII letters, digits, `-` and
/// `_`, so it is always one plain path segment.
///
/// ```
/// use tenant_access::search::DocId;
///
/// assert_eq!(DocId::parse("note-1").unwrap().as_str(), "note-1");
/// assert!(DocId::parse("../t2.docs").is_err());
/// assert!(DocId::parse("").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DocId(String);

impl DocId {
    /// The id, or [`Error::BadRequest`] saying why it is not one.
    pub fn parse(id: &str) -> Result<Self, Error> {
        let valid = !id.is_empty()
            && id.len() <= MAX_DOC_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(DocId(id.to_owned()))
        } else {
            Err(Error::BadRequest(format!(
                "a document id is 1 to {MAX_DOC_ID_LEN} of A-Z, a-z, 0-9, - and _"
            )))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// The document's id.
    pub id: String,
    /// Its relevance score.
    pub score: f64,
    /// The document.
    pub document: Value,
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchPage {
    /// How many of the tenant's documents match.
    pub total: u64,
    /// This page of them, best first.
    pub hits: Vec<Hit>,
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The shared domain, seen through one tenant's session at a time.
///
/// ```
/// use tenant_access::config::SearchConfig;
/// use tenant_access::search::TenantIndex;
///
/// let vars = [("SEARCH_ENDPOINT", "https://search.example.com"), ("SEARCH_DOMAIN", "tenant-docs")];
/// let config = SearchConfig::from_lookup(|name: &str| {
///     vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
/// }).unwrap();
/// let index = TenantIndex::new(&config).unwrap();
/// assert_eq!(index.domain(), "tenant-docs");
/// ```
#[derive(Clone)]
pub struct TenantIndex {
    endpoint: String,
    authority: String,
    domain: String,
    timeout: Duration,
    client: HttpsClient,
}

impl std::fmt::Debug for TenantIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantIndex")
            .field("endpoint", &self.endpoint)
            .field("domain", &self.domain)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TenantIndex {
    /// The domain `config` names, with one HTTPS client (rustls on ring,
    /// the system's roots) for all its calls. Fails, naming the cause,
    /// only when the system has no TLS roots.
    pub fn new(config: &SearchConfig) -> Result<Self, Error> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| Error::Misconfigured {
                detail: format!("no TLS roots for the search domain: {e}"),
            })?
            .https_or_http()
            .enable_http1()
            .build();
        let authority = config
            .endpoint
            .split_once("://")
            .map_or(config.endpoint.as_str(), |(_, host)| host)
            .to_owned();
        Ok(TenantIndex {
            endpoint: config.endpoint.clone(),
            authority,
            domain: config.domain.clone(),
            timeout: config.timeout,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// The domain's name.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Index `document` (a JSON object) as `id` in the session's tenant's
    /// index: `true` when it is new, `false` when it replaced one.
    pub async fn put(
        &self,
        session: &TenantSession,
        id: &DocId,
        document: &Value,
    ) -> Result<bool, Error> {
        let body = serde_json::to_vec(document).map_err(|e| Error::BadRequest(e.to_string()))?;
        let path = format!("/{}/_doc/{}", tenant_index(session.tenant()), id.as_str());
        let (status, _) = self.call(session, "PUT", &path, "", body).await?;
        Ok(status == 201)
    }

    /// The document `id` of the session's tenant; [`Error::NotFound`] when
    /// it has none by that id.
    pub async fn get(&self, session: &TenantSession, id: &DocId) -> Result<Value, Error> {
        let path = format!("/{}/_doc/{}", tenant_index(session.tenant()), id.as_str());
        let (_, body) = self.call(session, "GET", &path, "", Vec::new()).await?;
        Ok(body.get("_source").cloned().unwrap_or(Value::Null))
    }

    /// Delete the document `id`; [`Error::NotFound`] when there is none.
    pub async fn delete(&self, session: &TenantSession, id: &DocId) -> Result<(), Error> {
        let path = format!("/{}/_doc/{}", tenant_index(session.tenant()), id.as_str());
        self.call(session, "DELETE", &path, "", Vec::new())
            .await
            .map(|_| ())
    }

    /// The session's tenant's documents matching `query` (a query string:
    /// words, `field:word`, `word*`), `size` of them from `from`, best first.
    /// A tenant that has indexed nothing yet has an empty page.
    pub async fn search(
        &self,
        session: &TenantSession,
        query: &str,
        size: u16,
        from: u32,
    ) -> Result<SearchPage, Error> {
        let path = format!("/{}/_search", tenant_index(session.tenant()));
        let encoded: String =
            percent_encoding::utf8_percent_encode(query, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let query = format!("from={from}&q={encoded}&size={size}");
        let body = match self.call(session, "GET", &path, &query, Vec::new()).await {
            Ok((_, body)) => body,
            Err(Error::NotFound) => {
                return Ok(SearchPage {
                    total: 0,
                    hits: Vec::new(),
                });
            }
            Err(e) => return Err(e),
        };
        let hits = body
            .pointer("/hits/hits")
            .and_then(Value::as_array)
            .map(|hits| {
                hits.iter()
                    .map(|hit| Hit {
                        id: hit["_id"].as_str().unwrap_or_default().to_owned(),
                        score: hit["_score"].as_f64().unwrap_or_default(),
                        document: hit.get("_source").cloned().unwrap_or(Value::Null),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(SearchPage {
            total: body
                .pointer("/hits/total/value")
                .and_then(Value::as_u64)
                .unwrap_or_default(),
            hits,
        })
    }

    /// One signed call: the status and the JSON answer of a 2xx; 404 is
    /// [`Error::NotFound`], and every other answer the error it means.
    async fn call(
        &self,
        session: &TenantSession,
        method: &str,
        path: &str,
        query: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Value), Error> {
        let request = self.signed(session, method, path, query, body)?;
        let answer = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| Error::Unavailable {
                    service: SERVICE,
                    detail: e.to_string(),
                })?;
            // Answered: one of the request's data calls.
            crate::metrics::record(|c| c.data_calls += 1);
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| Error::Unavailable {
                    service: SERVICE,
                    detail: e.to_string(),
                })?
                .to_bytes();
            Ok::<_, Error>((status, bytes))
        };
        let (status, bytes) =
            tokio::time::timeout(self.timeout, answer)
                .await
                .map_err(|_| Error::Unavailable {
                    service: SERVICE,
                    detail: format!("no answer within {:?}", self.timeout),
                })??;
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        match status {
            200..=299 => Ok((status, json)),
            other => Err(session.refused(answer_error(other, &json))),
        }
    }

    /// The request, signed with the session's credentials.
    fn signed(
        &self,
        session: &TenantSession,
        method: &str,
        path: &str,
        query: &str,
        body: Vec<u8>,
    ) -> Result<hyper::Request<Full<Bytes>>, Error> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let misconfigured = |e: &dyn std::fmt::Display| Error::Misconfigured {
            detail: format!("cannot sign a search request: {e}"),
        };
        let uri = if query.is_empty() {
            format!("{}{path}", self.endpoint)
        } else {
            format!("{}{path}?{query}", self.endpoint)
        };
        let config = session.sdk_config();
        let region = config
            .region()
            .ok_or_else(|| misconfigured(&"no AWS region"))?
            .to_string();
        let identity = session.credentials().clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name("es")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| misconfigured(&e))?
            .into();
        let content_type = "application/json";
        let headers = [
            ("host", self.authority.as_str()),
            ("content-type", content_type),
        ];
        let signable = SignableRequest::new(
            method,
            uri.clone(),
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| misconfigured(&e))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| misconfigured(&e))?
            .into_parts();
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", &self.authority)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| misconfigured(&e))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

/// What a domain's error answer means for the caller.
fn answer_error(status: u16, body: &Value) -> Error {
    let message = body
        .get("message")
        .or_else(|| body.get("Message"))
        .or_else(|| body.pointer("/error/type"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let detail = format!("search answered {status}: {message}");
    match status {
        404 => Error::NotFound,
        403 if message.contains("security token") || message.contains("signature") => {
            Error::CredentialsRejected {
                service: SERVICE,
                detail,
            }
        }
        401 | 403 => Error::AccessDenied { detail },
        429 => Error::Throttled {
            service: SERVICE,
            detail,
        },
        500..=599 => Error::Unavailable {
            service: SERVICE,
            detail,
        },
        _ => Error::Upstream {
            service: SERVICE,
            detail,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_map_to_the_errors_they_mean() {
        let status = |s, body: Value| answer_error(s, &body).status().as_u16();
        assert_eq!(status(404, json!({"found": false})), 404);
        assert_eq!(
            status(403, json!({"Message": "User: x is not authorized"})),
            403
        );
        assert!(matches!(
            answer_error(
                403,
                &json!({"message": "The security token included in the request is expired"})
            ),
            Error::CredentialsRejected { .. }
        ));
        assert!(matches!(
            answer_error(429, &json!({})),
            Error::Throttled { .. }
        ));
        assert!(matches!(
            answer_error(503, &json!({})),
            Error::Unavailable { .. }
        ));
        assert!(matches!(
            answer_error(400, &json!({"error": {"type": "x"}})),
            Error::Upstream { .. }
        ));
    }

    #[test]
    fn document_ids_are_one_plain_path_segment() {
        for bad in [
            "a/b",
            "a.b",
            "..",
            "a%2Fb",
            "a b",
            "é",
            &"x".repeat(MAX_DOC_ID_LEN + 1),
        ] {
            assert!(DocId::parse(bad).is_err(), "{bad}");
        }
        assert!(DocId::parse(&"x".repeat(MAX_DOC_ID_LEN)).is_ok());
    }
}
