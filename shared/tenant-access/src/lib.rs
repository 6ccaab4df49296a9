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

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aws;
pub mod config;
pub mod credentials;
pub mod db;
pub mod dynamodb;
mod error;
pub mod http;
pub mod identity;
pub mod metrics;
pub mod s3;
pub mod session_policy;
pub mod telemetry;

pub use credentials::{TenantSession, TenantSessions};
pub use error::{Error, json_response, upstream};
pub use identity::{Caller, TenantId};
