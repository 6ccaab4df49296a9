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
    match (
        session.decide(use_.action(), &arn, &context),
        key.aws_managed,
    ) {
        (Verdict::Allow, _) => Ok(()),
        // An AWS-managed key's own policy grants its use through S3 to
        // every principal of the account: the identity policies need not
        // allow it, but an explicit deny, or a session policy that does not
        // allow it, still refuses.
        (Verdict::NotAllowedByIdentity, true) => Ok(()),
        (other, _) => Err(KmsRefusal::Denied(use_, other)),
    }
}

/// The KMS operations whose `KeyId` may name an alias (alias name or alias
/// ARN), as AWS's API reference documents each; every other operation that
/// takes a key accepts only a key id or key ARN.
const ALIAS_OK: [&str; 14] = [
    "DescribeKey",
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "GetPublicKey",
    "Sign",
    "Verify",
    "DeriveSharedSecret",
];

/// The key a KMS API call names (`KeyId`, or `TargetKeyId` for the alias
/// operations), if its body names one.
pub fn named_key(body: &[u8]) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["KeyId", "TargetKeyId", "DestinationKeyId"]
        .iter()
        .find_map(|field| body.get(*field).and_then(|v| v.as_str()))
        .map(str::to_owned)
}

/// Whether `operation` accepts `key` in the form it is given: an alias only
/// where AWS documents one.
///
/// ```
/// use local_front::kms::accepts_identifier;
/// assert!(accepts_identifier("DescribeKey", "alias/tenant/t1"));
/// assert!(!accepts_identifier("ScheduleKeyDeletion", "alias/tenant/t1"));
/// assert!(!accepts_identifier("DisableKey", "arn:aws:kms:us-east-1:111122223333:alias/tenant/t1"));
/// assert!(accepts_identifier("DisableKey", "1234abcd-12ab-34cd-56ef-1234567890ab"));
/// ```
pub fn accepts_identifier(operation: &str, key: &str) -> bool {
    let alias = key.starts_with("alias/") || key.contains(":alias/");
    !alias || ALIAS_OK.contains(&operation)
}

/// Decide a KMS API call made directly (not by S3) by `session`: the
/// action `kms:<operation>` on the key it names, with the key's tags as
/// `aws:ResourceTag/*` and no `kms:ViaService`. A call that names no key
/// known to the registry is refused: no tenant policy grants one.
pub fn decide_direct(
    registry: &RegistryFile,
    session: &local_iam::Session,
    operation: &str,
    reference: Option<&str>,
) -> Result<(), Verdict> {
    let Some((arn, key)) = reference.and_then(|r| registry.key(r)) else {
        return Err(Verdict::NotAllowedByIdentity);
    };
    let tags: Vec<(String, String)> = key
        .tags
        .iter()
        .map(|(k, v)| (format!("aws:ResourceTag/{k}"), v.clone()))
        .collect();
    let context: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    match session.decide(&format!("kms:{operation}"), &arn, &context) {
        Verdict::Allow => Ok(()),
        other => Err(other),
    }
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
            boundary: None,
            tags: [("TenantID".to_owned(), tenant.to_owned())].into(),
            userid: None,
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
