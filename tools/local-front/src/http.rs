//! The HTTP front before moto.

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
use crate::iam::{Enforcer, Refusal, SessionRecord};
use crate::kms::KmsUse;
use crate::s3::KmsWork;
use crate::sigv4::{AuthError, Signed};

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

use crate::request::Form;
use crate::server::{Answer, plain, service_answer};

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
    /// Multipart uploads begun with SSE-KMS: upload id to key.
    uploads: Mutex<std::collections::HashMap<String, String>>,
    /// The search domain's stand-in engine.
    search: crate::search::Engine,
}

/// The HTTP front: a pass-through proxy to moto that injects faults on
/// command. It runs on the current tokio runtime until dropped.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use local_front::{HttpFault, HttpFront, HttpRule, Service};
///
/// let front = HttpFront::start("127.0.0.1:0".parse().unwrap(), "127.0.0.1:25500".parse().unwrap()).await?;
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
            uploads: Mutex::default(),
            search: crate::search::Engine::default(),
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
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let signed = Signed {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: &query,
        headers: &headers,
        body: &body,
    };
    // The door: one classification, then authentication.
    let request = match crate::request::classify(&signed) {
        Ok(request) => request,
        Err(refusal) => return Ok(door_answer(refusal)),
    };
    let service = Some(request.service);
    let now = std::time::SystemTime::now();
    let mut secret = None;
    if let (Some(signature), true) = (&request.signature, shared.enforcer.authenticates()) {
        let verified = shared
            .enforcer
            .secret(&signature.access_key_id)
            .ok_or(AuthError::UnknownKey)
            .and_then(|known| {
                crate::sigv4::verify(&signed, signature, &known, now).map(|()| known)
            });
        match verified {
            Ok(known) => secret = Some(known),
            Err(error) => return Ok(door_answer(crate::request::auth_refusal(&error, service))),
        }
    }
    let assume_role = (request.service == Service::Sts && request.operation == "AssumeRole")
        .then(|| request.params.clone());
    if let Some(fields) = &assume_role {
        shared
            .assume_roles
            .lock()
            .expect("record lock poisoned")
            .push(fields.clone());
        let registry = shared.enforcer.registry();
        let registry = registry.is_configured().then_some(registry);
        let trusted = |registry: &local_iam::RegistryFile| {
            let caller = request
                .signer()
                .and_then(|key| shared.enforcer.caller_arn(key));
            crate::sts::check_trust(fields, caller.as_deref(), registry)
        };
        if let Err((status, code, message)) = crate::sts::check_assume_role(fields, registry)
            .and_then(|()| registry.map_or(Ok(()), trusted))
        {
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
    let mut lose_answer = false;
    if let Some(fault) = fault {
        shared.injected.fetch_add(1, Ordering::Relaxed);
        match fault {
            crate::HttpFault::Delay { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
            crate::HttpFault::Reset => return Err(io::Error::other("fault: reset")),
            crate::HttpFault::LoseAnswer => lose_answer = true,
            other => {
                let (status, text) = answer(&other, service).expect("an answering fault");
                return Ok(service_answer(status, text, service));
            }
        }
    }
    if request.service == Service::Es {
        // The search domain is served here: IAM on the path, then the
        // stand-in engine ([`crate::search`]).
        let signer = request.signer().unwrap_or_default();
        let path = parts.uri.path();
        if let Some(refusal) = shared
            .enforcer
            .check_es(signer, &request.operation, path, now)
        {
            return Ok(refused(refusal, service));
        }
        shared.passed.fetch_add(1, Ordering::Relaxed);
        let (status, answer) = shared
            .search
            .serve(parts.method.as_str(), path, &query, &body);
        if lose_answer {
            let (status, text) = crate::faults::answer(&crate::HttpFault::LoseAnswer, service)
                .expect("an answering fault");
            return Ok(service_answer(status, text, service));
        }
        return Ok(service_answer(status, answer.to_string(), service));
    }
    if request.service == Service::CognitoIdentity {
        // The identity pool is served here, not by moto (whose pool hands
        // out fixed fake credentials without looking at the token).
        let target = request.target().unwrap_or_default();
        let front = crate::cognito_identity::Front {
            enforcer: &shared.enforcer,
            identity: &shared.identity,
            upstream: shared.upstream,
        };
        let served = crate::cognito_identity::serve(&front, &target, &body).await;
        if lose_answer {
            // The pool did its work (an exchange is recorded); the answer
            // is lost.
            let (status, text) = crate::faults::answer(&crate::HttpFault::LoseAnswer, service)
                .expect("an answering fault");
            return Ok(service_answer(status, text, service));
        }
        return Ok(served);
    }
    let signer = request.signer().map(str::to_owned);
    let region = request.region().to_owned();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let sse = header("x-amz-server-side-encryption");
    let refusal = match (&request.s3, signer.as_deref()) {
        (Some(op), Some(key)) => match shared
            .enforcer
            .check_s3(key, op, parts.uri.path(), sse, now)
        {
            Some(refusal) => Some(refusal),
            None => s3_kms_checks(&shared, key, op, &parts.headers, &region).await,
        },
        _ => match (request.service, signer.as_deref()) {
            (Service::DynamoDb, Some(key)) => shared.enforcer.check_dynamodb(
                key,
                &request.target().unwrap_or_default(),
                &body,
                now,
            ),
            (Service::Kms, Some(key)) if shared.enforcer.authenticates() => shared
                .enforcer
                .check_kms_api(key, &request.operation, &body, now),
            (Service::SecretsManager, Some(key)) => shared.enforcer.check_secret(
                key,
                &request.target().unwrap_or_default(),
                &query,
                &body,
                now,
            ),
            _ => None,
        },
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
    // A verified presigned request reaches moto signed in the header form
    // (moto cannot authenticate the query form under enforcement).
    let mut parts = parts;
    if let (Some(signature), Some(secret)) = (&request.signature, &secret)
        && signature.presigned()
    {
        let query = crate::sigv4::without_auth_params(&query);
        let resigned = Signed {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: &query,
            headers: &headers,
            body: &body,
        };
        let added = crate::sigv4::header_signature(
            &resigned,
            &signature.access_key_id,
            secret,
            &signature.region,
            &signature.service,
        )
        .map_err(|e| io::Error::other(format!("re-signing a presigned request: {e:?}")))?;
        let path_and_query = if query.is_empty() {
            parts.uri.path().to_owned()
        } else {
            format!("{}?{query}", parts.uri.path())
        };
        parts.uri = path_and_query.parse().map_err(io::Error::other)?;
        for (name, value) in added {
            let name =
                hyper::header::HeaderName::from_bytes(name.as_bytes()).map_err(io::Error::other)?;
            let value = hyper::header::HeaderValue::from_str(&value).map_err(io::Error::other)?;
            parts.headers.insert(name, value);
        }
    }
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
    // A multipart upload's key, for its parts and its completion.
    if let Some(op) = &request.s3
        && op.name == "CreateMultipartUpload"
        && head.status == StatusCode::OK
        && let Some(upload_id) = crate::iam::element(&String::from_utf8_lossy(&answer), "UploadId")
        && let Some(kms_key) = head
            .headers
            .get("x-amz-server-side-encryption-aws-kms-key-id")
            .and_then(|v| v.to_str().ok())
    {
        shared
            .uploads
            .lock()
            .expect("uploads lock poisoned")
            .insert(upload_id.to_owned(), kms_key.to_owned());
    }
    if let Some(record) = assume_role
        .filter(|_| head.status == StatusCode::OK)
        .and_then(|fields| crate::iam::record(&fields, &String::from_utf8_lossy(&answer)))
    {
        shared.enforcer.remember(record);
    }
    if lose_answer {
        let (status, text) = crate::faults::answer(&crate::HttpFault::LoseAnswer, service)
            .expect("an answering fault");
        return Ok(service_answer(status, text, service));
    }
    Ok(Response::from_parts(head, Full::new(answer)))
}

/// The KMS calls S3 makes for an S3 operation with the caller's
/// permissions, before it answers: a data key for a new object (the key
/// the request names, or the AWS-managed `aws/s3` key), the upload's key
/// for a part or a completion, and the copy source's key for a copy.
async fn s3_kms_checks(
    shared: &Shared,
    signer: &str,
    op: &crate::s3::S3Operation,
    headers: &hyper::HeaderMap,
    region: &str,
) -> Option<Refusal> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match &op.kms {
        KmsWork::NewObject if header("x-amz-server-side-encryption") == Some("aws:kms") => {
            let target =
                header("x-amz-server-side-encryption-aws-kms-key-id").unwrap_or("alias/aws/s3");
            if let Some(refusal) =
                kms_check(shared, signer, target, KmsUse::GenerateDataKey, region)
            {
                return Some(refusal);
            }
        }
        KmsWork::Upload { upload_id } => {
            let key = shared
                .uploads
                .lock()
                .expect("uploads lock poisoned")
                .get(upload_id)
                .cloned();
            if let Some(key) = key {
                for use_ in [KmsUse::Decrypt, KmsUse::GenerateDataKey] {
                    if let Some(refusal) = kms_check(shared, signer, &key, use_, region) {
                        return Some(refusal);
                    }
                }
            }
        }
        _ => {}
    }
    if let Some((bucket, key, version)) = &op.copy_source
        && let Some(source_key) =
            source_kms_key(shared, signer, bucket, key, version.as_deref(), region).await
    {
        return kms_check(shared, signer, &source_key, KmsUse::Decrypt, region);
    }
    None
}

/// The KMS key a copy's source object is stored with: asked of moto with
/// the caller's own credentials, as S3 reads the source as the caller.
async fn source_kms_key(
    shared: &Shared,
    signer: &str,
    bucket: &str,
    key: &str,
    version: Option<&str>,
    region: &str,
) -> Option<String> {
    let secret = shared.enforcer.secret(signer)?;
    let encoded: String = key
        .split('/')
        .map(|segment| percent_encoding::utf8_percent_encode(segment, KEY_SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/");
    let path = format!("/{bucket}/{encoded}");
    let query = version
        .map(|v| {
            format!(
                "versionId={}",
                percent_encoding::utf8_percent_encode(v, KEY_SEGMENT)
            )
        })
        .unwrap_or_default();
    let host = shared.upstream.to_string();
    let headers = vec![("host".to_owned(), host)];
    let head = Signed {
        method: "HEAD",
        path: &path,
        query: &query,
        headers: &headers,
        body: b"",
    };
    let signed = crate::sigv4::header_signature(&head, signer, &secret, region, "s3").ok()?;
    let uri = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    let mut request = Request::builder()
        .method(Method::HEAD)
        .uri(format!("http://{}{uri}", shared.upstream));
    for (name, value) in signed.iter().chain(headers.iter()) {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = shared
        .client
        .request(request.body(Full::new(Bytes::new())).ok()?)
        .await
        .ok()?;
    let headers = response.headers();
    (headers
        .get("x-amz-server-side-encryption")
        .and_then(|v| v.to_str().ok())
        == Some("aws:kms"))
    .then(|| {
        headers
            .get("x-amz-server-side-encryption-aws-kms-key-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    })
    .flatten()
}

/// What an S3 key segment keeps unencoded (SigV4's unreserved set).
const KEY_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The door's refusal, in the service's own error shape.
fn door_answer(refusal: crate::request::DoorRefusal) -> Answer {
    let service = refusal.service;
    let body = if service == Some(Service::Es) {
        serde_json::json!({"message": refusal.message}).to_string()
    } else if crate::faults::json_protocol(service) {
        crate::faults::json_error(refusal.code, &refusal.message)
    } else if service == Some(Service::S3) || service.is_none() {
        crate::faults::s3_error(refusal.code, &xml_escape(&refusal.message))
    } else {
        format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>local-front</RequestId></ErrorResponse>",
            refusal.code,
            xml_escape(&refusal.message)
        )
    };
    service_answer(refusal.status, body, service)
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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
        Refusal::S3Denied(message) => {
            return service_answer(
                403,
                crate::faults::s3_error("AccessDenied", &xml_escape(&message)),
                service,
            );
        }
        Refusal::Kms(kms) => {
            let (status, code, message) = kms.answer();
            return service_answer(status, crate::faults::s3_error(code, &message), service);
        }
        Refusal::KmsFault(fault) => {
            let (status, code, message) = crate::faults::kms_answer(&fault);
            return service_answer(status, crate::faults::s3_error(code, message), service);
        }
        Refusal::Invalid(status, code, message) => {
            return door_answer(crate::request::DoorRefusal {
                service,
                status,
                code,
                message,
            });
        }
    };
    let (status, text) = answer(&fault, service).expect("an answering fault");
    service_answer(status, text, service)
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
