//! What the HTTP fronts share: the client they call upstream with, and the
//! loop that serves their listener.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::faults::Service;

/// What the fronts answer with.
pub(crate) type Answer = Response<Full<Bytes>>;

/// An HTTP/1 client with a 2 s connect timeout.
pub(crate) fn client() -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    Client::builder(TokioExecutor::new()).build(connector)
}

/// Serve every connection of `listener` with `handle` (given the shared
/// state, the request and the peer) until the returned task is aborted. A
/// handler error closes its connection.
pub(crate) fn serve<S, F, Fut>(
    listener: TcpListener,
    shared: Arc<S>,
    handle: F,
) -> tokio::task::JoinHandle<()>
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, Request<Incoming>, SocketAddr) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Answer, io::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| handle(shared.clone(), request, peer));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

pub(crate) fn plain(status: StatusCode, body: impl Into<Bytes>) -> Answer {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

/// A service's own error answer: XML, or JSON for the JSON-protocol
/// services.
pub(crate) fn service_answer(status: u16, text: String, service: Option<Service>) -> Answer {
    let mut response = plain(StatusCode::from_u16(status).expect("a valid status"), text);
    let content_type = if service == Some(Service::Es) {
        "application/json; charset=UTF-8"
    } else if crate::faults::json_protocol(service) {
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
