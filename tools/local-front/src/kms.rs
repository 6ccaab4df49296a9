//! What S3 asks KMS, which moto's S3 never does: for an SSE-KMS object,
//! `kms:Decrypt` on the object's key when it is read, and
//! `kms:GenerateDataKey` on the named key when one is written, each by the
//! caller's session and only through S3 (`kms:ViaService`).
//!
//! The key comes from the registry (its tags, aliases and state, as the
//! seed and `cargo xtask tenant add` made it in moto): the one evaluator
//! decides with `aws:ResourceTag/*` from the key's tags, so the reference
//! design's ABAC condition (`aws:ResourceTag/TenantID` equal to the
//! session's `TenantID`, or the literal tenant) is what allows or refuses.
//! A refusal is answered as S3 answers it when KMS refuses.

use local_iam::{RegistryFile, Verdict};

/// The KMS operation S3 performs for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsUse {
    /// Reading an SSE-KMS object.
    Decrypt,
    /// Writing one.
    GenerateDataKey,
}

impl KmsUse {
    /// The IAM action.
    pub fn action(self) -> &'static str {
        match self {
            KmsUse::Decrypt => "kms:Decrypt",
            KmsUse::GenerateDataKey => "kms:GenerateDataKey",
        }
    }
}

/// Why KMS refuses S3's call, and so S3 the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsRefusal {
    /// The session may not use the key (the ABAC condition, or no policy).
    Denied(KmsUse, Verdict),
    /// No such key.
    NotFound,
    /// The key is disabled.
    Disabled,
    /// The key is pending deletion.
    PendingDeletion,
}

impl KmsRefusal {
    /// S3's answer: (status, code, message).
    pub fn answer(self) -> (u16, &'static str, String) {
        match self {
            KmsRefusal::Denied(use_, _) => (
                403,
                "AccessDenied",
                format!(
                    "User is not authorized to perform: {} on the KMS key of this object (local-front KMS check)",
                    use_.action()
                ),
            ),
            KmsRefusal::NotFound => (
                400,
                "KMS.NotFoundException",
                "Invalid keyId: the KMS key does not exist".to_owned(),
            ),
            KmsRefusal::Disabled => (
                400,
                "KMS.DisabledException",
                "The KMS key is disabled".to_owned(),
            ),
            KmsRefusal::PendingDeletion => (
                400,
                "KMS.KMSInvalidStateException",
                "The KMS key is pending deletion".to_owned(),
            ),
        }
    }
}

/// Decide S3's KMS call `use_` on the key `reference` names, for `session`
/// (its policies, session policy and tags), through S3 in `region`.
pub fn decide(
    registry: &RegistryFile,
    session: &local_iam::Session,
    reference: &str,
    use_: KmsUse,
    region: &str,
) -> Result<(), KmsRefusal> {
    let (arn, key) = registry.key(reference).ok_or(KmsRefusal::NotFound)?;
    match key.state.as_str() {
        "Disabled" => return Err(KmsRefusal::Disabled),
        "PendingDeletion" => return Err(KmsRefusal::PendingDeletion),
        _ => {}
    }
    let via = format!("s3.{region}.amazonaws.com");
    let tags: Vec<(String, String)> = key
        .tags
        .iter()
        .map(|(k, v)| (format!("aws:ResourceTag/{k}"), v.clone()))
        .collect();
    let mut context: Vec<(&str, &str)> =
        tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    context.push(("kms:ViaService", &via));
    match session.decide(use_.action(), &arn, &context) {
        Verdict::Allow => Ok(()),
        other => Err(KmsRefusal::Denied(use_, other)),
    }
}

/// The region of a SigV4 `Authorization` header's credential scope.
pub fn signed_region(authorization: Option<&str>) -> Option<String> {
    authorization?
        .split("Credential=")
        .nth(1)?
        .split('/')
        .nth(2)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registry(state: &str) -> (tempdir::TempFile, RegistryFile) {
        let file = tempdir::TempFile::new(
            &json!({"roles": {}, "keys": {
                "arn:aws:kms:us-east-1:111122223333:key/k2": {
                    "tags": {"TenantID": "t2"},
                    "aliases": ["arn:aws:kms:us-east-1:111122223333:alias/tenant/t2"],
                    "state": state}}})
            .to_string(),
        );
        let registry = RegistryFile::new(Some(file.path.clone()));
        (file, registry)
    }

    fn session(tenant: &str) -> local_iam::Session {
        local_iam::Session {
            policies: vec![json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "arn:aws:kms:us-east-1:111122223333:key/*",
                "Condition": {"StringEquals": {
                    "aws:ResourceTag/TenantID": "${aws:PrincipalTag/TenantID}",
                    "kms:ViaService": "s3.us-east-1.amazonaws.com"}}}]})],
            session_policy: None,
            tags: [("TenantID".to_owned(), tenant.to_owned())].into(),
        }
    }

    #[test]
    fn only_the_tenant_s_own_key_through_s3() {
        let (_file, registry) = registry("Enabled");
        let own = decide(
            &registry,
            &session("t2"),
            "alias/tenant/t2",
            KmsUse::Decrypt,
            "us-east-1",
        );
        assert_eq!(own, Ok(()));
        let other = decide(
            &registry,
            &session("t1"),
            "alias/tenant/t2",
            KmsUse::Decrypt,
            "us-east-1",
        );
        assert!(matches!(other, Err(KmsRefusal::Denied(KmsUse::Decrypt, _))));
        let elsewhere = decide(
            &registry,
            &session("t2"),
            "arn:aws:kms:us-east-1:111122223333:key/k2",
            KmsUse::GenerateDataKey,
            "eu-west-1",
        );
        assert!(
            matches!(elsewhere, Err(KmsRefusal::Denied(..))),
            "not through this region's S3"
        );
        assert_eq!(
            decide(
                &registry,
                &session("t2"),
                "alias/tenant/t9",
                KmsUse::Decrypt,
                "us-east-1"
            ),
            Err(KmsRefusal::NotFound)
        );
    }

    #[test]
    fn a_disabled_or_deleted_key_serves_nobody() {
        for (state, refusal) in [
            ("Disabled", KmsRefusal::Disabled),
            ("PendingDeletion", KmsRefusal::PendingDeletion),
        ] {
            let (_file, registry) = registry(state);
            assert_eq!(
                decide(
                    &registry,
                    &session("t2"),
                    "alias/tenant/t2",
                    KmsUse::Decrypt,
                    "us-east-1"
                ),
                Err(refusal)
            );
        }
    }

    /// A registry file for one test, removed after it.
    mod tempdir {
        pub struct TempFile {
            pub path: std::path::PathBuf,
        }
        impl TempFile {
            pub fn new(text: &str) -> Self {
                static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path = std::env::temp_dir()
                    .join(format!("local-front-kms-{}-{n}.json", std::process::id()));
                std::fs::write(&path, text).expect("a temp file");
                TempFile { path }
            }
        }
        impl Drop for TempFile {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}
