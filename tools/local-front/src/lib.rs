//! The local front: what stands before the local stack's servers.
//!
//! - [`HttpFront`] before moto (STS, IAM, S3): passes every request through
//!   unchanged (headers, `Host` and body included, so SigV4 signatures still
//!   verify) unless a [`HttpRule`] matches, in which case it answers with the
//!   fault the way the real service would (`Throttling`, `SlowDown`,
//!   `InternalError`, `ExpiredToken`), delays, or drops the connection.
//!   Rules are set in-process or over its control API (`/__front/faults`).
//! - [`TcpFront`] before PostgreSQL: passes bytes through (TLS stays end to
//!   end) and on command holds them (a paused server: half-open sockets),
//!   closes every connection, or refuses new ones (a restarting server).
//!
//! - The HTTP side also enforces IAM where moto cannot ([`iam`]): it
//!   records every `AssumeRole` and refuses S3 requests of expired sessions
//!   (`ExpiredToken`) and those the deployed role, the session policy, the
//!   principal tags and the conditions do not allow (`AccessDenied`). One
//!   front for both jobs: fault injection and enforcement.
//!
//! - [`api::ApiFront`] before the functions: API Gateway's HttpApi, routing
//!   by template.yaml and authorizing each request with a real JWT check
//!   against the issuer's JWKS (moto's Cognito user pool locally).
//!
//! Everything listens on loopback only.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod cognito_identity;
pub mod dynamodb;
pub mod faults;
pub mod http;
pub mod iam;
pub mod jwt;
pub mod kms;
pub mod request;
pub mod s3;
pub mod search;
mod server;
pub mod sigv4;
pub mod sts;
pub mod tcp;

pub use faults::{HttpFault, HttpRule, Service};
pub use http::HttpFront;
pub use tcp::{TcpFront, TcpMode};
