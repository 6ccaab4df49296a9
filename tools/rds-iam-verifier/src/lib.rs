//! A local stand-in for RDS IAM database authentication.
//!
//! PostgreSQL authenticates `rds_iam` members with its `ldap` method (simple
//! bind) against this server, which accepts the password only if it is an
//! RDS IAM auth token that RDS itself would accept:
//!
//! - an RDS presigned URL for `Action=connect` whose `DBUser` is the login
//!   user, signed for the host and port the server is reached at, in the
//!   right region and `rds-db` scope;
//! - whose SigV4 signature verifies (re-signed with aws-sdk-rds's own signer)
//!   with the secret of the token's access key, looked up in moto, and whose
//!   session token is that key's;
//! - that has not expired (`X-Amz-Expires` at most 900 s);
//! - whose signing session has not expired (its expiration as the local
//!   front recorded it from `AssumeRole`; moto forgets it);
//! - whose signing principal may `rds-db:connect` on
//!   `arn:aws:rds-db:<region>:<account>:dbuser:<cluster-resource-id>/<user>`,
//!   decided by the local stack's one IAM evaluator (`local-iam`) over the
//!   role's policies as deployed, the session policy and the principal tags
//!   (role tags and session tags), conditions included.
//!
//! Why LDAP and not PAM: `pam_exec`'s `expose_authtok` passes at most
//! `PAM_MAX_RESP_SIZE` (512) bytes of the password, and a token carrying a
//! session token is longer than that.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ldap;
pub mod moto;
pub mod token;
pub mod verify;

/// Why a login was refused. Never holds the token itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not an RDS auth token.
    #[error("not a valid RDS IAM auth token: {0}")]
    Malformed(String),
    /// `DBUser` is not the login user.
    #[error("the token is for another DB user")]
    WrongUser,
    /// Signed for another endpoint.
    #[error("the token is for {host}:{port}, not this server")]
    WrongEndpoint {
        /// Host in the token.
        host: String,
        /// Port in the token.
        port: u16,
    },
    /// Signed for another region or service.
    #[error("the token is scoped to {region}/{service}")]
    WrongScope {
        /// Region in the token.
        region: String,
        /// Service in the token.
        service: String,
    },
    /// Past `X-Amz-Date + X-Amz-Expires`.
    #[error("the token has expired")]
    Expired,
    /// The access key is unknown.
    #[error("unknown access key {0}")]
    UnknownKey(String),
    /// The session token is not the access key's.
    #[error("the session token does not belong to the access key")]
    SessionTokenMismatch,
    /// The signature does not verify.
    #[error("the signature does not match")]
    BadSignature,
    /// The signing session's credentials have expired.
    #[error("the signing session's credentials have expired")]
    CredentialsExpired,
    /// The principal may not connect as this user.
    #[error("{principal} is not allowed rds-db:connect on {resource} ({verdict:?})")]
    NotAuthorized {
        /// The signing principal.
        principal: String,
        /// The DB-user ARN.
        resource: String,
        /// Why not.
        verdict: local_iam::Verdict,
    },
    /// moto could not be asked.
    #[error("credential store: {0}")]
    Store(String),
}
