//! Tenant isolation for multi-tenant AWS Lambda functions, enforced by the
//! platform rather than by business logic.
//!
//! A request is served in three layers, each of which would stop a bug in
//! the one above it:
//!
//! 1. [`identity`]: the tenant comes only from the identity API Gateway's
//!    authorizer verified ([`Caller::from_request`]).
//! 2. [`credentials`]: the function assumes the tenant's own IAM role
//!    ([`TenantSessions`]); only those credentials touch data, so IAM confines
//!    the request to the tenant's S3 prefix ([`s3`]) and DB user ([`db`]).
//! 3. [`db`]: the DB login is the tenant's own user, authenticated with an
//!    RDS IAM token over verified TLS, and Postgres row-level security keyed
//!    on `current_user` filters every row.
//!
//! Configuration is read once at cold start ([`config`]); every failure is an
//! [`Error`] with a stable code and HTTP status.

//!
//! # Features
//!
//! The defaults build everything; an S3-only Lambda compiles no Postgres:
//!
//! | feature | what it adds |
//! |---|---|
//! | `s3` | [`s3`]: the tenant's prefix of a shared bucket, SSE-KMS writes |
//! | `postgres` | [`db`]: RDS IAM tokens, verified TLS, per-tenant connection pools |
//! | `dynamodb` | [`dynamodb`]: the tenant's partition of a shared table |
//! | `registry` | [`registry`]: each tenant's lifecycle state, checked before any AWS call |
//! | `lambda-http` | [`http`]: the API Gateway envelope, `Caller::from_request`, JSON errors |
//! | `telemetry` | [`telemetry`]: the Lambda log subscriber, installed only when asked |
//! | `metrics` | one CloudWatch EMF line per request ([`metrics`]) |
//! | `search` | `search`: the tenant's own index of a shared OpenSearch domain, signed calls (not in the defaults) |
//! | `authorizer` | `authorizer`: a Lambda `REQUEST` authorizer's token check and answer (not in the defaults) |

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// docs.rs builds with `--cfg docsrs` on nightly: `doc_cfg` labels each
// feature-gated item with its feature (`doc_auto_cfg` was folded into it).
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "authorizer")]
pub mod authorizer;
pub mod aws;
pub mod config;
pub mod credentials;
#[cfg(feature = "postgres")]
pub mod db;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
mod error;
#[cfg(feature = "lambda-http")]
pub mod http;
pub mod identity;
pub mod limits;
pub mod metrics;
#[cfg(feature = "registry")]
pub mod registry;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "search")]
pub mod search;
pub mod session_policy;
#[cfg(feature = "telemetry")]
pub mod telemetry;
mod tier;

/// The README's example compiles.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use credentials::{TenantSession, TenantSessions};
#[cfg(feature = "lambda-http")]
pub use error::json_response;
pub use error::{Error, upstream};
pub use identity::{Caller, TenantId};
