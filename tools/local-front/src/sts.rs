//! `AssumeRole` checked as STS checks it, before moto (which accepts a
//! missing role, any tag value and any session name): so the local stack is
//! never more permissive than AWS. A tag value of `*`, say, would otherwise
//! be substituted into `${aws:PrincipalTag/TenantID}_home/*` as a wildcard.

use local_iam::{Caller, RegistryFile, Verdict, trust_decision};

use crate::request::Form;

/// STS's refusal: (status, code, message).
pub type StsRefusal = (u16, &'static str, String);

/// Whether `value` matches STS's pattern for session tag values and keys:
/// letters, separators, digits and `_.:/=+-@`.
fn tag_text(value: &str) -> bool {
    value.chars().all(|c| {
        c.is_alphabetic()
            || (c.is_whitespace() && !c.is_control())
            || c.is_numeric()
            || "_.:/=+-@".contains(c)
    })
}

/// Check an `AssumeRole` request's fields as STS does; with a registry,
/// the role must exist too.
///
/// ```
/// let form = local_front::request::form(b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=ok&Tags.member.1.Key=TenantID&Tags.member.1.Value=%2A");
/// let refusal = local_front::sts::check_assume_role(&form, None).unwrap_err();
/// assert_eq!((refusal.0, refusal.1), (400, "ValidationError"));
/// ```
pub fn check_assume_role(form: &Form, registry: Option<&RegistryFile>) -> Result<(), StsRefusal> {
    let invalid = |what: String| Err((400, "ValidationError", what));
    let role = form.get("RoleArn").map(String::as_str).unwrap_or_default();
    if !(20..=2048).contains(&role.len()) || !role.starts_with("arn:") || !role.contains(":role/") {
        return invalid(format!(
            "1 validation error detected: Value at 'roleArn' failed to satisfy constraint: {role:?} is not a role ARN"
        ));
    }
    let name = form
        .get("RoleSessionName")
        .map(String::as_str)
        .unwrap_or_default();
    let name_ok = (2..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !name_ok {
        return invalid("1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*".to_owned());
    }
    if let Some(duration) = form.get("DurationSeconds") {
        let ok = duration
            .parse::<u32>()
            .is_ok_and(|d| (900..=43_200).contains(&d));
        if !ok {
            return invalid(format!(
                "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200"
            ));
        }
    }
    let tags = session_tags(form);
    for (n, (key, value)) in (1..).zip(&tags) {
        if key.is_empty() || key.chars().count() > 128 || !tag_text(key) {
            return invalid(format!(
                "1 validation error detected: Value at 'tags.{n}.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]+"
            ));
        }
        if value.chars().count() > 256 || !tag_text(value) {
            return invalid(format!(
                "1 validation error detected: Value at 'tags.{n}.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]*"
            ));
        }
    }
    if tags.len() > 50 {
        return invalid("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50".to_owned());
    }
    if let Some(policy) = form.get("Policy")
        && policy.chars().count() > 2048
    {
        return Err((
            400,
            "PackedPolicyTooLarge",
            "Packed size of the session policy and tags exceeds the limit".to_owned(),
        ));
    }
    if let Some(registry) = registry
        && registry.role(role).is_none()
    {
        // STS answers a missing role as it answers a role that does not
        // trust the caller.
        return Err((
            403,
            "AccessDenied",
            format!("User is not authorized to perform: sts:AssumeRole on resource: {role}"),
        ));
    }
    Ok(())
}

/// The session tags of an `AssumeRole` request (`Tags.member.N.Key` and
/// `.Value`, N from 1 until a key is missing), in order.
pub(crate) fn session_tags(form: &Form) -> Vec<(String, String)> {
    let mut tags = Vec::new();
    for n in 1.. {
        let (Some(key), value) = (
            form.get(&format!("Tags.member.{n}.Key")),
            form.get(&format!("Tags.member.{n}.Value")),
        ) else {
            break;
        };
        tags.push((key.clone(), value.cloned().unwrap_or_default()));
    }
    tags
}

/// Decide an `AssumeRole` by the role's trust policy as deployed, as STS
/// does: `caller` (the signer's ARN; a session's is its role's) must be
/// allowed `sts:AssumeRole`, and `sts:TagSession` too when the request
/// passes tags, with `aws:RequestTag/*` and `aws:TagKeys` from them. A
/// role the registry holds no trust policy for is left to moto.
///
/// ```
/// use local_iam::{Registry, RegistryFile, Role};
/// let path = std::env::temp_dir().join(format!("trust-doc-{}.json", std::process::id()));
/// let role = "arn:aws:iam::123456789012:role/r";
/// let mut registry = Registry::default();
/// registry.roles.insert(role.into(), Role { trust: Some(serde_json::json!({"Version": "2012-10-17", "Statement": [{
///     "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/exec"},
///     "Action": ["sts:AssumeRole", "sts:TagSession"],
///     "Condition": {"StringLike": {"aws:RequestTag/TenantID": "?*"}}}]})), ..Role::default() });
/// std::fs::write(&path, serde_json::to_string(&registry).unwrap()).unwrap();
/// let registry = RegistryFile::new(Some(path.clone()));
/// let untagged = local_front::request::form(b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=s");
/// let tagged = local_front::request::form(b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=s&Tags.member.1.Key=TenantID&Tags.member.1.Value=t1");
/// let exec = Some("arn:aws:iam::123456789012:user/exec");
/// assert_eq!(local_front::sts::check_trust(&untagged, exec, &registry).unwrap_err().1, "AccessDenied");
/// assert!(local_front::sts::check_trust(&tagged, exec, &registry).is_ok());
/// assert!(local_front::sts::check_trust(&tagged, Some("arn:aws:iam::123456789012:user/other"), &registry).is_err());
/// std::fs::remove_file(path).unwrap();
/// ```
pub fn check_trust(
    form: &Form,
    caller: Option<&str>,
    registry: &RegistryFile,
) -> Result<(), StsRefusal> {
    let role_arn = form.get("RoleArn").map(String::as_str).unwrap_or_default();
    let Some(trust) = registry.role(role_arn).and_then(|role| role.trust) else {
        return Ok(());
    };
    let caller = caller.unwrap_or("anonymous");
    let tags = session_tags(form);
    let keys: Vec<String> = tags.iter().map(|(k, _)| k.clone()).collect();
    let request_tags: Vec<(String, &str)> = tags
        .iter()
        .map(|(k, v)| (format!("aws:RequestTag/{k}"), v.as_str()))
        .collect();
    let context: Vec<(&str, &str)> = request_tags.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let lists: Vec<(&str, &[String])> = vec![("aws:TagKeys", keys.as_slice())];
    let mut actions = vec!["sts:AssumeRole"];
    if !tags.is_empty() {
        actions.push("sts:TagSession");
    }
    match trust_decision(
        &trust,
        role_arn,
        Caller::Aws(caller),
        &actions,
        &context,
        &lists,
    ) {
        Verdict::Allow => Ok(()),
        _ => Err((
            403,
            "AccessDenied",
            format!(
                "User: {caller} is not authorized to perform: {} on resource: {role_arn}",
                actions.join(" and ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(extra: &str) -> Form {
        crate::request::form(
            format!("Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=tenant1%40req-1{extra}")
                .as_bytes(),
        )
    }

    #[test]
    fn what_sts_refuses_is_refused() {
        assert_eq!(check_assume_role(&form(""), None), Ok(()));
        assert_eq!(
            check_assume_role(
                &form("&Tags.member.1.Key=TenantID&Tags.member.1.Value=tenant1"),
                None
            ),
            Ok(())
        );
        for (extra, code) in [
            (
                "&Tags.member.1.Key=TenantID&Tags.member.1.Value=%2A",
                "ValidationError",
            ),
            (
                "&Tags.member.1.Key=TenantID&Tags.member.1.Value=a%3Fb",
                "ValidationError",
            ),
            (
                "&Tags.member.1.Key=Tenant%2AID&Tags.member.1.Value=t",
                "ValidationError",
            ),
            ("&DurationSeconds=899", "ValidationError"),
            ("&DurationSeconds=43201", "ValidationError"),
        ] {
            assert_eq!(
                check_assume_role(&form(extra), None).map_err(|r| r.1),
                Err(code),
                "{extra}"
            );
        }
        let long_value = format!(
            "&Tags.member.1.Key=k&Tags.member.1.Value={}",
            "v".repeat(257)
        );
        assert!(check_assume_role(&form(&long_value), None).is_err());
        let many: String = (1..=51)
            .map(|n| format!("&Tags.member.{n}.Key=k{n}&Tags.member.{n}.Value=v"))
            .collect();
        assert!(check_assume_role(&form(&many), None).is_err());
        let policy = format!("&Policy={}", "x".repeat(2049));
        assert_eq!(
            check_assume_role(&form(&policy), None).map_err(|r| r.1),
            Err("PackedPolicyTooLarge")
        );
        let bad_name = crate::request::form(
            b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=a%20b",
        );
        assert!(check_assume_role(&bad_name, None).is_err());
    }

    #[test]
    fn a_role_the_registry_does_not_hold_does_not_exist() {
        let path =
            std::env::temp_dir().join(format!("local-front-sts-{}.json", std::process::id()));
        std::fs::write(
            &path,
            r#"{"roles": {"arn:aws:iam::123456789012:role/r": {"policies": []}}}"#,
        )
        .unwrap();
        let registry = RegistryFile::new(Some(path.clone()));
        assert_eq!(check_assume_role(&form(""), Some(&registry)), Ok(()));
        let missing = crate::request::form(
            b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Ftenant%2FassumeRole-nobody&RoleSessionName=nobody%40x",
        );
        let refusal = check_assume_role(&missing, Some(&registry)).unwrap_err();
        assert_eq!((refusal.0, refusal.1), (403, "AccessDenied"));
        let _ = std::fs::remove_file(path);
    }
}
