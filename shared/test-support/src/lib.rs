//! Helpers for the integration tests: the running local stack's environment
//! (written by `cargo xtask up`) and the `events/` fixtures.

/// The Lambda Runtime API stand-in.
pub use runtime_stand_in as runtime_api;

use std::collections::HashMap;
use std::path::PathBuf;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use lambda_http::{Body, Request, Response};
use serde_json::Value;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The local stack's environment.
#[derive(Debug, Clone)]
pub struct Stack {
    vars: HashMap<String, String>,
}

impl Stack {
    /// Load the environment of the running stack. Panics with instructions
    /// when the stack is not up: these tests need the real servers.
    pub fn load() -> Self {
        let path = std::env::var("TENANT_ACCESS_STACK_ENV")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root().join("target/local-stack/stack.env"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "the local stack is not running ({} is missing): run the tests with `cargo xtask test`, \
                 or start the stack with `cargo xtask up` first",
                path.display()
            )
        });
        let vars = text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Stack { vars }
    }

    /// One variable; panics if the stack did not write it.
    pub fn var(&self, name: &str) -> String {
        self.vars
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("stack.env lacks {name}"))
    }

    /// The functions' environment, for `Config::from_lookup`.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |name| self.vars.get(name).cloned()
    }

    /// The functions' environment: every variable but the tests' own.
    pub fn function_env(&self) -> Vec<(String, String)> {
        let mut vars: Vec<_> = self
            .vars
            .iter()
            .filter(|(k, _)| !k.starts_with("STACK_"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        vars.sort();
        vars
    }

    /// The stack's environment with some variables replaced.
    pub fn with(&self, overrides: &[(&str, &str)]) -> Stack {
        let mut vars = self.vars.clone();
        for (k, v) in overrides {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        Stack { vars }
    }

    /// The stack's environment under isolation strategy `isolation`, with
    /// the shared role the template deploys for it: the tag-keyed variant
    /// under the session-tags strategies (the seed makes both variants).
    pub fn with_strategy(&self, isolation: &str) -> Stack {
        let shared = if isolation.contains("session-tags") {
            self.var("STACK_SHARED_TAGGED_ROLE_ARN")
        } else {
            self.var("TENANT_SHARED_ROLE_ARN")
        };
        self.with(&[
            ("TENANT_ISOLATION", isolation),
            ("TENANT_SHARED_ROLE_ARN", &shared),
        ])
    }

    /// SDK configuration signing as the execution identity (the stand-in for
    /// the Lambda execution role).
    pub async fn sdk_config(&self) -> SdkConfig {
        let creds = Credentials::new(
            self.var("AWS_ACCESS_KEY_ID"),
            self.var("AWS_SECRET_ACCESS_KEY"),
            None,
            None,
            "local-stack",
        );
        self.sdk_config_with(creds).await
    }

    /// SDK configuration signing with `creds`.
    pub async fn sdk_config_with(&self, creds: Credentials) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.var("AWS_REGION")))
            .endpoint_url(self.var("AWS_ENDPOINT_URL"))
            .credentials_provider(creds)
            .http_client(tenant_access::aws::https_client())
            .retry_config(tenant_access::aws::retry_config())
            .timeout_config(tenant_access::aws::timeout_config())
            .load()
            .await
    }

    /// Restart the local PostgreSQL (`pg_ctl restart -m fast`): every open
    /// connection is closed with `57P01`, and the server refuses new ones
    /// until it is back. Returns once it accepts connections again.
    pub fn restart_postgres(&self) {
        let pg_ctl = self.var("STACK_PG_CTL");
        let user = self.var("STACK_PG_OS_USER");
        let mut cmd = if user.is_empty() {
            std::process::Command::new(&pg_ctl)
        } else {
            let mut cmd = std::process::Command::new("runuser");
            cmd.args(["-u", &user, "--", &pg_ctl]);
            cmd
        };
        // The server's output goes to its log: a server left holding this
        // process's pipes would keep them open after pg_ctl exits.
        let status = cmd
            .args(["restart", "-m", "fast", "-w", "-t", "30"])
            .args([
                "-D",
                &self.var("STACK_PG_DATA"),
                "-l",
                &self.var("STACK_PG_LOG"),
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("pg_ctl runs");
        assert!(
            status.success(),
            "pg_ctl restart failed ({status}); see {}",
            self.var("STACK_PG_LOG")
        );
    }

    /// moto's own address (behind the front), for a front of a test's own.
    pub fn moto_addr(&self) -> std::net::SocketAddr {
        self.var("STACK_MOTO_URL")
            .trim_start_matches("http://")
            .parse()
            .expect("moto's address")
    }

    /// The seed's registry: the deployed roles, keys, tables and identity
    /// pools the local front decides with.
    pub fn registry_file(&self) -> PathBuf {
        PathBuf::from(self.var("STACK_IAM_REGISTRY"))
    }

    /// The ID token of `user` (`<tenant>@example.com`), signed in at the
    /// stack's user pool with the local password.
    pub async fn id_token(&self, user: &str) -> String {
        cognito_id_token(
            &self.var("AWS_ENDPOINT_URL"),
            &self.var("STACK_USER_POOL_CLIENT_ID"),
            user,
            &self.var("STACK_USER_PASSWORD"),
        )
        .await
        .unwrap_or_else(|e| panic!("{user} signs in: {e}"))
    }

    /// ID tokens of `user` no authorizer of the stack may accept: one through
    /// another app client of the same pool, one from another pool (signed
    /// with the same moto key, so only its issuer tells it apart).
    pub async fn foreign_tokens(&self, user: &str) -> (String, String) {
        let cognito = self.var("AWS_ENDPOINT_URL");
        let password = self.var("STACK_USER_PASSWORD");
        let other_client = cognito_id_token(
            &cognito,
            &self.var("STACK_OTHER_CLIENT_ID"),
            user,
            &password,
        )
        .await
        .unwrap_or_else(|e| panic!("{user} through another app client: {e}"));
        let other_pool = cognito_id_token(
            &cognito,
            &self.var("STACK_OTHER_POOL_CLIENT_ID"),
            user,
            &password,
        )
        .await
        .unwrap_or_else(|e| panic!("{user} of another pool: {e}"));
        (other_client, other_pool)
    }

    /// A caller of `tenant`, as the functions see one under `isolation`:
    /// under `identity-pool` carrying the ID token of the tenant's user,
    /// which the crate exchanges at the (local) identity pool.
    pub async fn caller(
        &self,
        tenant: &str,
        isolation: &str,
        request_id: &str,
    ) -> tenant_access::Caller {
        let mut caller =
            tenant_access::Caller::new(tenant.parse().expect("a tenant id"), request_id);
        if isolation == "identity-pool" {
            let token = self.id_token(&format!("{tenant}@example.com")).await;
            caller.token = Some(
                tenant_access::identity::IdentityToken::parse(&token).expect("a well-formed JWT"),
            );
        }
        caller
    }

    /// Assume `tenant`'s role directly with the execution identity, bypassing
    /// the crate: what a buggy s3-fetch could do at worst (its `Scope` tag,
    /// `s3`, is the one its execution role may set).
    pub async fn raw_tenant_credentials(&self, tenant: &str) -> Credentials {
        self.raw_tenant_credentials_as(tenant, Some("s3")).await
    }

    /// Tenant `tenant`'s role assumed directly by the execution identity,
    /// with no session policy, carrying the `Scope` tag `scope` (the job
    /// the tenant role's statements require; `None`: no tag, as a caller
    /// skipping it would).
    pub async fn raw_tenant_credentials_as(
        &self,
        tenant: &str,
        scope: Option<&str>,
    ) -> Credentials {
        let role = format!(
            "arn:aws:iam::{}:role/tenant/assumeRole-{tenant}",
            self.var("AWS_ACCOUNT_ID")
        );
        self.raw_role_credentials(&role, scope).await
    }

    /// Role `role` assumed directly by the execution identity, with no
    /// session policy and the `Scope` tag `scope`, if any.
    pub async fn raw_role_credentials(&self, role: &str, scope: Option<&str>) -> Credentials {
        self.try_raw_role_credentials(role, scope)
            .await
            .unwrap_or_else(|e| panic!("the execution identity may assume {role}: {e}"))
    }

    /// [`raw_role_credentials`](Self::raw_role_credentials), or STS's
    /// refusal: its error code.
    pub async fn try_raw_role_credentials(
        &self,
        role: &str,
        scope: Option<&str>,
    ) -> Result<Credentials, String> {
        use aws_sdk_sts::error::ProvideErrorMetadata;
        let sts = aws_sdk_sts::Client::new(&self.sdk_config().await);
        let tags = scope.map(|scope| {
            vec![
                aws_sdk_sts::types::Tag::builder()
                    .key("Scope")
                    .value(scope)
                    .build()
                    .expect("key and value"),
            ]
        });
        let out = sts
            .assume_role()
            .role_arn(role)
            .role_session_name("test-bypass")
            .set_tags(tags)
            .send()
            .await
            .map_err(|e| e.code().unwrap_or("no code").to_owned())?;
        let c = out.credentials().expect("credentials");
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "test",
        ))
    }

    /// Log in as `user` with `password` over TLS verified against the
    /// stack's CA, as the functions do.
    pub async fn connect(
        &self,
        user: &str,
        password: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let tls =
            tenant_access::db::tls_config(self.var("DB_CA_BUNDLE").as_ref()).expect("stack CA");
        let mut config = tokio_postgres::Config::new();
        config
            .host(self.var("DB_HOST"))
            .port(self.var("DB_PORT").parse().expect("port"))
            .dbname(self.var("DB_NAME"))
            .user(user)
            .password(password)
            .ssl_mode(tokio_postgres::config::SslMode::Require);
        let (client, conn) = config
            .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
            .await?;
        tokio::spawn(conn);
        Ok(client)
    }

    /// `tenant`'s own DB login, opened as aurora-query opens it: its STS
    /// session, an IAM auth token for its DB user, verified TLS.
    pub async fn tenant_login(&self, tenant: &str) -> tenant_access::db::TenantConnection {
        use tenant_access::config::{DbConfig, FunctionConfig};
        let config =
            FunctionConfig::<DbConfig>::from_lookup(&self.lookup()).expect("the stack's config");
        let sdk = self.sdk_config().await;
        let any = || "*".to_owned();
        // The scope aurora-query sets: its job, so the session carries its
        // Scope tag (role-per-tenant) or assumes its shared role.
        let scope = tenant_access::session_policy::SessionScope::Db {
            resource_id: config.service.resource_id.clone().unwrap_or_else(any),
            user_template: config.service.user_template.clone(),
            region: sdk.region().map_or_else(any, |r| r.to_string()),
            account: config.access.account.clone().unwrap_or_else(any),
        };
        let sessions = tenant_access::TenantSessions::new(&sdk, &config.access).with_scope(scope);
        let db = tenant_access::db::TenantDatabase::new(&config.service).expect("the stack's CA");
        let caller =
            tenant_access::Caller::new(tenant.parse().expect("a tenant id"), "tenant-login");
        let session = sessions.session(&caller).await.expect("a tenant session");
        db.connection(&session).await.expect("the tenant's login")
    }

    /// An RDS auth token as aws-sdk-rds generates it, signed by `creds` at
    /// `signed_at`, for any host, port and user: what an attacker or a
    /// buggy handler holding those credentials could make.
    pub async fn auth_token(
        &self,
        creds: Credentials,
        host: &str,
        port: u16,
        user: &str,
        signed_at: std::time::SystemTime,
    ) -> String {
        use aws_sdk_rds::auth_token::{AuthTokenGenerator, Config as TokenConfig};
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.var("AWS_REGION")))
            .time_source(aws_smithy_async::time::StaticTimeSource::new(signed_at))
            .build();
        let config = TokenConfig::builder()
            .hostname(host)
            .port(u64::from(port))
            .username(user)
            .credentials(creds)
            .build()
            .expect("a token configuration");
        AuthTokenGenerator::new(config)
            .auth_token(&sdk)
            .await
            .expect("a signed token")
            .as_str()
            .to_owned()
    }

    /// A token for `user` at the stack's database endpoint, signed now.
    pub async fn auth_token_now(&self, creds: Credentials, user: &str) -> String {
        let port = self.var("DB_PORT").parse().expect("DB_PORT is a port");
        self.auth_token(
            creds,
            &self.var("DB_HOST"),
            port,
            user,
            std::time::SystemTime::now(),
        )
        .await
    }

    /// Asserts a login as `user` with `password` is refused by
    /// authentication, and that the token verifier logged `reason` for it
    /// (so it failed for the reason under test), never the token.
    pub async fn assert_login_refused(&self, user: &str, password: &str, reason: &str) {
        let log_before = std::fs::read_to_string(self.var("STACK_VERIFIER_LOG"))
            .unwrap_or_default()
            .len();
        let err = self
            .connect(user, password)
            .await
            .err()
            .unwrap_or_else(|| panic!("login as {user} must be refused ({reason})"));
        let db = err
            .as_db_error()
            .unwrap_or_else(|| panic!("expected an auth error, got {err:?}"));
        assert_eq!(
            db.code(),
            &tokio_postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            "{db:?}"
        );
        assert!(
            db.message().contains("LDAP authentication failed"),
            "{}",
            db.message()
        );
        assert!(
            !db.message().contains(password),
            "the server does not echo the token"
        );
        let log = std::fs::read_to_string(self.var("STACK_VERIFIER_LOG")).unwrap();
        let new = &log[log_before..];
        let prefix = format!("refused login of {user}: ");
        assert!(
            new.lines()
                .any(|l| l.starts_with(&prefix) && l.contains(reason)),
            "verifier log, looking for {reason:?}: {new}"
        );
        assert!(
            !new.contains("X-Amz-Signature"),
            "the verifier never logs tokens"
        );
    }

    /// An admin connection over verified TLS, to look behind RLS.
    pub async fn admin_db(&self) -> tokio_postgres::Client {
        self.connect(
            &self.var("STACK_DB_ADMIN_USER"),
            &self.var("STACK_DB_ADMIN_PASSWORD"),
        )
        .await
        .expect("admin connects")
    }
}

/// A fixture from `events/`, e.g. `event("s3-fetch/tenant1-get.json")`.
pub fn event(name: &str) -> Value {
    let path = root().join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A lambda_http request from an event, as the runtime would build it.
pub fn request(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("fixture is an API Gateway event")
}

/// `event` (HTTP API v2, JWT authorizer) as `tenant` would send it, with
/// its own request id.
pub fn as_tenant(event: &Value, tenant: &str, request_id: &str) -> Value {
    let mut event = event.clone();
    event["requestContext"]["authorizer"]["jwt"]["claims"]["custom:tenant_id"] =
        Value::String(tenant.to_owned());
    event["requestContext"]["requestId"] = Value::String(request_id.to_owned());
    event
}

/// A request from `event` whose Lambda invocation ends at `deadline`, as
/// the runtime would hand it over.
pub fn request_until(event: &Value, deadline: std::time::SystemTime) -> Request {
    use lambda_http::RequestExt;
    let mut context = lambda_http::Context::default();
    context.deadline = deadline
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis() as u64;
    request(event).with_lambda_context(context)
}

/// An s3-fetch event for `key` (set as API Gateway would: decoded in
/// `pathParameters`, percent-encoded in `rawPath`).
pub fn with_key(event: &Value, key: &str) -> Value {
    let mut event = event.clone();
    // Everything but RFC 3986's unreserved characters and `/`.
    const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    let encoded = percent_encoding::utf8_percent_encode(key, PATH).to_string();
    event["rawPath"] = Value::String(format!("/files/{encoded}"));
    event["pathParameters"] = serde_json::json!({ "key": key });
    event
}

/// The response body as bytes.
pub fn body_bytes(response: &Response<Body>) -> Vec<u8> {
    match response.body() {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.as_bytes().to_vec(),
        Body::Binary(b) => b.clone(),
        _ => Vec::new(),
    }
}

/// The response body parsed as JSON; panics if it is not JSON.
pub fn body_json(response: &Response<Body>) -> Value {
    serde_json::from_slice(&body_bytes(response)).unwrap_or_else(|e| {
        panic!(
            "body is not JSON ({e}): {}",
            String::from_utf8_lossy(&body_bytes(response))
        )
    })
}

/// A response's `Retry-After` header, if any.
pub fn retry_after(response: &Response<Body>) -> Option<String> {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The fixture table: every `events/<function>/*.json` with what it must
/// answer, from `events/expectations.json`. Panics if a fixture has no
/// expectation or an expectation has no fixture.
pub fn fixture_table(function: &str) -> Vec<(String, Value, Value)> {
    let path = root().join("events/expectations.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let expectations: serde_json::Map<String, Value> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dir = root().join("events").join(function);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .map(|name| format!("{function}/{name}"))
        .collect();
    names.sort();
    let without: Vec<&String> = names
        .iter()
        .filter(|n| !expectations.contains_key(*n))
        .collect();
    assert!(
        without.is_empty(),
        "fixtures without an expectation in events/expectations.json: {without:?}"
    );
    let orphans: Vec<&String> = expectations
        .keys()
        .filter(|k| k.starts_with(&format!("{function}/")) && !names.contains(k))
        .collect();
    assert!(
        orphans.is_empty(),
        "expectations without a fixture: {orphans:?}"
    );
    names
        .into_iter()
        .map(|name| {
            let expected = expectations[&name].clone();
            (name.clone(), event(&name), expected)
        })
        .collect()
}

/// Check a response against a fixture's recorded expectation (format in
/// `events/expectations.json`). Returns every mismatch.
pub fn check_expectation(name: &str, expected: &Value, response: &Response<Body>) -> Vec<String> {
    let mut problems = Vec::new();
    let status = response.status().as_u16();
    if expected["status"].as_u64() != Some(u64::from(status)) {
        problems.push(format!("status {status}, expected {}", expected["status"]));
    }
    if let Some(headers) = expected.get("headers").and_then(Value::as_object) {
        for (header, want) in headers {
            let want = want.as_str().unwrap_or_default();
            match response.headers().get(header.as_str()).map(|v| v.to_str()) {
                Some(Ok(got)) if placeholder_matches(want, &Value::String(got.to_owned())) => {}
                Some(Ok(got)) if got == want => {}
                got => problems.push(format!("header {header}: {got:?}, expected {want:?}")),
            }
        }
    }
    let bytes = body_bytes(response);
    let text = String::from_utf8_lossy(&bytes);
    if let Some(body) = expected.get("body").and_then(Value::as_str)
        && text != body
    {
        problems.push(format!("body {text:?}, expected {body:?}"));
    }
    if let Some(shape) = expected.get("json") {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(json) => shape_mismatches("$", shape, &json, &mut problems),
            Err(e) => problems.push(format!("body is not JSON ({e}): {text:?}")),
        }
    }
    let other = if name.contains("/tenant2-") {
        "tenant1"
    } else {
        "tenant2"
    };
    let mut absent: Vec<String> = vec![other.to_owned()];
    if let Some(more) = expected.get("absent").and_then(Value::as_array) {
        absent.extend(more.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    for needle in absent {
        if text.contains(&needle) {
            problems.push(format!("body names {needle:?}: {text}"));
        }
    }
    problems
}

fn placeholder_matches(want: &str, got: &Value) -> bool {
    let s = got.as_str();
    match want {
        "<any>" => true,
        "<string>" => s.is_some(),
        "<number>" => got.is_number(),
        "<string|null>" => s.is_some() || got.is_null(),
        "<uuid>" => s.is_some_and(|s| {
            s.len() == 36
                && s.bytes().enumerate().all(|(i, b)| match i {
                    8 | 13 | 18 | 23 => b == b'-',
                    _ => b.is_ascii_hexdigit() && !b.is_ascii_uppercase(),
                })
        }),
        // 2026-01-01T00:00:00Z or with fractional seconds.
        "<rfc3339>" => s.is_some_and(|s| {
            s.len() >= 20
                && s.as_bytes()[10] == b'T'
                && s.ends_with('Z')
                && s[..4].bytes().all(|b| b.is_ascii_digit())
        }),
        // Thu, 01 Jan 2026 00:00:00 GMT
        "<http-date>" => {
            s.is_some_and(|s| s.len() == 29 && s.ends_with(" GMT") && s.as_bytes()[3] == b',')
        }
        "<url>" => s.is_some_and(|s| s.starts_with("http://") || s.starts_with("https://")),
        // "<tag>": quoted, 1 to 64 of A-Z, a-z, 0-9, '_', '-'.
        "<etag>" => s
            .and_then(|s| s.strip_prefix('"')?.strip_suffix('"'))
            .is_some_and(|t| {
                (1..=64).contains(&t.len())
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
            }),
        _ => false,
    }
}

fn shape_mismatches(at: &str, want: &Value, got: &Value, problems: &mut Vec<String>) {
    match want {
        Value::String(w) if w.starts_with('<') && w.ends_with('>') => {
            if !placeholder_matches(w, got) {
                problems.push(format!("{at}: {got}, expected {w}"));
            }
        }
        Value::Object(fields) => match got.as_object() {
            Some(object) => {
                for (key, want) in fields {
                    match object.get(key) {
                        Some(got) => shape_mismatches(&format!("{at}.{key}"), want, got, problems),
                        None => problems.push(format!("{at}.{key}: missing")),
                    }
                }
            }
            None => problems.push(format!("{at}: {got}, expected an object")),
        },
        Value::Array(items) => match (got.as_array(), items.first()) {
            (Some(got), None) if got.is_empty() => {}
            (Some(got), Some(item)) if !got.is_empty() => {
                for (i, g) in got.iter().enumerate() {
                    shape_mismatches(&format!("{at}[{i}]"), item, g, problems);
                }
            }
            _ => problems.push(format!("{at}: {got}, expected {want}")),
        },
        literal => {
            if literal != got {
                problems.push(format!("{at}: {got}, expected {literal}"));
            }
        }
    }
}

/// The system clock plus an offset a test moves forward: give it to an
/// SDK configuration (`time_source`) to sign, and to judge expiry, as if
/// later.
///
/// ```
/// use aws_smithy_async::time::TimeSource;
/// let clock = test_support::Clock::default();
/// let before = clock.now();
/// clock.advance(std::time::Duration::from_secs(3600));
/// assert!(clock.now() >= before + std::time::Duration::from_secs(3600));
/// ```
#[derive(Debug, Default, Clone)]
pub struct Clock(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Clock {
    /// Move this clock (and every copy of it) forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        self.0
            .fetch_add(by.as_millis() as u64, std::sync::atomic::Ordering::SeqCst);
    }
}

impl aws_smithy_async::time::TimeSource for Clock {
    fn now(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
            + std::time::Duration::from_millis(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(want: Value, got: Value) -> Vec<String> {
        let mut p = Vec::new();
        shape_mismatches("$", &want, &got, &mut p);
        p
    }

    #[test]
    fn shapes_match_placeholders_subsets_and_arrays() {
        let want =
            json!({"items": [{"key": "<string>", "size": "<number>"}], "next": "<string|null>"});
        assert!(
            problems(
                want.clone(),
                json!({"items": [{"key": "a", "size": 1, "extra": true}], "next": null})
            )
            .is_empty()
        );
        assert_eq!(
            problems(want.clone(), json!({"items": [], "next": null})).len(),
            1,
            "empty array where items are expected"
        );
        assert_eq!(
            problems(
                want.clone(),
                json!({"items": [{"key": 1, "size": 1}], "next": "x"})
            )
            .len(),
            1
        );
        assert_eq!(problems(want, json!({"next": 3})).len(), 2);
        assert_eq!(problems(json!({"a": []}), json!({"a": [1]})).len(), 1);
        assert_eq!(problems(json!("literal"), json!("other")).len(), 1);
        assert!(
            problems(
                json!("<uuid>"),
                json!("11111111-1111-4111-8111-111111111111")
            )
            .is_empty()
        );
        assert_eq!(
            problems(
                json!("<uuid>"),
                json!("11111111-1111-4111-8111-11111111111")
            )
            .len(),
            1
        );
        assert!(problems(json!("<rfc3339>"), json!("2026-01-01T00:00:00.000000Z")).is_empty());
        assert_eq!(problems(json!("<rfc3339>"), json!("yesterday")).len(), 1);
    }
}

/// A GET of `url` (an `http://` URL such as a presigned URL pointing at the
/// local stack), returning status and body; sends exactly the URL's host,
/// path and query, as a browser following a redirect would.
pub async fn http_get(url: &str) -> (u16, Vec<u8>) {
    http("GET", url).await
}

/// A POST of an empty body to `url` (the local front's control API).
pub async fn http_post(url: &str) -> (u16, Vec<u8>) {
    http("POST", url).await
}

/// One request over the tools' HTTP client, off the async runtime.
async fn http(method: &'static str, url: &str) -> (u16, Vec<u8>) {
    http_with(method, url, &[], b"").await
}

/// A request with `headers` and `body`, off the async runtime: status and
/// body.
pub async fn http_with(
    method: &'static str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let (status, _, body) = http_full(method, url, headers, body).await;
    (status, body)
}

/// Sign `user` in to a Cognito user pool's app client `client_id` at
/// `endpoint` with `USER_PASSWORD_AUTH`: its ID token, or the refusal.
pub async fn cognito_id_token(
    endpoint: &str,
    client_id: &str,
    user: &str,
    password: &str,
) -> Result<String, String> {
    let body = serde_json::json!({
        "AuthFlow": "USER_PASSWORD_AUTH",
        "ClientId": client_id,
        "AuthParameters": { "USERNAME": user, "PASSWORD": password },
    })
    .to_string();
    let (status, answer) = http_with(
        "POST",
        &format!("{}/", endpoint.trim_end_matches('/')),
        &[
            ("content-type", "application/x-amz-json-1.1"),
            (
                "x-amz-target",
                "AWSCognitoIdentityProviderService.InitiateAuth",
            ),
        ],
        body.as_bytes(),
    )
    .await;
    let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
    match answer["AuthenticationResult"]["IdToken"].as_str() {
        Some(token) if status == 200 => Ok(token.to_owned()),
        _ => Err(format!("{status}: {answer}")),
    }
}

/// One blocking request over the tools' HTTP client (ureq): status and body.
fn send(method: &str, url: &str, headers: &[(String, String)], body: &[u8]) -> (u16, Vec<u8>) {
    let (status, _, body) = send_full(method, url, headers, body);
    (status, body)
}

/// A request with `headers` and `body`, off the async runtime: status,
/// the answer's headers (names lowercase) and body.
pub async fn http_full(
    method: &'static str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let url = url.to_owned();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let body = body.to_vec();
    tokio::task::spawn_blocking(move || send_full(method, &url, &headers, &body))
        .await
        .expect("the HTTP call does not panic")
}

fn send_full(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let request = request
        .body(body.to_vec())
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let mut response = agent
        .run(request)
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let answer_headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    (response.status().as_u16(), answer_headers, body)
}

/// While alive, moto serves requests without IAM checks; dropping the last
/// of a process's guards turns enforcement back on. For what moto cannot
/// authenticate (presigned URLs, seeding): it affects the whole server, so
/// every request of the tests running beside it too (the front's own
/// checks still apply to them).
#[derive(Debug)]
pub struct PausedEnforcement {
    endpoint: String,
}

/// The guards alive in this process: enforcement resumes when the last
/// one goes, so tests of one binary pausing at once do not resume it under
/// each other.
static PAUSES: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

impl Stack {
    /// Pause moto's IAM enforcement until the guard (and every other of
    /// this process) is dropped.
    pub fn pause_iam_enforcement(&self) -> PausedEnforcement {
        // moto's own API, straight: the front serves AWS's APIs only.
        let endpoint = self.var("STACK_MOTO_URL");
        let mut pauses = PAUSES.lock().unwrap_or_else(|e| e.into_inner());
        if *pauses == 0 {
            moto_reset_auth(&endpoint, "1000000");
        }
        *pauses += 1;
        PausedEnforcement { endpoint }
    }
}

impl Drop for PausedEnforcement {
    fn drop(&mut self) {
        let mut pauses = PAUSES.lock().unwrap_or_else(|e| e.into_inner());
        *pauses -= 1;
        if *pauses == 0 {
            moto_reset_auth(&self.endpoint, "0");
        }
    }
}

/// `POST /moto-api/reset-auth`: how many more requests moto lets through
/// before enforcing IAM again.
fn moto_reset_auth(endpoint: &str, count: &str) {
    let url = format!("{}/moto-api/reset-auth", endpoint.trim_end_matches('/'));
    let plain = [("content-type".to_owned(), "text/plain".to_owned())];
    let (status, reply) = send("POST", &url, &plain, count.as_bytes());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
}

/// The error examples of docs/api.md for `function`: `(fixture, status,
/// body)` from the lines of its error-example block that name a fixture.
pub fn documented_error_examples(function: &str) -> Vec<(String, u16, Value)> {
    let api_doc = std::fs::read_to_string(root().join("docs/api.md")).expect("docs/api.md");
    let start = api_doc
        .find("One example of each, as the client sees it")
        .expect("docs/api.md has the error examples");
    let block = api_doc[start..]
        .split("```text\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the examples are in a text block");
    block
        .lines()
        .filter(|line| line.starts_with(&format!("{function}/")))
        .map(|line| {
            let mut parts = line
                .splitn(3, char::is_whitespace)
                .filter(|p| !p.is_empty());
            let fixture = parts.next().expect("fixture").to_owned();
            let rest = line[fixture.len()..].trim_start();
            let (status, body) = rest.split_once(' ').expect("status and body");
            let status = status
                .parse()
                .unwrap_or_else(|_| panic!("status in {line}"));
            let body = serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{line}: {e}"));
            (fixture, status, body)
        })
        .collect()
}

/// Run every fixture of `function` through `handle` (the function's
/// handler) and check each answer against `events/expectations.json`; then
/// replay the error examples of docs/api.md for `function` and check they
/// are exactly what the handler answers. Panics listing every mismatch.
pub async fn check_fixture_table<F, Fut>(function: &str, handle: F)
where
    F: Fn(Request) -> Fut,
    Fut: std::future::Future<Output = Response<Body>>,
{
    let table = fixture_table(function);
    assert!(table.len() >= 30, "only {} fixtures", table.len());
    let mut failures = Vec::new();
    for (name, event, expected) in &table {
        let response = handle(request(event)).await;
        for problem in check_expectation(name, expected, &response) {
            failures.push(format!("{name}: {problem}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let examples = documented_error_examples(function);
    assert!(
        !examples.is_empty(),
        "docs/api.md has examples for {function}"
    );
    for (fixture, status, body) in examples {
        let response = handle(request(&event(&fixture))).await;
        assert_eq!(
            response.status().as_u16(),
            status,
            "api.md example {fixture}"
        );
        assert_eq!(body_json(&response), body, "api.md example {fixture}");
    }
}
