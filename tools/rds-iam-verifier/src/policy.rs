//! A small IAM policy evaluator: enough to decide `rds-db:connect` on one
//! DB-user ARN from identity policies (and a session policy, when present).
//!
//! It fails closed: an `Allow` with `Condition`, `NotAction` or `NotResource`
//! is not counted, and a `Deny` with them is applied as if it matched.

use serde_json::Value;

/// The outcome for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An `Allow` matched and no `Deny` did.
    Allow,
    /// A `Deny` matched.
    ExplicitDeny,
    /// Nothing matched.
    ImplicitDeny,
}

/// Evaluate `policies` (JSON documents) for `action` on `resource`.
pub fn evaluate(policies: &[String], action: &str, resource: &str) -> Decision {
    let mut allowed = false;
    for doc in policies {
        let Ok(doc) = serde_json::from_str::<Value>(doc) else {
            continue;
        };
        let statements = match &doc["Statement"] {
            Value::Array(list) => list.clone(),
            one @ Value::Object(_) => vec![one.clone()],
            _ => continue,
        };
        for st in statements {
            let hedged = st.get("Condition").is_some()
                || st.get("NotAction").is_some()
                || st.get("NotResource").is_some();
            let matches = hedged
                || (any(&st["Action"], |p| {
                    wildcard(&p.to_ascii_lowercase(), &action.to_ascii_lowercase())
                }) && any(&st["Resource"], |p| wildcard(p, resource)));
            match st["Effect"].as_str() {
                Some("Deny") if matches => return Decision::ExplicitDeny,
                Some("Allow") if matches && !hedged => allowed = true,
                _ => {}
            }
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

fn any(value: &Value, test: impl Fn(&str) -> bool) -> bool {
    match value {
        Value::String(s) => test(s),
        Value::Array(list) => list.iter().filter_map(Value::as_str).any(test),
        _ => false,
    }
}

/// IAM wildcard match: `*` any run, `?` any one character.
fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:rds-db:us-east-1:123456789012:dbuser:cluster-X/tenant1_dbuser";

    fn doc(statements: &str) -> Vec<String> {
        vec![format!(
            r#"{{"Version":"2012-10-17","Statement":{statements}}}"#
        )]
    }

    #[test]
    fn literal_and_wildcard_resources() {
        let p = doc(&format!(
            r#"[{{"Effect":"Allow","Action":"rds-db:connect","Resource":"{ARN}"}}]"#
        ));
        assert_eq!(evaluate(&p, "rds-db:connect", ARN), Decision::Allow);
        assert_eq!(
            evaluate(&p, "rds-db:connect", &ARN.replace("tenant1", "tenant2")),
            Decision::ImplicitDeny
        );
        let p = doc(
            r#"{"Effect":"Allow","Action":["rds-db:*"],"Resource":"arn:aws:rds-db:*:*:dbuser:cluster-X/tenant1_*"}"#,
        );
        assert_eq!(evaluate(&p, "rds-db:connect", ARN), Decision::Allow);
        assert_eq!(
            evaluate(&p, "rds-db:connect", &ARN.replace("tenant1", "tenant2")),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn deny_wins_and_hedged_statements_fail_closed() {
        let p = doc(&format!(
            r#"[{{"Effect":"Allow","Action":"*","Resource":"*"}},{{"Effect":"Deny","Action":"rds-db:connect","Resource":"{ARN}"}}]"#
        ));
        assert_eq!(evaluate(&p, "rds-db:connect", ARN), Decision::ExplicitDeny);
        let p = doc(
            r#"[{"Effect":"Allow","Action":"rds-db:connect","Resource":"*","Condition":{"Bool":{"x":"true"}}}]"#,
        );
        assert_eq!(evaluate(&p, "rds-db:connect", ARN), Decision::ImplicitDeny);
        let p = doc(r#"[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]"#);
        assert_eq!(evaluate(&p, "rds-db:connect", ARN), Decision::ImplicitDeny);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("a*c", "abbbc"));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("a?c", "abbc"));
        assert!(wildcard("*", ""));
        assert!(!wildcard("tenant1_*", "tenant2_dbuser"));
    }
}
