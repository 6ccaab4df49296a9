//! `cargo xtask call`: call a function served by `cargo xtask dev` as a
//! tenant, over HTTP, with an API Gateway event shaped like the fixtures.
//!
//! `cargo lambda watch` (1.9) does not run a JWT authorizer: a request sent
//! to its function URL arrives without authorizer claims, so the functions
//! rightly answer 401. This command stands in for API Gateway instead: it
//! builds the HTTP API v2 event the JWT authorizer would have produced for
//! the tenant and invokes the function through the watcher, which rebuilds
//! and reloads a handler when its source changes.
//!
//! With `--api-url URL --user NAME` it calls a deployed API instead, as a
//! client would: it signs the user in to the stack's Cognito user pool
//! (`USER_PASSWORD_AUTH`, which the template's `AllowPasswordAuth=true`
//! enables), and sends the ID token, which carries `custom:tenant_id`, as
//! `Authorization: Bearer`. The password comes from `TENANT_ACCESS_PASSWORD`
//! or, when that is unset, from the first line of standard input; never from
//! the command line, where other users and the shell history would see it.

use serde_json::Value;

use crate::fixtures::{Case, v2};
use crate::process::Result;

const USAGE: &str = "usage: cargo xtask call [--user NAME [--api-url URL --client-id ID] | --tenant ID | --no-auth] [-H 'name: value']... [-d JSON] METHOD PATH\n\
    e.g. cargo xtask call --user tenant1@example.com GET /files/docs/readme.md   (local API, JWT-authorized)\n\
         cargo xtask call --tenant tenant1 GET /files/docs/readme.md           (the watcher, no authorizer)\n\
         cargo xtask call --tenant tenant2 POST /records -d '{\"name\": \"n1\"}'\n\
         TENANT_ACCESS_PASSWORD=... cargo xtask call --api-url https://abc.execute-api.us-east-1.amazonaws.com \\\n\
           --user alice@example.com --client-id <UserPoolClientId> GET /tenant";

/// The user pool app client, when `--client-id` is not given.
const CLIENT_ID_VAR: &str = "TENANT_ACCESS_CLIENT_ID";
/// The user's password (else read from standard input).
const PASSWORD_VAR: &str = "TENANT_ACCESS_PASSWORD";
/// Cognito's endpoint, as the AWS SDKs name its override.
const COGNITO_ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER";

/// A deployed API and the Cognito user who calls it.
#[derive(Debug, PartialEq, Eq)]
struct Remote {
    api_url: String,
    user: String,
    client_id: String,
    region: String,
}

struct Call {
    remote: Option<Remote>,
    /// `--user` without `--api-url`: the local API of `cargo xtask dev`.
    local_user: Option<String>,
    tenant: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    method: &'static str,
    path: String,
}

fn parse(args: &[String]) -> Result<Call> {
    let mut tenant = None;
    let mut no_auth = false;
    let (mut api_url, mut user, mut client_id) = (None, None, None);
    let mut headers = Vec::new();
    let mut body = None;
    let mut positional = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--tenant" => tenant = Some(value("--tenant")?),
            "--no-auth" => no_auth = true,
            "--api-url" => api_url = Some(value("--api-url")?),
            "--user" => user = Some(value("--user")?),
            "--client-id" => client_id = Some(value("--client-id")?),
            "-H" | "--header" => {
                let header = value("-H")?;
                let (name, v) = header
                    .split_once(':')
                    .ok_or_else(|| format!("-H {header:?}: expected 'name: value'"))?;
                headers.push((name.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
            "-d" | "--data" => body = Some(value("-d")?),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            _ => positional.push(arg.clone()),
        }
    }
    let remote = match (api_url, user.clone()) {
        (Some(api_url), Some(user)) => {
            if tenant.is_some() || no_auth {
                return Err(
                    "a deployed API takes the tenant from the user's token: --api-url goes with --user, not --tenant or --no-auth"
                        .to_owned(),
                );
            }
            Some(remote(api_url, user, client_id)?)
        }
        (None, None) if client_id.is_none() => None,
        (None, Some(_)) if client_id.is_none() && tenant.is_none() && !no_auth => None,
        _ => {
            return Err(format!(
                "--api-url, --user and --client-id go together\n{USAGE}"
            ));
        }
    };
    let local_user = user.filter(|_| remote.is_none());
    if tenant.is_none() && !no_auth && remote.is_none() && local_user.is_none() {
        return Err(format!(
            "say which tenant calls (--tenant ID), or --no-auth\n{USAGE}"
        ));
    }
    let [method, path] = positional.as_slice() else {
        return Err(USAGE.to_owned());
    };
    let method = match method.to_ascii_uppercase().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        other => return Err(format!("unknown method {other}")),
    };
    if !path.starts_with('/') {
        return Err(format!("the path must start with '/': {path}"));
    }
    Ok(Call {
        remote,
        local_user,
        tenant,
        headers,
        body,
        method,
        path: path.clone(),
    })
}

/// Check the remote call's settings: an `https://` API URL (plain `http://`
/// only on loopback), a client id, and the region from the API's host name
/// (`<id>.execute-api.<region>.amazonaws.com`) or `AWS_REGION`.
fn remote(api_url: String, user: String, client_id: Option<String>) -> Result<Remote> {
    let host = api_url
        .strip_prefix("https://")
        .or_else(|| {
            api_url
                .strip_prefix("http://")
                .filter(|rest| rest.starts_with("127.0.0.1") || rest.starts_with("localhost"))
        })
        .ok_or_else(|| format!("--api-url must be an https:// URL: {api_url}"))?
        .split('/')
        .next()
        .unwrap_or_default();
    let region = host
        .split('.')
        .skip_while(|part| *part != "execute-api")
        .nth(1)
        .map(str::to_owned)
        .or_else(|| std::env::var("AWS_REGION").ok())
        .ok_or_else(|| format!("no region in {host}: set AWS_REGION to the user pool's region"))?;
    let client_id = client_id
        .or_else(|| std::env::var(CLIENT_ID_VAR).ok())
        .ok_or_else(|| {
            format!("say which app client signs in: --client-id <UserPoolClientId output>, or {CLIENT_ID_VAR}")
        })?;
    Ok(Remote {
        api_url: api_url.trim_end_matches('/').to_owned(),
        user,
        client_id,
        region,
    })
}

/// Sign `user` in with `USER_PASSWORD_AUTH` at Cognito's `endpoint` and
/// return the ID token. The error names Cognito's reason, never the
/// password.
fn sign_in(endpoint: &str, client_id: &str, user: &str, password: &str) -> Result<String> {
    let body = serde_json::json!({
        "AuthFlow": "USER_PASSWORD_AUTH",
        "ClientId": client_id,
        "AuthParameters": { "USERNAME": user, "PASSWORD": password },
    })
    .to_string();
    let reply = crate::http::send(
        "POST",
        endpoint,
        &[
            ("content-type", "application/x-amz-json-1.1"),
            (
                "x-amz-target",
                "AWSCognitoIdentityProviderService.InitiateAuth",
            ),
        ],
        Some(body.as_bytes()),
        std::time::Duration::from_secs(20),
    )?;
    let answer: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    if reply.status != 200 {
        let kind = answer["__type"].as_str().unwrap_or("an error");
        let message = answer["message"].as_str().unwrap_or_default();
        return Err(format!(
            "Cognito refused to sign {user} in ({}): {kind}: {message}",
            reply.status
        ));
    }
    match answer["AuthenticationResult"]["IdToken"].as_str() {
        Some(token) => Ok(token.to_owned()),
        None if answer["ChallengeName"].is_string() => Err(format!(
            "Cognito asks {user} for {} first (a new user must set a password): \
             aws cognito-idp admin-set-user-password --permanent ...",
            answer["ChallengeName"]
        )),
        None => Err("Cognito's answer has no ID token".to_owned()),
    }
}

fn password() -> Result<String> {
    if let Ok(password) = std::env::var(PASSWORD_VAR) {
        return Ok(password);
    }
    eprintln!("xtask: password (or set {PASSWORD_VAR}):");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Sign in at Cognito's `endpoint`, call the API with the ID token, print
/// the answer.
fn run_remote(remote: &Remote, call: &Call, endpoint: &str, password: &str) -> Result<()> {
    let token = sign_in(endpoint, &remote.client_id, &remote.user, password)?;
    let authorization = format!("Bearer {token}");
    let mut headers: Vec<(&str, &str)> = call
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if call.body.is_some() && !headers.iter().any(|(k, _)| *k == "content-type") {
        headers.push(("content-type", "application/json"));
    }
    headers.push(("authorization", &authorization));
    let reply = crate::http::send(
        call.method,
        &format!("{}{}", remote.api_url, call.path),
        &headers,
        call.body.as_deref().map(str::as_bytes),
        std::time::Duration::from_secs(30),
    )?;
    print_answer(reply.status, &reply.headers, reply.body);
    Ok(())
}

/// Print status line, headers and body (text, or its size if binary).
fn print_answer(status: u16, headers: &[(String, String)], body: Vec<u8>) {
    println!("HTTP {status}");
    for (name, value) in headers {
        println!("{name}: {value}");
    }
    println!();
    match String::from_utf8(body) {
        Ok(text) => print!("{text}"),
        Err(e) => print!("<{} bytes of binary data>", e.into_bytes().len()),
    }
    println!();
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Which function serves a path, under which API Gateway route, with which
/// path parameter.
type Route = (&'static str, &'static str, Option<(&'static str, String)>);

/// The function and the API Gateway route serving `path`, as template.yaml
/// routes them.
fn route(path: &str) -> Result<Route> {
    let segments: Vec<&str> = path.trim_start_matches('/').splitn(2, '/').collect();
    Ok(match segments.as_slice() {
        ["files"] | ["files", ""] => ("s3-fetch", "/files", None),
        ["files", key] => (
            "s3-fetch",
            "/files/{key+}",
            Some(("key", percent_decode(key))),
        ),
        ["tenant"] => ("aurora-query", "/tenant", None),
        ["records"] | ["records", ""] => ("aurora-query", "/records", None),
        ["records", id] => (
            "aurora-query",
            "/records/{id}",
            Some(("id", percent_decode(id))),
        ),
        ["items"] | ["items", ""] => ("dynamodb-items", "/items", None),
        ["items", id] => (
            "dynamodb-items",
            "/items/{id}",
            Some(("id", percent_decode(id))),
        ),
        ["docs"] | ["docs", ""] => ("search-docs", "/docs", None),
        ["docs", id] => (
            "search-docs",
            "/docs/{id}",
            Some(("id", percent_decode(id))),
        ),
        _ => {
            return Err(format!(
                "no route for {path}: the API serves /files, /files/{{key+}}, /tenant, /records, /records/{{id}}, /items, /items/{{id}}, /docs and /docs/{{id}}"
            ));
        }
    })
}

/// Build the event, invoke the function through the watcher, print the
/// response as status line, headers and body. `watch_port` is where
/// `cargo xtask dev` runs `cargo lambda watch` (`LOCAL_WATCH_PORT`).
pub fn run(args: &[String], stack_env: &std::path::Path, watch_port: u16) -> Result<()> {
    use base64::Engine;
    let call = parse(args)?;
    if let Some(remote) = &call.remote {
        let endpoint = std::env::var(COGNITO_ENDPOINT_VAR)
            .unwrap_or_else(|_| format!("https://cognito-idp.{}.amazonaws.com/", remote.region));
        return run_remote(remote, &call, &endpoint, &password()?);
    }
    if let Some(user) = &call.local_user {
        // The local API of `cargo xtask dev` and moto's user pool; every
        // seeded user has the stack's local password.
        let env = crate::read_env(stack_env)?;
        let var = |name: &str| {
            env.get(name).cloned().ok_or_else(|| {
                format!("{name} is missing: restart the stack (`cargo xtask down`, then `up`)")
            })
        };
        let remote = Remote {
            api_url: var("STACK_API_URL")?,
            user: user.clone(),
            client_id: var("STACK_USER_POOL_CLIENT_ID")?,
            region: var("AWS_REGION")?,
        };
        let password = match std::env::var(PASSWORD_VAR) {
            Ok(p) => p,
            Err(_) => var("STACK_USER_PASSWORD")?,
        };
        let endpoint = format!("{}/", var("AWS_ENDPOINT_URL")?);
        return run_remote(&remote, &call, &endpoint, &password)
            .map_err(|e| not_answered(e, &remote.api_url));
    }
    let (path, query) = call.path.split_once('?').unwrap_or((&call.path, ""));
    let (function, route_template, param) = route(path)?;
    let mut case = Case::new(function, "xtask-call", call.method, route_template, path);
    if let Some((name, value)) = &param {
        case = case.param(name, value);
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        case = case.query(&percent_decode(k), &percent_decode(v));
    }
    if let Some(body) = &call.body {
        let content_type = call
            .headers
            .iter()
            .find(|(k, _)| k == "content-type")
            .map_or("application/json", |(_, v)| v.as_str());
        case = case.body(content_type, body);
    }
    for (k, v) in call
        .headers
        .iter()
        .filter(|(k, _)| !(call.body.is_some() && k == "content-type"))
    {
        case = case.header(k, v);
    }
    case = match &call.tenant {
        Some(tenant) => case.tenant(tenant),
        // Case::new starts without an authorizer.
        None => case,
    };
    let event = v2(&case).to_string();
    let invoke = format!("/2015-03-31/functions/{function}/invocations");
    let (status, reply) = crate::process::http_with_timeout(
        watch_port,
        "POST",
        &invoke,
        &event,
        std::time::Duration::from_secs(300),
    )
    .map_err(|e| not_answered(e, &format!("http://127.0.0.1:{watch_port}")))?;
    if status != 200 {
        return Err(format!("the watcher answered {status}: {reply}"));
    }
    let response: Value = serde_json::from_str(&reply)
        .map_err(|e| format!("not a Lambda HTTP response ({e}): {reply}"))?;
    let headers: Vec<(String, String)> = response["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let body = response["body"].as_str().unwrap_or_default();
    let body = if response["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("body is not base64: {e}"))?
    } else {
        body.as_bytes().to_vec()
    };
    let status = response["statusCode"].as_u64().unwrap_or_default() as u16;
    print_answer(status, &headers, body);
    Ok(())
}

/// Why a call to `cargo xtask dev` got no answer, in words: nothing listens
/// (dev is not running), or something does but did not answer in time (the
/// watcher is most likely still compiling the function).
fn not_answered(error: String, url: &str) -> String {
    let port = url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok());
    if port.is_some_and(crate::process::port_answers) {
        format!(
            "{error}\n{url} is up but the function did not answer: `cargo lambda watch` may still be \
             compiling it (see the `cargo xtask dev` terminal); call again once it has finished"
        )
    } else {
        format!("{error}\nnothing answers on {url}: is `cargo xtask dev` running?")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_the_template_routes() {
        assert_eq!(route("/files").unwrap().1, "/files");
        let (function, template, param) = route("/files/docs/a%20b.md").unwrap();
        assert_eq!((function, template), ("s3-fetch", "/files/{key+}"));
        assert_eq!(param, Some(("key", "docs/a b.md".to_owned())));
        assert_eq!(route("/records/42").unwrap().1, "/records/{id}");
        assert_eq!(route("/tenant").unwrap().0, "aurora-query");
        assert_eq!(
            route("/items/a-1").unwrap(),
            (
                "dynamodb-items",
                "/items/{id}",
                Some(("id", "a-1".to_owned()))
            )
        );
        assert_eq!(
            route("/docs/note-1").unwrap(),
            (
                "search-docs",
                "/docs/{id}",
                Some(("id", "note-1".to_owned()))
            )
        );
        assert_eq!(route("/docs").unwrap().0, "search-docs");
        assert!(route("/admin").is_err());
    }

    #[test]
    fn a_call_names_its_tenant_or_says_it_has_none() {
        assert!(parse(&args(&["GET", "/tenant"])).is_err());
        let call = parse(&args(&[
            "--tenant",
            "tenant2",
            "-H",
            "Range: bytes=0-1",
            "get",
            "/files/x",
        ]))
        .unwrap();
        assert_eq!(
            (call.method, call.tenant.as_deref()),
            ("GET", Some("tenant2"))
        );
        assert_eq!(
            call.headers,
            vec![("range".to_owned(), "bytes=0-1".to_owned())]
        );
        assert!(parse(&args(&["--no-auth", "GET", "/tenant"])).is_ok());
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_remote_call_needs_an_https_api_a_user_and_a_client() {
        let call = parse(&args(&[
            "--api-url",
            "https://abc123.execute-api.eu-west-1.amazonaws.com/",
            "--user",
            "alice@example.com",
            "--client-id",
            "client1",
            "GET",
            "/tenant",
        ]))
        .unwrap();
        assert_eq!(
            call.remote,
            Some(Remote {
                api_url: "https://abc123.execute-api.eu-west-1.amazonaws.com".into(),
                user: "alice@example.com".into(),
                client_id: "client1".into(),
                region: "eu-west-1".into(),
            })
        );
        let refused = |a: &[&str]| parse(&args(a)).err().expect("refused");
        let api = "https://abc123.execute-api.eu-west-1.amazonaws.com";
        assert!(
            refused(&[
                "--api-url",
                api,
                "--user",
                "u",
                "--client-id",
                "c",
                "--tenant",
                "t",
                "GET",
                "/tenant"
            ])
            .contains("not --tenant")
        );
        assert!(
            refused(&[
                "--api-url",
                "http://example.com",
                "--user",
                "u",
                "--client-id",
                "c",
                "GET",
                "/x"
            ])
            .contains("https://")
        );
        assert!(
            refused(&["--user", "u", "--client-id", "c", "GET", "/tenant"]).contains("go together")
        );
        assert!(refused(&["--api-url", api, "GET", "/tenant"]).contains("go together"));
        // --user alone: the local API.
        let local = parse(&args(&["--user", "tenant1@example.com", "GET", "/tenant"])).unwrap();
        assert_eq!(local.local_user.as_deref(), Some("tenant1@example.com"));
        assert!(local.remote.is_none());
    }

    /// The value of `name` in the running stack's environment file.
    fn stack_var(name: &str) -> String {
        // As the other tests find it: `cargo xtask test` names it, else
        // the one `cargo xtask up` writes.
        let path = std::env::var("TENANT_ACCESS_STACK_ENV").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/local-stack/stack.env"
            )
            .to_owned()
        });
        std::fs::read_to_string(&path)
            .expect("the stack's environment file")
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_owned))
            .unwrap_or_else(|| panic!("{name} in {path}"))
    }

    /// One unsigned Cognito JSON call to moto.
    fn cognito(endpoint: &str, action: &str, body: Value) -> Value {
        let reply = crate::http::send(
            "POST",
            endpoint,
            &[
                ("content-type", "application/x-amz-json-1.1"),
                (
                    "x-amz-target",
                    &format!("AWSCognitoIdentityProviderService.{action}"),
                ),
            ],
            Some(body.to_string().as_bytes()),
            std::time::Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(
            reply.status,
            200,
            "{action}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        serde_json::from_slice(&reply.body).unwrap()
    }

    /// Sign-in against a real user pool (moto's Cognito, as the template
    /// makes it: immutable custom:tenant_id, password auth allowed), whose
    /// ID token carries the tenant; a wrong password is refused with
    /// Cognito's reason and without the password.
    #[test]
    fn signs_a_tenant_user_in_and_gets_an_id_token_with_the_tenant() {
        use base64::Engine;
        // The seed's admin calls go to moto itself, as the control plane
        // would make them; the sign-in goes through the front, as the
        // functions' calls do.
        let endpoint = format!("{}/", stack_var("AWS_ENDPOINT_URL"));
        let moto = format!("{}/", stack_var("STACK_MOTO_URL"));
        let reset = |count: &str| {
            let reply = crate::http::send(
                "POST",
                &format!("{moto}moto-api/reset-auth"),
                &[("content-type", "text/plain")],
                Some(count.as_bytes()),
                std::time::Duration::from_secs(10),
            )
            .unwrap();
            assert_eq!(reply.status, 200);
        };
        // moto checks IAM on admin calls; these four are the seed's, as
        // the control plane would make them, then enforcement is back on.
        reset("4");
        let pool = cognito(
            &moto,
            "CreateUserPool",
            serde_json::json!({"PoolName": "xtask-call", "Schema": [
                {"Name": "tenant_id", "AttributeDataType": "String", "Mutable": false}]}),
        )["UserPool"]["Id"]
            .as_str()
            .unwrap()
            .to_owned();
        let client = cognito(
            &moto,
            "CreateUserPoolClient",
            serde_json::json!({"UserPoolId": pool, "ClientName": "cli",
                "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]}),
        )["UserPoolClient"]["ClientId"]
            .as_str()
            .unwrap()
            .to_owned();
        cognito(
            &moto,
            "AdminCreateUser",
            serde_json::json!({"UserPoolId": pool, "Username": "alice", "MessageAction": "SUPPRESS",
                "UserAttributes": [{"Name": "custom:tenant_id", "Value": "tenant1"}]}),
        );
        let secret = "Corr3ct-Horse-Battery";
        cognito(
            &moto,
            "AdminSetUserPassword",
            serde_json::json!({"UserPoolId": pool, "Username": "alice", "Password": secret, "Permanent": true}),
        );
        reset("0");

        let token = sign_in(&endpoint, &client, "alice", secret).expect("signed in");
        let payload = token.split('.').nth(1).expect("a JWT");
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["custom:tenant_id"], "tenant1", "{claims}");
        assert_eq!(
            claims["token_use"], "id",
            "the ID token, which carries the tenant"
        );
        assert_eq!(claims["aud"], client.as_str());

        let wrong = "not-the-password";
        let err = sign_in(&endpoint, &client, "alice", wrong).unwrap_err();
        assert!(err.contains("NotAuthorizedException"), "{err}");
        assert!(!err.contains(wrong) && !err.contains(secret), "{err}");
    }
}
