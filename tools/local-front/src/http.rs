//! The HTTP front before moto.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::net::TcpListener;

use crate::faults::{HttpFault, HttpRule, Service, answer};
use crate::iam::{Enforcer, Refusal, SessionRecord, access_key};
use crate::kms::KmsUse;

/// Where the control API lives; moto never sees these paths.
pub const CONTROL_PATH: &str = "/__front/faults";
/// What the front has counted, as JSON: the KMS calls S3 would have made
/// (`kms_calls`), identity-pool credentials issued, requests passed to moto
/// and faults injected.
pub const COUNTERS_PATH: &str = "/__front/counters";
/// The recorded STS sessions: `GET {SESSIONS_PATH}/<access key id>` answers
/// one as JSON (404 if unknown); `POST {SESSIONS_PATH}/<access key id>/expire`
/// expires it, `POST {SESSIONS_PATH}/expire` all of them.
pub const SESSIONS_PATH: &str = "/__front/sessions";

use crate::server::Answer;

pub(crate) struct Shared {
    pub(crate) upstream: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    rules: Mutex<Vec<HttpRule>>,
    injected: AtomicU64,
    passed: AtomicU64,
    assume_roles: Mutex<Vec<Form>>,
    pub(crate) enforcer: Enforcer,
    pub(crate) identity: crate::cognito_identity::Identities,
    /// Held across a conditional S3 write (check and write as one).
    conditional_writes: tokio::sync::Mutex<()>,
    /// The KMS calls S3 makes for the requests seen (one per SSE-KMS read
    /// or write: Bucket Keys are off).
    kms_calls: AtomicU64,
}

/// A form-encoded request body (an STS query call), field name to value.
pub type Form = BTreeMap<String, String>;

/// Decode an `application/x-www-form-urlencoded` body.
///
/// ```
/// let form = local_front::http::form(b"Action=AssumeRole&Policy=%7B%22a%22%3A1%7D&Name=a+b");
/// assert_eq!(form["Action"], "AssumeRole");
/// assert_eq!(form["Policy"], r#"{"a":1}"#);
/// assert_eq!(form["Name"], "a b");
/// ```
pub fn form(body: &[u8]) -> Form {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// The HTTP front: a pass-through proxy to moto that injects faults on
/// command. It runs on the current tokio runtime until dropped.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use local_front::{HttpFault, HttpFront, HttpRule, Service};
///
/// let front = HttpFront::start("127.0.0.1:0".parse().unwrap(), "127.0.0.1:55500".parse().unwrap()).await?;
/// // Point AWS_ENDPOINT_URL at front.endpoint(); then, on command:
/// front.inject(HttpRule::new(HttpFault::Throttle).service(Service::Sts).times(5));
/// front.clear();
/// # Ok(()) }
/// ```
pub struct HttpFront {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for HttpFront {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFront")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .finish_non_exhaustive()
    }
}

impl HttpFront {
    /// Listen on `listen` (port 0 picks one) and pass requests to `upstream`,
    /// recording sessions but enforcing nothing beyond moto.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> io::Result<Self> {
        Self::start_with(listen, upstream, Enforcer::new(None)).await
    }

    /// [`start`](Self::start), and decide S3 requests of recorded sessions
    /// as IAM would, over the deployed roles of the registry file at
    /// `registry` (see [`crate::iam`]).
    pub async fn start_enforcing(
        listen: SocketAddr,
        upstream: SocketAddr,
        registry: std::path::PathBuf,
    ) -> io::Result<Self> {
        Self::start_with(listen, upstream, Enforcer::new(Some(registry))).await
    }

    async fn start_with(
        listen: SocketAddr,
        upstream: SocketAddr,
        enforcer: Enforcer,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            client: crate::server::client(),
            rules: Mutex::new(Vec::new()),
            injected: AtomicU64::new(0),
            passed: AtomicU64::new(0),
            assume_roles: Mutex::new(Vec::new()),
            enforcer,
            identity: crate::cognito_identity::Identities::default(),
            conditional_writes: tokio::sync::Mutex::new(()),
            kms_calls: AtomicU64::new(0),
        });
        // A service error (the Reset fault) closes the connection.
        let task = crate::server::serve(listener, shared.clone(), |shared, request, _| {
            handle(shared, request)
        });
        Ok(HttpFront { addr, shared, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Add a rule; the first matching rule (oldest first) applies.
    pub fn inject(&self, rule: HttpRule) {
        self.shared
            .rules
            .lock()
            .expect("rules lock poisoned")
            .push(rule);
    }

    /// Remove every rule: pass everything through.
    pub fn clear(&self) {
        self.shared
            .rules
            .lock()
            .expect("rules lock poisoned")
            .clear();
    }

    /// How many requests got a fault.
    pub fn injected(&self) -> u64 {
        self.shared.injected.load(Ordering::Relaxed)
    }

    /// Every `AssumeRole` request that reached the front, oldest first, as
    /// STS receives it (role, session name, tags, session policy, duration).
    pub fn assume_role_requests(&self) -> Vec<Form> {
        self.shared
            .assume_roles
            .lock()
            .expect("record lock poisoned")
            .clone()
    }

    /// The session of `access_key_id`, if the front saw its `AssumeRole`.
    pub fn session(&self, access_key_id: &str) -> Option<SessionRecord> {
        self.shared.enforcer.session(access_key_id)
    }

    /// Expire every session made so far; returns how many.
    pub fn expire_sessions(&self) -> usize {
        self.shared
            .enforcer
            .expire_all(std::time::SystemTime::now())
    }

    /// How many credentials the local identity pool has issued.
    pub fn identity_credentials_issued(&self) -> u64 {
        self.shared.identity.issued()
    }

    /// Check identity-pool tokens as if the clock were `seconds` ahead
    /// (expiry tests).
    pub fn skew_identity_clock(&self, seconds: i64) {
        self.shared.identity.skew_clock(seconds);
    }

    /// How many KMS calls S3 would have made for the requests seen.
    pub fn kms_calls(&self) -> u64 {
        self.shared.kms_calls.load(Ordering::Relaxed)
    }

    /// How many requests were passed to moto.
    pub fn passed(&self) -> u64 {
        self.shared.passed.load(Ordering::Relaxed)
    }
}

impl Drop for HttpFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn plain(status: StatusCode, body: impl Into<Bytes>) -> Answer {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Answer, io::Error> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| io::Error::other(format!("reading the request body: {e}")))?
        .to_bytes();
    if parts.uri.path() == CONTROL_PATH {
        return Ok(control(&shared, &parts.method, &body));
    }
    if let Some(rest) = parts.uri.path().strip_prefix(SESSIONS_PATH) {
        return Ok(sessions(&shared, &parts.method, rest));
    }
    if parts.uri.path() == COUNTERS_PATH {
        let counters = serde_json::json!({
            "kms_calls": shared.kms_calls.load(Ordering::Relaxed),
            "identity_credentials_issued": shared.identity.issued(),
            "passed": shared.passed.load(Ordering::Relaxed),
            "injected": shared.injected.load(Ordering::Relaxed),
        });
        return Ok(plain(StatusCode::OK, counters.to_string()));
    }
    let authorization = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let query = parts.uri.query().unwrap_or_default();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let service = Service::of(authorization, query, target.as_deref());
    let assume_role = (service == Some(Service::Sts))
        .then(|| form(&body))
        .filter(|fields| fields.get("Action").map(String::as_str) == Some("AssumeRole"));
    if let Some(fields) = &assume_role {
        shared
            .assume_roles
            .lock()
            .expect("record lock poisoned")
            .push(fields.clone());
        let registry = shared.enforcer.registry();
        let registry = registry.is_configured().then_some(registry);
        if let Err((status, code, message)) = crate::sts::check_assume_role(fields, registry) {
            let xml = format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>local-front</RequestId></ErrorResponse>"
            );
            return Ok(service_answer(status, xml, service));
        }
    }
    let line = format!("{} {}", parts.method, parts.uri);
    let fault = {
        let mut rules = shared.rules.lock().expect("rules lock poisoned");
        rules
            .iter_mut()
            .find(|rule| rule.matches(service, &line, &body))
            .map(|rule| {
                if let Some(n) = rule.times.as_mut() {
                    *n -= 1;
                }
                rule.fault.clone()
            })
    };
    if let Some(fault) = fault {
        shared.injected.fetch_add(1, Ordering::Relaxed);
        match fault {
            crate::HttpFault::Delay { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
            crate::HttpFault::Reset => return Err(io::Error::other("fault: reset")),
            other => {
                let (status, text) = answer(&other, service).expect("an answering fault");
                return Ok(service_answer(status, text, service));
            }
        }
    }
    if service == Some(Service::CognitoIdentity) {
        // The identity pool is served here, not by moto (whose pool hands
        // out fixed fake credentials without looking at the token).
        let target = target.unwrap_or_default();
        return Ok(crate::cognito_identity::serve(&shared, &target, &body).await);
    }
    let now = std::time::SystemTime::now();
    let signer = access_key(authorization, query);
    let region = crate::kms::signed_region(authorization).unwrap_or_else(|| "us-east-1".into());
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let sse = header("x-amz-server-side-encryption");
    let refusal = match (service, signer.as_deref()) {
        (Some(Service::S3), Some(key)) => shared
            .enforcer
            .check_s3(
                key,
                parts.method.as_str(),
                parts.uri.path(),
                query,
                sse,
                now,
            )
            .or_else(|| {
                // S3 asks KMS for a data key before it writes an SSE-KMS
                // object.
                let writes = parts.method == Method::PUT
                    && parts.uri.path().trim_start_matches('/').contains('/');
                (writes && sse == Some("aws:kms"))
                    .then(|| {
                        let target = header("x-amz-server-side-encryption-aws-kms-key-id")
                            .unwrap_or("alias/aws/s3");
                        kms_check(&shared, key, target, KmsUse::GenerateDataKey, &region)
                    })
                    .flatten()
            }),
        (Some(Service::DynamoDb), Some(key)) => {
            shared
                .enforcer
                .check_dynamodb(key, target.as_deref().unwrap_or_default(), &body, now)
        }
        (Some(Service::SecretsManager), Some(key)) => shared.enforcer.check_secret(
            key,
            target.as_deref().unwrap_or_default(),
            query,
            &body,
            now,
        ),
        _ => None,
    };
    if let Some(refusal) = refusal {
        return Ok(refused(refusal, service));
    }
    shared.passed.fetch_add(1, Ordering::Relaxed);
    let is_get = parts.method == Method::GET;
    // Conditional writes are checked and made as one step, as S3 makes
    // them (moto serves requests on threads and checks, then writes).
    let conditional = service == Some(Service::S3)
        && (parts.method == Method::PUT || parts.method == Method::DELETE)
        && (parts.headers.contains_key(hyper::header::IF_MATCH)
            || parts.headers.contains_key(hyper::header::IF_NONE_MATCH));
    let guard = if conditional {
        Some(shared.conditional_writes.lock().await)
    } else {
        None
    };
    let (head, answer) = forward(&shared, parts, body).await?;
    drop(guard);
    // S3 decrypts an SSE-KMS object with the reader's own permission.
    if let (Some(Service::S3), Some(key), true) = (service, signer.as_deref(), is_get) {
        let stored_with = |name: &str| head.headers.get(name).and_then(|v| v.to_str().ok());
        if stored_with("x-amz-server-side-encryption") == Some("aws:kms")
            && let Some(object_key) = stored_with("x-amz-server-side-encryption-aws-kms-key-id")
            && let Some(refusal) = kms_check(&shared, key, object_key, KmsUse::Decrypt, &region)
        {
            return Ok(refused(refusal, service));
        }
    }
    if let Some(record) = assume_role
        .filter(|_| head.status == StatusCode::OK)
        .and_then(|fields| crate::iam::record(&fields, &String::from_utf8_lossy(&answer)))
    {
        shared.enforcer.remember(record);
    }
    Ok(Response::from_parts(head, Full::new(answer)))
}

/// S3's KMS call for a request signed by `signer`: an injected KMS fault
/// first (a rule for `kms`), else the enforcer's decision.
fn kms_check(
    shared: &Shared,
    signer: &str,
    key: &str,
    use_: KmsUse,
    region: &str,
) -> Option<Refusal> {
    shared.kms_calls.fetch_add(1, Ordering::Relaxed);
    let line = format!("kms {} {key}", use_.action());
    let fault = {
        let mut rules = shared.rules.lock().expect("rules lock poisoned");
        rules
            .iter_mut()
            .find(|rule| {
                rule.service == Some(Service::Kms) && rule.matches(Some(Service::Kms), &line, b"")
            })
            .map(|rule| {
                if let Some(n) = rule.times.as_mut() {
                    *n -= 1;
                }
                rule.fault.clone()
            })
    };
    if let Some(fault) = fault {
        shared.injected.fetch_add(1, Ordering::Relaxed);
        return Some(Refusal::KmsFault(fault));
    }
    shared.enforcer.check_kms(signer, key, use_, region)
}

/// The answer for a refusal, as the service gives it.
fn refused(refusal: Refusal, service: Option<Service>) -> Answer {
    let fault = match refusal {
        Refusal::Expired => HttpFault::ExpiredToken,
        Refusal::Denied(_) => HttpFault::AccessDenied,
        Refusal::Kms(kms) => {
            let (status, code, message) = kms.answer();
            return service_answer(status, crate::faults::s3_error(code, &message), service);
        }
        Refusal::KmsFault(fault) => {
            let (status, code, message) = crate::faults::kms_answer(&fault);
            return service_answer(status, crate::faults::s3_error(code, message), service);
        }
    };
    let (status, text) = answer(&fault, service).expect("an answering fault");
    service_answer(status, text, service)
}

/// A service's own error answer: XML, or JSON for the JSON-protocol
/// services.
pub(crate) fn service_answer(status: u16, text: String, service: Option<Service>) -> Answer {
    let mut response = plain(StatusCode::from_u16(status).expect("a valid status"), text);
    let content_type = if crate::faults::json_protocol(service) {
        "application/x-amz-json-1.0"
    } else {
        "text/xml"
    };
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    // Who answered: the JSON protocols' request-id header (S3's XML body
    // carries <RequestId>local-front</RequestId>), so a test can tell the
    // front's refusal from moto's.
    response.headers_mut().insert(
        "x-amzn-requestid",
        hyper::header::HeaderValue::from_static("local-front"),
    );
    response
}

/// The session records: `GET /<key>` one as JSON, `POST /<key>/expire`
/// expires it, `POST /expire` expires all.
fn sessions(shared: &Shared, method: &Method, rest: &str) -> Answer {
    match (method, rest.trim_start_matches('/')) {
        (&Method::POST, "expire") => {
            let n = shared.enforcer.expire_all(std::time::SystemTime::now());
            plain(StatusCode::OK, format!("{{\"expired\":{n}}}"))
        }
        (&Method::POST, path) if path.ends_with("/expire") => {
            let key = path.trim_end_matches("/expire");
            if shared.enforcer.expire(key, std::time::SystemTime::now()) {
                plain(StatusCode::OK, "{\"expired\":1}")
            } else {
                plain(StatusCode::NOT_FOUND, "no such session\n")
            }
        }
        (&Method::GET, key) if !key.is_empty() => match shared.enforcer.session(key) {
            Some(record) => plain(
                StatusCode::OK,
                serde_json::to_string(&record).expect("records serialize"),
            ),
            None => plain(StatusCode::NOT_FOUND, "no such session\n"),
        },
        _ => plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "GET /<access key id>, POST /<access key id>/expire or POST /expire\n",
        ),
    }
}

/// Pass the request to moto unchanged (the `Host` header included, so the
/// signature moto checks is the one the client made) and its answer back.
async fn forward(
    shared: &Shared,
    parts: hyper::http::request::Parts,
    body: Bytes,
) -> Result<(hyper::http::response::Parts, Bytes), io::Error> {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let uri = format!("http://{}{path}", shared.upstream)
        .parse::<hyper::Uri>()
        .map_err(io::Error::other)?;
    let mut upstream = Request::from_parts(parts, Full::new(body));
    *upstream.uri_mut() = uri;
    let response = match shared.client.request(upstream).await {
        Ok(response) => response,
        Err(e) => {
            let (head, body) = plain(
                StatusCode::BAD_GATEWAY,
                format!("local-front: moto did not answer: {e}"),
            )
            .into_parts();
            return Ok((head, body.into_inner().unwrap_or_default()));
        }
    };
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| io::Error::other(format!("reading moto's answer: {e}")))?
        .to_bytes();
    Ok((parts, body))
}

/// `GET` lists the rules, `POST` adds one (JSON [`HttpRule`]), `DELETE`
/// removes them all.
fn control(shared: &Shared, method: &Method, body: &[u8]) -> Answer {
    let mut rules = shared.rules.lock().expect("rules lock poisoned");
    match *method {
        Method::GET => {}
        Method::POST => match serde_json::from_slice::<HttpRule>(body) {
            Ok(rule) => rules.push(rule),
            Err(e) => return plain(StatusCode::BAD_REQUEST, format!("not a rule: {e}\n")),
        },
        Method::DELETE => rules.clear(),
        _ => return plain(StatusCode::METHOD_NOT_ALLOWED, "GET, POST or DELETE\n"),
    }
    let json = serde_json::to_string(&*rules).expect("rules serialize");
    plain(StatusCode::OK, json)
}
