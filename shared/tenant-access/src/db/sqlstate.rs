//! What the database's answers mean for the caller: each SQLSTATE the
//! crate tells apart, mapped to its [`Error`].

use tokio_postgres::error::SqlState;

use crate::Error;

/// Whether a SQLSTATE means the server is unavailable for now: connection
/// exceptions (08), insufficient resources (53), operator intervention (57:
/// shutdown, restart, statement time-out, cannot connect now), and
/// serialization failures and deadlocks (40001, 40P01).
fn transient(code: &SqlState) -> bool {
    let code = code.code();
    ["08", "53", "57"]
        .iter()
        .any(|class| code.starts_with(class))
        || code == "40001"
        || code == "40P01"
}

/// What is left once the specific SQLSTATEs are handled: a transient one,
/// or none (the connection failed or closed), is 503; any other 502.
fn unexpected_or_unavailable(code: Option<&SqlState>, detail: String) -> Error {
    match code {
        Some(code) if !transient(code) => Error::Upstream {
            service: "db",
            detail,
        },
        _ => Error::Unavailable {
            service: "db",
            detail,
        },
    }
}

pub(super) fn connect_error(e: tokio_postgres::Error) -> Error {
    let detail = e.to_string();
    match e.code() {
        Some(code)
            if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            Error::AccessDenied { detail }
        }
        code => unexpected_or_unavailable(code, detail),
    }
}

/// The SQLSTATE `tenant_is_active()` raises when the caller's
/// `tenant_metadata` row is not `active`.
pub const TENANT_NOT_ACTIVE: &str = "TA001";
/// The SQLSTATE `tenant_is_active()` raises when the caller has no
/// `tenant_metadata` row.
pub const TENANT_WITHOUT_METADATA: &str = "TA002";

pub(super) fn query_error(e: tokio_postgres::Error) -> Error {
    let detail = e.to_string();
    match e.code() {
        Some(code) if *code == SqlState::INSUFFICIENT_PRIVILEGE => Error::AccessDenied { detail },
        // Raised by db/01_schema.sql's tenant_is_active(), which the records
        // policy calls: the database, not this code, decides suspension.
        Some(code) if code.code() == TENANT_NOT_ACTIVE => Error::TenantSuspended { detail },
        Some(code) if code.code() == TENANT_WITHOUT_METADATA => {
            Error::TenantNotOnboarded { detail }
        }
        // Unique constraints are per tenant (they include tenant_id), so a
        // clash is with the caller's own data.
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => {
            Error::Conflict("the request conflicts with an existing row".to_owned())
        }
        code => unexpected_or_unavailable(code, detail),
    }
}
