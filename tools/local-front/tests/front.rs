//! The front on its own, against stand-in upstreams on loopback: the
//! control API sets and clears rules, rules answer as the service would and
//! pass everything else through, and the TCP side holds, closes and refuses.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use local_front::{HttpFront, TcpFront, TcpMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

// Well-formed signatures the door can classify; a front without a registry
// (a fault front) verifies none, the stack's front behind it does.
const STS_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000";
const S3_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000";

/// An upstream that answers every HTTP request `200 upstream`.
async fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    let answer = "HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nupstream";
                    if stream.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// An STS call (AssumeRole) through the front.
async fn sts(front: &HttpFront) -> (StatusCode, String) {
    send(
        front,
        Method::POST,
        "/",
        Some(STS_AUTH),
        "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=front-test",
    )
    .await
}

/// An S3 GET of `path` through the front.
async fn s3_get(front: &HttpFront, path: &str) -> (StatusCode, String) {
    send(front, Method::GET, path, Some(S3_AUTH), "").await
}

async fn send(
    front: &HttpFront,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (StatusCode, String) {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("{}{path}", front.endpoint()));
    if let Some(auth) = auth {
        request = request
            .header("authorization", auth)
            .header("x-amz-date", "20260101T000000Z");
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let response = client().request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_control_api_sets_rules_that_answer_as_the_service_would() {
    let front = HttpFront::start("127.0.0.1:0".parse().unwrap(), upstream().await)
        .await
        .unwrap();
    let (status, body) = sts(&front).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "upstream"));

    let rule = r#"{"fault": {"kind": "throttle"}, "service": "sts", "times": 2}"#;
    let (status, listed) = send(&front, Method::POST, "/__front/faults", None, rule).await;
    assert_eq!(status, StatusCode::OK);
    assert!(listed.contains("throttle"), "{listed}");
    for _ in 0..2 {
        let (status, body) = sts(&front).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("<Code>Throttling</Code>"), "{body}");
    }
    let (status, _) = sts(&front).await;
    assert_eq!(status, StatusCode::OK, "the rule hit its two requests only");

    let s3_rule =
        r#"{"fault": {"kind": "throttle"}, "service": "s3", "contains": "/tenant2_home/"}"#;
    send(&front, Method::POST, "/__front/faults", None, s3_rule).await;
    let (status, body) = s3_get(&front, "/bucket/tenant2_home/x").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("<Code>SlowDown</Code>"), "{body}");
    let (status, _) = s3_get(&front, "/bucket/tenant1_home/x").await;
    assert_eq!(status, StatusCode::OK, "another tenant's prefix passes");
    let (status, _) = sts(&front).await;
    assert_eq!(status, StatusCode::OK, "another service passes");

    let (status, listed) = send(&front, Method::DELETE, "/__front/faults", None, "").await;
    assert_eq!((status, listed.as_str()), (StatusCode::OK, "[]"));
    let (status, _) = s3_get(&front, "/bucket/tenant2_home/x").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(&front, Method::POST, "/__front/faults", None, "{not a rule").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(front.injected(), 3);
}

/// An upstream that echoes every byte back.
async fn echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let (mut read, mut write) = stream.into_split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    addr
}

async fn round_trip(stream: &mut TcpStream, text: &[u8], wait: Duration) -> Option<Vec<u8>> {
    stream.write_all(text).await.ok()?;
    let mut buf = vec![0u8; text.len()];
    match timeout(wait, stream.read_exact(&mut buf)).await {
        Ok(Ok(_)) => Some(buf),
        _ => None,
    }
}

#[tokio::test]
async fn the_tcp_side_holds_closes_and_refuses() {
    let front = TcpFront::start("127.0.0.1:0".parse().unwrap(), echo().await)
        .await
        .unwrap();
    let mut stream = TcpStream::connect(front.addr()).await.unwrap();
    let wait = Duration::from_secs(2);
    assert_eq!(
        round_trip(&mut stream, b"ping", wait).await.as_deref(),
        Some(&b"ping"[..])
    );

    // Paused: nothing comes back, and the socket stays open.
    front.set_mode(TcpMode::Pause);
    assert_eq!(
        round_trip(&mut stream, b"held", Duration::from_millis(300)).await,
        None
    );
    front.set_mode(TcpMode::Pass);
    let mut buf = [0u8; 4];
    timeout(wait, stream.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"held", "held bytes flow on once resumed");

    // Reset: the open connection is closed.
    front.reset();
    let mut rest = Vec::new();
    // Ends (EOF, or a reset) instead of waiting: the socket was closed.
    let _ = timeout(wait, stream.read_to_end(&mut rest))
        .await
        .expect("the connection is closed, not left open");
    assert!(rest.is_empty());

    // Refuse: new connections are closed at once; Pass lets them through.
    front.set_mode(TcpMode::Refuse);
    let mut refused = TcpStream::connect(front.addr()).await.unwrap();
    assert_eq!(round_trip(&mut refused, b"nope", wait).await, None);
    front.set_mode(TcpMode::Pass);
    let mut again = TcpStream::connect(front.addr()).await.unwrap();
    assert_eq!(
        round_trip(&mut again, b"back", wait).await.as_deref(),
        Some(&b"back"[..])
    );
    assert_eq!(
        front.accepted(),
        2,
        "the refused connection was never passed on"
    );
}
