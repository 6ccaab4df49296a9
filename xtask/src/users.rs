//! `cargo xtask tenant disable-users ID --aws --stack NAME`: every user of
//! a tenant disabled and signed out everywhere.
//!
//! A tenant's users are the members of its Cognito group, `tenant-<id>`,
//! which `tenant add --aws --user` makes and fills: `ListUsers` cannot
//! filter on the custom tenant attribute, so the group is how they are
//! found. Each is disabled (no new sign-in, no token refresh) and signed
//! out globally (its refresh tokens revoked). Idempotent: a user disabled
//! before is disabled again.

use std::process::Command;

use serde_json::Value;

use crate::onboarding::{Deployed, tenant_group as group};
use crate::process::{Result, run};

/// Disable and sign out every user of tenant `id`'s group in the deployed
/// stack's user pool, with the `aws` program `aws`; with `dry_run`, only
/// count them. How many users it found.
pub fn disable(aws: &str, deployed: &Deployed, id: &str, dry_run: bool) -> Result<usize> {
    let pool = deployed.output("UserPoolId")?;
    let region = deployed.region.as_str();
    let aws_run = |args: &[&str]| {
        run(Command::new(aws)
            .args(args)
            .args(["--region", region, "--output", "json"]))
    };
    let group = group(id);
    let listed = match aws_run(&[
        "cognito-idp",
        "list-users-in-group",
        "--user-pool-id",
        pool,
        "--group-name",
        &group,
    ]) {
        Ok(out) => out.stdout,
        // No group: the tenant never had a user made by `tenant add`.
        Err(e) if e.contains("ResourceNotFoundException") => return Ok(0),
        Err(e) => return Err(e),
    };
    let listed: Value = serde_json::from_slice(&listed)
        .map_err(|e| format!("aws cognito-idp list-users-in-group: {e}"))?;
    let users: Vec<&str> = listed["Users"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["Username"].as_str())
        .collect();
    if !dry_run {
        for user in &users {
            for action in ["admin-disable-user", "admin-user-global-sign-out"] {
                aws_run(&[
                    "cognito-idp",
                    action,
                    "--user-pool-id",
                    pool,
                    "--username",
                    user,
                ])?;
            }
        }
    }
    Ok(users.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Every member of the tenant's group is disabled and signed out, in
    /// that order; a tenant without a group has no users; a dry run
    /// changes nothing.
    #[test]
    fn every_user_of_the_tenant_s_group_is_disabled_and_signed_out() {
        let dir = std::env::temp_dir().join(format!("users-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(dir.join("calls"));
        let aws = crate::process::stand_in(
            &dir,
            "aws",
            &format!(
                r#"echo "$2 $4 $6" >> {dir}/calls
case "$2 $6" in
  "list-users-in-group tenant-acme") echo '{{"Users": [{{"Username": "a@acme"}}, {{"Username": "b@acme"}}]}}' ;;
  "list-users-in-group "*) echo "An error occurred (ResourceNotFoundException)" >&2; exit 254 ;;
  *) echo '{{}}' ;;
esac
"#,
                dir = dir.display()
            ),
        );
        let deployed = Deployed {
            name: "app".into(),
            outputs: BTreeMap::from([("UserPoolId".into(), "eu-west-1_P".into())]),
            parameters: BTreeMap::new(),
            region: "eu-west-1".into(),
        };
        let calls = || std::fs::read_to_string(dir.join("calls")).unwrap_or_default();

        assert_eq!(disable(&aws, &deployed, "acme", true), Ok(2));
        assert_eq!(calls().lines().count(), 1, "a dry run only lists");
        assert_eq!(disable(&aws, &deployed, "acme", false), Ok(2));
        let made: Vec<String> = calls().lines().skip(2).map(str::to_owned).collect();
        assert_eq!(
            made,
            [
                "admin-disable-user eu-west-1_P a@acme",
                "admin-user-global-sign-out eu-west-1_P a@acme",
                "admin-disable-user eu-west-1_P b@acme",
                "admin-user-global-sign-out eu-west-1_P b@acme",
            ]
        );
        assert_eq!(disable(&aws, &deployed, "nobody", false), Ok(0));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
