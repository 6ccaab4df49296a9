//! `cargo xtask call`: call a function served by `cargo xtask dev` as a
//! tenant, over HTTP, with an API Gateway event shaped like the fixtures.
//!
//! `cargo lambda watch` (1.9) does not run a JWT authorizer: a request sent
//! to its function URL arrives without authorizer claims, so the functions
//! rightly answer 401. This command stands in for API Gateway instead: it
//! builds the HTTP API v2 event the JWT authorizer would have produced for
//! the tenant and invokes the function through the watcher, which rebuilds
//! and reloads a handler when its source changes.

use serde_json::Value;

use crate::fixtures::{Case, v2};
use crate::process::Result;

/// Where `cargo xtask dev` runs `cargo lambda watch`.
pub const DEV_PORT: u16 = 9000;

const USAGE: &str = "usage: cargo xtask call [--tenant ID | --no-auth] [-H 'name: value']... [-d JSON] METHOD PATH\n\
    e.g. cargo xtask call --tenant tenant1 GET /files/docs/readme.md\n\
         cargo xtask call --tenant tenant2 POST /records -d '{\"name\": \"n1\"}'";

struct Call {
    tenant: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    method: &'static str,
    path: String,
}

fn parse(args: &[String]) -> Result<Call> {
    let mut tenant = None;
    let mut no_auth = false;
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
    if tenant.is_none() && !no_auth {
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
        tenant,
        headers,
        body,
        method,
        path: path.clone(),
    })
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
        _ => {
            return Err(format!(
                "no route for {path}: the API serves /files, /files/{{key+}}, /tenant, /records and /records/{{id}}"
            ));
        }
    })
}

/// Build the event, invoke the function through the watcher, print the
/// response as status line, headers and body.
pub fn run(args: &[String]) -> Result<()> {
    use base64::Engine;
    let call = parse(args)?;
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
        DEV_PORT,
        "POST",
        &invoke,
        &event,
        std::time::Duration::from_secs(300),
    )
    .map_err(|e| {
        format!(
            "{e}\nis `cargo xtask dev` running? it serves the functions on 127.0.0.1:{DEV_PORT}"
        )
    })?;
    if status != 200 {
        return Err(format!("the watcher answered {status}: {reply}"));
    }
    let response: Value = serde_json::from_str(&reply)
        .map_err(|e| format!("not a Lambda HTTP response ({e}): {reply}"))?;
    println!("HTTP {}", response["statusCode"]);
    if let Some(headers) = response["headers"].as_object() {
        for (name, value) in headers {
            println!("{name}: {}", value.as_str().unwrap_or_default());
        }
    }
    println!();
    let body = response["body"].as_str().unwrap_or_default();
    if response["isBase64Encoded"].as_bool() == Some(true) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("body is not base64: {e}"))?;
        match String::from_utf8(bytes) {
            Ok(text) => print!("{text}"),
            Err(e) => println!("<{} bytes of binary data>", e.into_bytes().len()),
        }
    } else {
        print!("{body}");
    }
    println!();
    Ok(())
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
        assert!(route("/admin").is_err());
    }

    #[test]
    fn a_call_names_its_tenant_or_says_it_has_none() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
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
}
