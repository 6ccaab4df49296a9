//! The request envelope both functions share.

use std::future::Future;

use lambda_http::{Body, Request, Response};
use tracing::Instrument;

use crate::{Caller, Error};

/// Serve one request: identify the caller from the verified request context,
/// run `handle` inside a span carrying tenant and request id, and turn any
/// [`Error`] into its JSON response. A request without a valid tenant is
/// answered here, before `handle` (and so before any AWS call) runs.
///
/// ```
/// # async fn run() {
/// use lambda_http::{Body, Request, Response};
/// use tenant_access::http::serve;
///
/// // No authorizer context: refused with 401 before the closure runs.
/// let response = serve(&Request::default(), "custom:tenant_id", |_caller| async {
///     unreachable!("not called without a verified tenant")
/// })
/// .await;
/// assert_eq!(response.status().as_u16(), 401);
/// # }
/// ```
pub async fn serve<F, Fut>(request: &Request, claim: &str, handle: F) -> Response<Body>
where
    F: FnOnce(Caller) -> Fut,
    Fut: Future<Output = Result<Response<Body>, Error>>,
{
    let caller = match Caller::from_request(request, claim) {
        Ok(caller) => caller,
        Err(err) => {
            err.log();
            return err.to_response();
        }
    };
    let span =
        tracing::info_span!("request", tenant = %caller.tenant, request_id = %caller.request_id);
    async move {
        let result = handle(caller).await;
        match result {
            Ok(response) => {
                tracing::info!(status = response.status().as_u16(), "request served");
                response
            }
            Err(err) => {
                err.log();
                err.to_response()
            }
        }
    }
    .instrument(span)
    .await
}
