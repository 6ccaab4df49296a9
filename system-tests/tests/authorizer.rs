//! The local API Gateway authorizes like the HttpApi JWT authorizer, with
//! real tokens from the stack's Cognito user pool (moto's): a valid ID token
//! reaches the function with its claims; no token, an expired one, another
//! app client's, another pool's, `alg: none`, a tampered payload and
//! garbage get 401 and no function runs; a path with no route gets 404.
//!
//! The functions stand behind a stand-in for `cargo lambda watch` that
//! counts invocations and answers with the event it received.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use local_front::api::{ApiFront, Authorizer, routes_from_template};
use serde_json::{Value, json};
use test_support::{Stack, cognito_id_token, http_with};

/// A stand-in Lambda invoke endpoint: counts invocations and answers 200
/// with the event as the body.
async fn watcher() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        seen.fetch_add(1, Ordering::Relaxed);
                        let event = request.into_body().collect().await?.to_bytes();
                        let answer = json!({
                            "statusCode": 200,
                            "headers": {"content-type": "application/json"},
                            "body": String::from_utf8_lossy(&event),
                        });
                        Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::from(
                            answer.to_string(),
                        ))))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, count)
}

async fn api(stack: &Stack) -> (ApiFront, Arc<AtomicU64>) {
    let (watcher, invocations) = watcher().await;
    let template = std::fs::read_to_string(test_support::root().join("template.yaml")).unwrap();
    let api = ApiFront::start(
        "127.0.0.1:0".parse().unwrap(),
        routes_from_template(&template).unwrap(),
        Authorizer {
            issuer: stack.var("STACK_JWT_ISSUER"),
            audience: vec![stack.var("STACK_USER_POOL_CLIENT_ID")],
            jwks_url: stack.var("STACK_JWKS_URL"),
        },
        watcher,
    )
    .await
    .unwrap();
    (api, invocations)
}

async fn get(api: &ApiFront, path: &str, token: Option<&str>) -> (u16, Value) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("authorization", b.as_str()))
        .collect();
    let (status, body) = http_with(
        "GET",
        &format!("http://{}{path}", api.addr()),
        &headers,
        b"",
    )
    .await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn only_valid_tokens_of_the_pool_s_client_reach_a_function() {
    let stack = Stack::load();
    let (api, invocations) = api(&stack).await;
    let cognito = stack.var("AWS_ENDPOINT_URL");
    let password = stack.var("STACK_USER_PASSWORD");
    let token = cognito_id_token(
        &cognito,
        &stack.var("STACK_USER_POOL_CLIENT_ID"),
        "tenant1@example.com",
        &password,
    )
    .await
    .expect("tenant1's user signs in");

    // A valid ID token: the function gets API Gateway's event, with the
    // verified claims.
    let (status, event) = get(&api, "/files/docs/a%20b.md?limit=2", Some(&token)).await;
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["routeKey"], "GET /files/{key+}");
    assert_eq!(event["pathParameters"]["key"], "docs/a b.md");
    assert_eq!(event["queryStringParameters"]["limit"], "2");
    let claims = &event["requestContext"]["authorizer"]["jwt"]["claims"];
    assert_eq!(claims["custom:tenant_id"], "tenant1");
    assert_eq!(claims["iss"], stack.var("STACK_JWT_ISSUER").as_str());
    assert!(
        claims["exp"].is_string(),
        "claims arrive as strings: {claims}"
    );
    assert_eq!(invocations.load(Ordering::Relaxed), 1);

    // Every one of these is refused before any function runs.
    let (other_client, other_pool) = stack.foreign_tokens("tenant1@example.com").await;
    let [header, _, signature] = token.split('.').collect::<Vec<_>>()[..] else {
        panic!("a JWT has three parts")
    };
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        token.split('.').nth(1).unwrap()
    );
    let mut claims_b = payload(&token);
    claims_b["custom:tenant_id"] = "tenant2".into();
    let tampered = format!(
        "{header}.{}.{signature}",
        b64(claims_b.to_string().as_bytes())
    );
    let refused: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("another app client's token", Some(other_client)),
        ("another pool's token", Some(other_pool)),
        ("alg: none", Some(alg_none)),
        ("a tampered payload", Some(tampered)),
        ("not a JWT", Some("garbage".to_owned())),
    ];
    for (what, token) in &refused {
        let (status, body) = get(&api, "/files/tenant.info", token.as_deref()).await;
        assert_eq!(
            (status, body.clone()),
            (401, json!({"message": "Unauthorized"})),
            "{what}"
        );
    }
    // Expired: the same valid token, with the clock past its `exp`.
    api.skew_clock(2 * 3600);
    let (status, _) = get(&api, "/files/tenant.info", Some(&token)).await;
    assert_eq!(status, 401, "an expired token");
    api.skew_clock(0);
    // No route: 404, no invocation, token or not.
    let (status, body) = get(&api, "/admin", Some(&token)).await;
    assert_eq!((status, body), (404, json!({"message": "Not Found"})));
    let (status, _) = get(&api, "/tenant", Some(&token)).await;
    assert_eq!(status, 200, "the token is still good");
    assert_eq!(
        invocations.load(Ordering::Relaxed),
        2,
        "only the two valid requests ran a function"
    );
}
