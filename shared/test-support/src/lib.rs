//! Helpers for the integration tests: the running local stack's environment
//! (written by `cargo xtask up`) and the `events/` fixtures.

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
            .load()
            .await
    }

    /// Assume `tenant`'s role directly with the execution identity, bypassing
    /// the crate: what a buggy handler could do at worst.
    pub async fn raw_tenant_credentials(&self, tenant: &str) -> Credentials {
        let sts = aws_sdk_sts::Client::new(&self.sdk_config().await);
        let role = format!(
            "arn:aws:iam::{}:role/assumeRole-{tenant}",
            self.var("AWS_ACCOUNT_ID")
        );
        let out = sts
            .assume_role()
            .role_arn(role)
            .role_session_name("test-bypass")
            .send()
            .await
            .expect("the execution identity may assume tenant roles");
        let c = out.credentials().expect("credentials");
        Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "test",
        )
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

/// An s3-fetch event for `key` (set as API Gateway would: decoded in
/// `pathParameters`, percent-encoded in `rawPath`).
pub fn with_key(event: &Value, key: &str) -> Value {
    let mut event = event.clone();
    let encoded: String = key
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
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
