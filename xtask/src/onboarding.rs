//! Onboarding and offboarding tenants, and the schema, without a bastion:
//! the database side always goes through the db-admin function (inside the
//! VPC on AWS), which runs the schema's `onboard_tenant()` and
//! `offboard_tenant()` as the master user from its secret.
//!
//! - `--local`: db-admin's own built binary, invoked through the Runtime API
//!   stand-in with the local stack's db-admin environment (its identity,
//!   whose only power is reading the master secret through the front), plus
//!   the tenant's role, key and user in moto.
//! - `--aws --stack NAME`: the deployed stack's outputs, then `sam deploy`
//!   of tenant-template.yaml (the tenant's role and key), `aws lambda
//!   invoke` of db-admin, and the Cognito user; `--dry-run` prints the
//!   commands instead. Every step is idempotent, so a failure halfway is
//!   fixed by running the command again.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::process::{Result, run};
use crate::{Stack, cargo, read_env};

/// Where a tenant command acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Print the psql script (the tenant commands' old default).
    Print,
    /// The running local stack.
    Local,
    /// A deployed stack.
    Aws {
        /// Its CloudFormation stack name.
        stack: String,
        /// Print the commands instead of running them.
        dry_run: bool,
    },
}

/// db-admin's event to onboard `ids`.
pub fn onboard_event(ids: &[String], statement_timeout_ms: u64) -> Value {
    json!({"action": "onboard", "tenants": ids, "statement_timeout_ms": statement_timeout_ms})
}

/// db-admin's event to offboard `ids`.
pub fn offboard_event(ids: &[String], purge: bool) -> Value {
    json!({"action": "offboard", "tenants": ids, "purge": purge})
}

/// db-admin's event to apply the schema.
pub fn migrate_event() -> Value {
    json!({"action": "migrate"})
}

/// Invoke db-admin on the local stack with `event`: its built binary under
/// the Runtime API stand-in, with target/local-stack/db-admin.env, as
/// Lambda would run it. Returns its answer.
///
/// `XTASK_DB_ADMIN_BIN` names a built binary to run instead of building
/// target/debug/db-admin (the tests run under `cargo test`, which has built
/// it and holds the build directory).
pub fn invoke_local(stack: &Stack, event: &Value) -> Result<Value> {
    let binary = match std::env::var_os("XTASK_DB_ADMIN_BIN") {
        Some(path) => std::path::PathBuf::from(path),
        None => {
            run(cargo()
                .current_dir(&stack.root)
                .args(["build", "--quiet", "-p", "db-admin"]))?;
            stack.root.join("target/debug/db-admin")
        }
    };
    let env = read_env(&stack.db_admin_env_file())?;
    let api = runtime_stand_in::RuntimeApi::start(vec![runtime_stand_in::Invocation::new(
        event.to_string(),
    )])
    .map_err(|e| format!("the Runtime API stand-in: {e}"))?;
    // Only db-admin's own environment: no credentials or profile of the
    // shell's reach it.
    let mut function = Command::new(&binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&env)
        .envs(api.lambda_env("db-admin"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let outcome = api.outcome(Duration::from_secs(120));
    let _ = function.kill();
    let _ = function.wait();
    match outcome {
        Some(outcome) => match (outcome.response, outcome.error) {
            (Some(answer), _) => Ok(answer),
            (None, Some(error)) => Err(format!("db-admin failed: {}", error_message(&error))),
            (None, None) => Err("db-admin gave no answer".to_owned()),
        },
        None => Err("db-admin did not answer within 120 s".to_owned()),
    }
}

/// The message of a Lambda error report (`{"errorType", "errorMessage"}`).
fn error_message(report: &str) -> String {
    serde_json::from_str::<Value>(report)
        .ok()
        .and_then(|v| v["errorMessage"].as_str().map(str::to_owned))
        .unwrap_or_else(|| report.to_owned())
}

/// A deployed stack's outputs and parameters, as `aws cloudformation
/// describe-stacks` gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deployed {
    /// The stack's name.
    pub name: String,
    /// Output key to value.
    pub outputs: BTreeMap<String, String>,
    /// Parameter key to value.
    pub parameters: BTreeMap<String, String>,
    /// The stack's region (from its id), which every command is given.
    pub region: String,
}

impl Deployed {
    /// Ask CloudFormation (the `aws` CLI, with the caller's credentials).
    pub fn describe(name: &str) -> Result<Self> {
        let out = run(Command::new("aws").args([
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            name,
            "--output",
            "json",
        ]))
        .map_err(|e| {
            format!(
                "{e}\n(the AWS CLI, with credentials for the stack's account, is needed for --aws)"
            )
        })?;
        Self::from_description(name, &String::from_utf8_lossy(&out.stdout))
    }

    /// Parse `describe-stacks` JSON.
    pub fn from_description(name: &str, json: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(json).map_err(|e| format!("describe-stacks: {e}"))?;
        let stack = &v["Stacks"][0];
        let pairs = |list: &Value, key: &str, value: &str| -> BTreeMap<String, String> {
            list.as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| Some((o[key].as_str()?.to_owned(), o[value].as_str()?.to_owned())))
                .collect()
        };
        // arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id>
        let region = stack["StackId"]
            .as_str()
            .and_then(|id| id.split(':').nth(3))
            .filter(|r| !r.is_empty())
            .ok_or("describe-stacks: no StackId to take the region from")?
            .to_owned();
        Ok(Deployed {
            name: name.to_owned(),
            outputs: pairs(&stack["Outputs"], "OutputKey", "OutputValue"),
            parameters: pairs(&stack["Parameters"], "ParameterKey", "ParameterValue"),
            region,
        })
    }

    pub(crate) fn output(&self, key: &str) -> Result<&str> {
        self.outputs.get(key).map(String::as_str).ok_or_else(|| {
            format!(
                "stack {} has no output {key} (deployed from an older template, or without a created cluster/user pool)",
                self.name
            )
        })
    }

    /// The stack that holds tenant `id`'s role and key.
    pub fn tenant_stack(&self, id: &str) -> String {
        format!("{}-tenant-{id}", self.name)
    }
}

/// One command of a plan, and the errors that mean its work is already
/// done (so a plan that failed halfway can be run again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The command line.
    pub argv: Vec<String>,
    /// Error codes that mean the step was done before.
    pub done_if: &'static [&'static str],
    /// What the step must print (trimmed), when it checks a result.
    pub expect: Option<String>,
    /// The name later steps use for what this step prints (trimmed): an
    /// argument `{name}` of a later step is replaced by it. A step that is
    /// "already done" captures nothing, and the steps that need its value
    /// are skipped (there is nothing left for them to act on).
    pub capture: Option<&'static str>,
}

impl Step {
    fn new<const N: usize>(argv: [&str; N]) -> Self {
        Step {
            argv: argv.map(str::to_owned).to_vec(),
            done_if: &[],
            expect: None,
            capture: None,
        }
    }

    fn capture(mut self, name: &'static str) -> Self {
        self.capture = Some(name);
        self
    }

    /// The step in `region` (every AWS command names the stack's).
    fn region(mut self, region: &str) -> Self {
        self.argv.extend(["--region".to_owned(), region.to_owned()]);
        self
    }

    fn expect(mut self, output: &str) -> Self {
        self.expect = Some(output.to_owned());
        self
    }

    fn arg(mut self, arg: &str) -> Self {
        self.argv.push(arg.to_owned());
        self
    }

    fn done_if(mut self, codes: &'static [&'static str]) -> Self {
        self.done_if = codes;
        self
    }
}

/// The tier whose tenants the REST API throttles by the premium usage plan
/// (the template's `PremiumUsagePlan`) on a stack with no `DedicatedTier`;
/// with one, that tier's tenants are. Every other tenant's key is in the
/// default plan.
pub const PREMIUM_TIER: &str = "premium";

/// The commands that onboard `id` on the deployed stack, in order: its DB
/// login and metadata row through db-admin (which refuses an id offboarded
/// before: ids are never reused), tenant-template.yaml (its role, or only
/// its key under the shared and identity-pool strategies, unless `tier` is
/// the stack's `DedicatedTier`), its registry item (with `tier`, when
/// given), and its Cognito user `user` (when given). Run again with
/// another tier, it moves the tenant: its role is made (or kept) and its
/// item names the new tier.
pub fn plan_add(
    deployed: &Deployed,
    id: &str,
    user: Option<&str>,
    tier: Option<&str>,
    statement_timeout_ms: u64,
) -> Result<Vec<Step>> {
    let strategy = deployed
        .parameters
        .get("IsolationStrategy")
        .map_or("role-per-tenant", String::as_str);
    let dedicated = deployed
        .parameters
        .get("DedicatedTier")
        .filter(|t| !t.is_empty());
    let own_role =
        strategy == "role-per-tenant" || (tier.is_some() && tier == dedicated.map(String::as_str));
    let create_role = if own_role { "true" } else { "false" };
    let mut overrides = vec![
        format!("TenantId={id}"),
        format!("CreateRole={create_role}"),
        format!(
            "ExecutionRoleArns={}",
            deployed.output("ExecutionRoleArns")?
        ),
        format!("BucketName={}", deployed.output("BucketName")?),
        format!("TableName={}", deployed.output("TableName")?),
        format!("SearchDomainName={}", deployed.output("SearchDomainName")?),
        format!(
            "DbResourceId={}",
            deployed.output("DbResourceIdForTenants")?
        ),
        format!(
            "PermissionsBoundaryArn={}",
            deployed.output("TenantBoundaryArn")?
        ),
    ];
    if let Some(prefix) = deployed.parameters.get("TenantRolePrefix") {
        overrides.push(format!("TenantRolePrefix={prefix}"));
    }
    // The REST API (Lambda's tenant isolation mode): the tenant's own API
    // key, in its tier's usage plan, which throttles it. A key is in one
    // plan of a stage at a time, so a tenant moving tiers first leaves the
    // other plan (CloudFormation creates the new association before it
    // deletes the old one).
    let mut leave_other_plan = Vec::new();
    if deployed.outputs.contains_key("TenantUsagePlanId") {
        // The premium plan is the dedicated tier's, when the stack has one.
        let premium = dedicated.map_or(PREMIUM_TIER, String::as_str);
        let Some(tier) = tier else {
            return Err(format!(
                "this stack's REST API throttles each tenant by its tier's usage plan: give the tenant's tier with --tier ({premium}, or any other for the default plan), every time, or a re-run would move a {premium} tenant to the default plan"
            ));
        };
        let (plan, other) = if tier == premium {
            ("PremiumUsagePlanId", "TenantUsagePlanId")
        } else {
            ("TenantUsagePlanId", "PremiumUsagePlanId")
        };
        let prefix = deployed.output("UsageKeyPrefix")?;
        overrides.push(format!("UsagePlanId={}", deployed.output(plan)?));
        overrides.push(format!("UsageKeyPrefix={prefix}"));
        leave_other_plan = vec![
            // The key's id by its exact name (`--name-query` is a prefix).
            Step::new([
                "aws",
                "apigateway",
                "get-api-keys",
                "--name-query",
                &format!("{prefix}{id}"),
                "--query",
                &format!("items[?name=='{prefix}{id}'].id | [0]"),
                "--output",
                "text",
            ])
            .region(&deployed.region)
            .capture("api_key_id"),
            // No key yet, or not in that plan: nothing to leave.
            Step::new([
                "aws",
                "apigateway",
                "delete-usage-plan-key",
                "--usage-plan-id",
                deployed.output(other)?,
                "--key-id",
                "{api_key_id}",
            ])
            .region(&deployed.region)
            .done_if(&["NotFoundException", "BadRequestException"]),
        ];
    }
    // No confirmation prompt (it would read an empty stdin and abort); what
    // samconfig.toml's default profile sets besides (capabilities, region,
    // overrides) is given here instead.
    let mut deploy = Step::new([
        "sam",
        "deploy",
        "--template-file",
        "tenant-template.yaml",
        "--stack-name",
        &deployed.tenant_stack(id),
        "--capabilities",
        "CAPABILITY_NAMED_IAM",
        "--no-confirm-changeset",
        "--no-fail-on-empty-changeset",
        "--parameter-overrides",
    ]);
    deploy.argv.extend(overrides);
    // The database first: onboard_tenant() refuses an id offboarded before,
    // so no role or key is made again for a reused id.
    let mut plan = vec![invoke(
        deployed,
        &onboard_event(&[id.to_owned()], statement_timeout_ms),
    )?];
    plan.extend(leave_other_plan);
    plan.extend([
        deploy.region(&deployed.region),
        // Active last: the tenant is served once its role and key exist.
        // The condition refuses to bring an offboarded id back, should
        // db-admin's own refusal ever be skipped.
        registry_put(deployed, id, "active", tier)?
            .arg("--condition-expression")
            .arg("attribute_not_exists(tenant_id) OR #s <> :offboarded")
            .arg("--expression-attribute-names")
            .arg(r##"{"#s":"state"}"##)
            .arg("--expression-attribute-values")
            .arg(r#"{":offboarded":{"S":"offboarded"}}"#),
    ]);
    if let Some(user) = user {
        let pool = deployed.output("UserPoolId")?;
        let claim = deployed
            .parameters
            .get("TenantClaim")
            .map_or("custom:tenant_id", String::as_str);
        // The user is made with its email (when the name is one) and no
        // invitation: its password is set next by whoever onboards it
        // (admin-set-user-password), as the README's step 5 does.
        let mut create = Step::new([
            "aws",
            "cognito-idp",
            "admin-create-user",
            "--user-pool-id",
            pool,
            "--username",
            user,
            "--message-action",
            "SUPPRESS",
            "--user-attributes",
            &format!("Name={claim},Value={id}"),
        ]);
        if user.contains('@') {
            create = create
                .arg(&format!("Name=email,Value={user}"))
                .arg("Name=email_verified,Value=true");
        }
        plan.push(
            create
                .region(&deployed.region)
                .done_if(&["UsernameExistsException"]),
        );
        // A user made before (the step above found it) must be this
        // tenant's: its tenant attribute cannot be changed.
        plan.push(
            Step::new([
                "aws",
                "cognito-idp",
                "admin-get-user",
                "--user-pool-id",
                pool,
                "--username",
                user,
                "--query",
                &format!("UserAttributes[?Name=='{claim}'].Value | [0]"),
                "--output",
                "text",
            ])
            .region(&deployed.region)
            .expect(id),
        );
        // Only then, this tenant's user for sure: its group keeps its users
        // findable at offboarding
        // (ListUsers cannot filter on the tenant attribute).
        let group = tenant_group(id);
        plan.push(
            Step::new([
                "aws",
                "cognito-idp",
                "create-group",
                "--user-pool-id",
                pool,
                "--group-name",
                &group,
            ])
            .region(&deployed.region)
            .done_if(&["GroupExistsException"]),
        );
        plan.push(
            Step::new([
                "aws",
                "cognito-idp",
                "admin-add-user-to-group",
                "--user-pool-id",
                pool,
                "--username",
                user,
                "--group-name",
                &group,
            ])
            .region(&deployed.region),
        );
    }
    Ok(plan)
}

/// The Cognito group of tenant `id`'s users, which `tenant add --user`
/// fills and offboarding empties of enabled users.
pub fn tenant_group(id: &str) -> String {
    format!("tenant-{id}")
}

/// The commands that offboard `id` from the deployed stack, in order
/// (docs/tenant-lifecycle.md): its registry state `offboarded`; under the
/// shared strategies its id added to the stack's `OffboardedTenants`
/// deny; its users (its Cognito group's) disabled and signed out; its DB
/// login revoked and dropped through db-admin (records kept unless
/// `purge`); its key resolved from its alias, disabled at once and
/// scheduled for deletion after `key_window_days` (7 to 30: until then
/// `aws kms cancel-key-deletion` and `enable-key` recover the tenant's
/// objects; after, they are unreadable for good); its role's stack deleted
/// (the key itself is retained by it); with `purge`, every version of its
/// objects and its items deleted too.
pub fn plan_remove(
    deployed: &Deployed,
    id: &str,
    purge: bool,
    key_window_days: u8,
) -> Result<Vec<Step>> {
    let tenant_stack = deployed.tenant_stack(id);
    let window = key_window_days.to_string();
    // First the registry: every function refuses the tenant once its
    // cached state is past its life (30 s).
    let mut plan = vec![registry_put(deployed, id, "offboarded", None)?];
    // Then IAM, at once and for sessions issued before too: under the
    // shared strategies no role is the tenant's own, so the roles tenants
    // share deny its sessions (the template's OffboardedTenants).
    if let Some(update) = deny_sessions(deployed, id)? {
        plan.extend(update);
    }
    // Its users: disabled and signed out (a created user pool only).
    if deployed.outputs.contains_key("UserPoolId") {
        plan.push(Step::new([
            "cargo",
            "xtask",
            "tenant",
            "disable-users",
            id,
            "--aws",
            "--stack",
            &deployed.name,
        ]));
    }
    plan.extend([
        invoke(deployed, &offboard_event(&[id.to_owned()], purge))?,
        // DisableKey and ScheduleKeyDeletion take a key id or key ARN,
        // never an alias: the alias is resolved first.
        Step::new([
            "aws",
            "kms",
            "describe-key",
            "--key-id",
            &format!("alias/tenant/{id}"),
            "--query",
            "KeyMetadata.KeyId",
            "--output",
            "text",
        ])
        .region(&deployed.region)
        .capture("key_id")
        .done_if(&["NotFoundException"]),
        // At once: every SSE-KMS read and write of the tenant's objects,
        // presigned or not, is refused from here on.
        Step::new(["aws", "kms", "disable-key", "--key-id", "{key_id}"])
            .region(&deployed.region)
            .done_if(&["KMSInvalidStateException"]),
        // Only "already pending deletion" counts as done.
        Step::new([
            "aws",
            "kms",
            "schedule-key-deletion",
            "--key-id",
            "{key_id}",
            "--pending-window-in-days",
            &window,
        ])
        .region(&deployed.region)
        .done_if(&["KMSInvalidStateException"]),
        Step::new([
            "aws",
            "cloudformation",
            "delete-stack",
            "--stack-name",
            &tenant_stack,
        ])
        .region(&deployed.region),
        // Until the role is gone, so onboarding the id again can follow.
        Step::new([
            "aws",
            "cloudformation",
            "wait",
            "stack-delete-complete",
            "--stack-name",
            &tenant_stack,
        ])
        .region(&deployed.region),
    ]);
    if purge {
        // Every version and delete marker of its objects, and its items:
        // the bucket is versioned, so `aws s3 rm` would only add markers.
        plan.push(Step::new([
            "cargo",
            "xtask",
            "tenant",
            "purge",
            id,
            "--aws",
            "--stack",
            &deployed.name,
        ]));
    }
    Ok(plan)
}

/// The largest `OffboardedTenants` the template's deny can hold: IAM's
/// 6,144 characters of a managed policy, less the document around the two
/// lists (about 400), and CloudFormation's 4,096 bytes of a parameter value.
const DENY_LIST_BUDGET: usize = 5_700;
const PARAMETER_VALUE_MAX: usize = 4_096;

/// `aws dynamodb put-item` of `id`'s state in the stack's tenant registry.
fn registry_put(deployed: &Deployed, id: &str, state: &str, tier: Option<&str>) -> Result<Step> {
    let changed_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut item = json!({
        "tenant_id": {"S": id},
        "state": {"S": state},
        "changed_at": {"N": changed_at.to_string()},
    });
    if let Some(tier) = tier {
        item["tier"] = json!({"S": tier});
    }
    Ok(Step::new([
        "aws",
        "dynamodb",
        "put-item",
        "--table-name",
        deployed.output("TenantRegistryName")?,
        "--item",
        &item.to_string(),
    ])
    .region(&deployed.region))
}

/// The steps that add `id` to the deployed stack's `OffboardedTenants`
/// (its other parameters kept), and wait for the update; `None` when the
/// stack's roles are the tenants' own (role-per-tenant) or `id` is listed.
fn deny_sessions(deployed: &Deployed, id: &str) -> Result<Option<[Step; 2]>> {
    let strategy = deployed
        .parameters
        .get("IsolationStrategy")
        .map_or("role-per-tenant", String::as_str);
    if strategy == "role-per-tenant" {
        return Ok(None);
    }
    let mut listed: Vec<&str> = deployed
        .parameters
        .get("OffboardedTenants")
        .map(|list| list.split(',').filter(|t| !t.is_empty()).collect())
        .unwrap_or_default();
    if listed.contains(&id) {
        return Ok(None);
    }
    listed.push(id);
    // Each id is in the deny twice: `"<id>",` and `"*:<id>@*",`.
    let policy_chars: usize = listed.iter().map(|t| 2 * t.len() + 10).sum();
    let value = listed.join(",");
    if policy_chars > DENY_LIST_BUDGET || value.len() > PARAMETER_VALUE_MAX {
        return Err(format!(
            "OffboardedTenants would hold {} ids, more than the deny policy can: remove the ids \
             offboarded more than {} ago (every credential issued before their offboarding has \
             expired; see docs/tenant-lifecycle.md) with `aws cloudformation update-stack`, then run again",
            listed.len(),
            DENY_WINDOW
        ));
    }
    let mut parameters: Vec<Value> = deployed
        .parameters
        .keys()
        .filter(|key| *key != "OffboardedTenants")
        .map(|key| json!({"ParameterKey": key, "UsePreviousValue": true}))
        .collect();
    parameters.push(json!({"ParameterKey": "OffboardedTenants", "ParameterValue": value}));
    let update = Step::new([
        "aws",
        "cloudformation",
        "update-stack",
        "--stack-name",
        &deployed.name,
        "--use-previous-template",
        "--capabilities",
        "CAPABILITY_IAM",
        "CAPABILITY_NAMED_IAM",
        "CAPABILITY_AUTO_EXPAND",
        "--parameters",
        &Value::Array(parameters).to_string(),
    ])
    .region(&deployed.region);
    let wait = Step::new([
        "aws",
        "cloudformation",
        "wait",
        "stack-update-complete",
        "--stack-name",
        &deployed.name,
    ])
    .region(&deployed.region);
    Ok(Some([update, wait]))
}

/// How long after its offboarding an id must stay in `OffboardedTenants`:
/// the longest life of a credential issued just before it (a role
/// session or identity-pool credentials: 1 h; an ID token exchanged at the
/// pool at the end of its own 1 h life: 1 h more).
pub const DENY_WINDOW: &str = "2 hours";

/// The command that applies the schema inside the deployed stack's VPC.
pub fn plan_migrate(deployed: &Deployed) -> Result<Step> {
    invoke(deployed, &migrate_event())
}

/// `aws lambda invoke` of the stack's db-admin with `event`, its answer to
/// stdout; the CLI waits longer than db-admin's own time-out (120 s), so a
/// slow run is not sent again by the CLI's retries.
fn invoke(deployed: &Deployed, event: &Value) -> Result<Step> {
    Ok(Step::new([
        "aws",
        "lambda",
        "invoke",
        "--function-name",
        deployed.output("DbAdminFunctionName")?,
        "--cli-binary-format",
        "raw-in-base64-out",
        "--cli-read-timeout",
        "150",
        "--payload",
        &event.to_string(),
        "/dev/stdout",
    ])
    .region(&deployed.region))
}

/// Run `plan` in order, stopping at the first failure (every step is
/// idempotent: run the command again), or with `dry_run` print it.
pub fn run_plan(root: &std::path::Path, plan: &[Step], dry_run: bool) -> Result<()> {
    let mut captured: BTreeMap<&'static str, Option<String>> = BTreeMap::new();
    for step in plan {
        let mut argv = step.argv.clone();
        let mut skipped = None;
        for arg in &mut argv {
            for (name, value) in &captured {
                let placeholder = format!("{{{name}}}");
                if arg.contains(&placeholder) {
                    match (value, dry_run) {
                        (Some(value), _) => *arg = arg.replace(&placeholder, value),
                        (None, true) => *arg = arg.replace(&placeholder, &format!("<{name}>")),
                        (None, false) => skipped = Some(*name),
                    }
                }
            }
        }
        let step = &Step {
            argv,
            ..step.clone()
        };
        let line = step
            .argv
            .iter()
            .map(|a| {
                if a.contains([' ', '{', '"']) {
                    format!("'{a}'")
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        if dry_run {
            println!("{line}");
            if let Some(name) = step.capture {
                captured.insert(name, None);
            }
            continue;
        }
        if let Some(name) = skipped {
            progress!("{line}: skipped, the step before found no {name} (already gone)");
            continue;
        }
        progress!("{line}");
        let out = match run(Command::new(&step.argv[0])
            .args(&step.argv[1..])
            .current_dir(root)
            .stdin(Stdio::null()))
        {
            Ok(out) => out,
            Err(e) if step.done_if.iter().any(|code| e.contains(code)) => {
                progress!("already done");
                if let Some(name) = step.capture {
                    captured.insert(name, None);
                }
                continue;
            }
            Err(e) => {
                return Err(format!(
                    "{e}\nevery step is idempotent: run the command again"
                ));
            }
        };
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(name) = step.capture {
            captured.insert(name, Some(text.trim().to_owned()));
        }
        if let Some(expected) = &step.expect
            && text.trim() != expected
        {
            return Err(format!(
                "{line}\nprinted `{}`, not `{expected}`: the user belongs to another tenant",
                text.trim()
            ));
        }
        // `aws lambda invoke` succeeds even when the function failed.
        if text.contains("\"FunctionError\"") || text.contains("\"errorMessage\"") {
            return Err(format!("{line}\nfailed:\n{text}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployed() -> Deployed {
        let description = json!({"Stacks": [{
            "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/app/abc",
            "Outputs": [
                {"OutputKey": "ExecutionRoleArns", "OutputValue": "arn:aws:iam::1:role/a,arn:aws:iam::1:role/b,arn:aws:iam::1:role/c,arn:aws:iam::1:role/d"},
                {"OutputKey": "SearchDomainName", "OutputValue": "tenant-docs"},
                {"OutputKey": "BucketName", "OutputValue": "bucket"},
                {"OutputKey": "TableName", "OutputValue": "table"},
                {"OutputKey": "DbResourceIdForTenants", "OutputValue": "prx-abc"},
                {"OutputKey": "TenantBoundaryArn", "OutputValue": "arn:aws:iam::123456789012:policy/app-TenantBoundary-X"},
                {"OutputKey": "DbAdminFunctionName", "OutputValue": "app-DbAdminFunction-X"},
                {"OutputKey": "UserPoolId", "OutputValue": "us-east-1_P"},
                {"OutputKey": "TenantRegistryName", "OutputValue": "registry"}
            ],
            "Parameters": [
                {"ParameterKey": "IsolationStrategy", "ParameterValue": "role-per-tenant"},
                {"ParameterKey": "TenantRolePrefix", "ParameterValue": "assumeRole-"}
            ]
        }]});
        Deployed::from_description("app", &description.to_string()).unwrap()
    }

    /// The template's outputs and tenant-template.yaml's parameters, as
    /// written (the plans name nothing else).
    fn template(name: &str) -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(name),
        )
        .unwrap()
    }

    fn section_keys(text: &str, section: &str) -> Vec<String> {
        let start = text.find(&format!("\n{section}:\n")).unwrap() + section.len() + 3;
        text[start..]
            .lines()
            .take_while(|l| l.is_empty() || l.starts_with(' '))
            .filter_map(|l| l.strip_prefix("  "))
            .filter(|l| !l.starts_with(' ') && !l.starts_with('#'))
            .filter_map(|l| l.strip_suffix(':'))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_aws_plan_names_only_what_the_templates_declare() {
        let outputs = section_keys(&template("template.yaml"), "Outputs");
        for key in deployed().outputs.keys() {
            assert!(outputs.contains(key), "template.yaml has no output {key}");
        }
        let parameters = section_keys(&template("tenant-template.yaml"), "Parameters");
        let plan = plan_add(&deployed(), "acme", Some("ops@acme.example"), None, 5000).unwrap();
        let deploy = &plan[1].argv;
        assert_eq!(&deploy[..2], ["sam", "deploy"]);
        assert!(deploy.contains(&"app-tenant-acme".to_owned()));
        assert!(
            deploy.contains(&"--no-confirm-changeset".to_owned()),
            "no prompt to hang on"
        );
        let start = deploy
            .iter()
            .position(|a| a == "--parameter-overrides")
            .unwrap()
            + 1;
        let pairs: Vec<&String> = deploy[start..]
            .iter()
            .take_while(|a| a.contains('='))
            .collect();
        assert!(pairs.len() >= 6, "{pairs:?}");
        for pair in pairs {
            let (key, _) = pair.split_once('=').unwrap();
            assert!(
                parameters.contains(&key.to_owned()),
                "tenant-template.yaml has no {key}"
            );
        }
        for step in &plan {
            let region = step
                .argv
                .iter()
                .position(|a| a == "--region")
                .map(|i| step.argv[i + 1].as_str());
            assert_eq!(region, Some("eu-west-1"), "{:?}", step.argv);
        }
        // db-admin's event, as db-admin parses it: first, so a reused id is
        // refused before any role or key is made for it.
        let invoke = &plan[0].argv;
        assert_eq!(&invoke[..3], ["aws", "lambda", "invoke"]);
        let payload = &invoke[invoke.iter().position(|a| a == "--payload").unwrap() + 1];
        let event: Value = serde_json::from_str(payload).unwrap();
        assert_eq!(event, onboard_event(&["acme".to_owned()], 5000));
        // Active in the registry once its role and key exist, and never an
        // offboarded id again.
        assert_eq!(plan[2].argv[..3], ["aws", "dynamodb", "put-item"]);
        assert!(plan[2].argv.contains(&"registry".to_owned()));
        let item: Value = serde_json::from_str(&plan[2].argv[6]).unwrap();
        assert_eq!(
            (&item["tenant_id"]["S"], &item["state"]["S"]),
            (&json!("acme"), &json!("active"))
        );
        assert!(plan[2].argv.iter().any(|a| a.contains("#s <> :offboarded")));
        assert!(
            plan[3]
                .argv
                .contains(&"Name=custom:tenant_id,Value=acme".to_owned())
        );
        assert_eq!(plan[3].done_if, ["UsernameExistsException"], "re-runnable");
        // No invitation, and the email the walkthrough's sign-in needs
        // (README step 5 only sets the password).
        let create = plan[3].argv.join(" ");
        assert!(create.contains("--message-action SUPPRESS"), "{create}");
        assert!(
            create.contains("Name=email,Value=ops@acme.example"),
            "{create}"
        );
        assert_eq!(plan[4].argv[2], "admin-get-user");
        assert_eq!(
            plan[4].expect.as_deref(),
            Some("acme"),
            "an existing user must be this tenant's"
        );

        let removal = plan_remove(&deployed(), "acme", true, 7).unwrap();
        // The registry first: the quickest refusal there is.
        let item: Value = serde_json::from_str(&removal[0].argv[6]).unwrap();
        assert_eq!(item["state"]["S"], "offboarded");
        assert!(
            !removal.iter().any(|s| s.argv[2] == "update-stack"),
            "role-per-tenant: the role itself goes"
        );
        assert_eq!(
            removal[1].argv[..5],
            ["cargo", "xtask", "tenant", "disable-users", "acme"],
            "its users, found by its group"
        );
        assert!(
            removal[2]
                .argv
                .iter()
                .any(|a| a.contains("\"offboard\"") && a.contains("\"purge\":true"))
        );
        let kms: Vec<&Step> = removal.iter().filter(|s| s.argv[1] == "kms").collect();
        assert_eq!(
            kms.iter().map(|s| s.argv[2].as_str()).collect::<Vec<_>>(),
            ["describe-key", "disable-key", "schedule-key-deletion"],
            "resolved, disabled at once, then scheduled"
        );
        assert_eq!(kms[0].capture, Some("key_id"));
        assert!(
            kms[2]
                .argv
                .windows(2)
                .any(|w| w == ["--pending-window-in-days", "7"])
        );
        assert_eq!(
            kms[2].done_if,
            ["KMSInvalidStateException"],
            "only already pending counts as done"
        );
        let removal: Vec<Step> = removal.into_iter().filter(|s| s.argv[1] != "kms").collect();
        assert_eq!(
            removal[3].argv[..5],
            [
                "aws",
                "cloudformation",
                "delete-stack",
                "--stack-name",
                "app-tenant-acme"
            ]
        );
        assert_eq!(removal[4].argv[3], "stack-delete-complete");
        assert_eq!(
            removal[5].argv[..5],
            ["cargo", "xtask", "tenant", "purge", "acme"],
            "every version and item, not only delete markers"
        );
        assert_eq!(
            plan_remove(&deployed(), "acme", false, 30).unwrap().len(),
            8,
            "objects kept"
        );
    }

    /// The identifier forms AWS documents for each KMS API the plans call:
    /// which take an alias (`alias/...`), and which take only a key id or
    /// key ARN (an alias there is refused, and the refusal was once taken
    /// for "already done").
    const KMS_KEY_ID_FORMS: [(&str, bool); 6] = [
        ("describe-key", true),
        ("disable-key", false),
        ("enable-key", false),
        ("schedule-key-deletion", false),
        ("cancel-key-deletion", false),
        ("tag-resource", false),
    ];

    #[test]
    fn every_kms_call_of_the_plans_names_its_key_in_a_form_the_api_takes() {
        let plans = [
            plan_add(&deployed(), "acme", Some("ops@acme.example"), None, 5000).unwrap(),
            plan_remove(&deployed(), "acme", true, 30).unwrap(),
        ];
        let mut seen = 0;
        for step in plans.iter().flatten().filter(|s| s.argv[1] == "kms") {
            let api = step.argv[2].as_str();
            let alias_ok = KMS_KEY_ID_FORMS
                .iter()
                .find(|(name, _)| *name == api)
                .unwrap_or_else(|| panic!("aws kms {api}: add its identifier forms to the table"))
                .1;
            let key = step
                .argv
                .windows(2)
                .find(|w| w[0] == "--key-id")
                .map(|w| w[1].as_str())
                .unwrap_or_else(|| panic!("aws kms {api} names no --key-id"));
            assert!(
                alias_ok || !key.starts_with("alias/") && !key.contains(":alias/"),
                "aws kms {api} takes a key id or ARN, not {key}"
            );
            seen += 1;
        }
        assert!(seen >= 3, "the removal plan's KMS calls were checked");
    }

    /// A plan's failures, injected with stand-in commands: a step that
    /// failed because its work is done goes on, any other failure stops
    /// the plan, a check that prints something else stops it, and so does
    /// a Lambda invocation that succeeded while the function failed.
    #[test]
    fn a_plan_stops_at_a_real_failure_and_goes_past_work_already_done() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let sh = |script: &str| Step {
            argv: ["sh", "-c", script].map(str::to_owned).to_vec(),
            done_if: &[],
            expect: None,
            capture: None,
        };
        // What a step prints reaches the steps after it (a key id resolved
        // from its alias); a step whose target is gone skips them.
        let resolve = sh("echo k-123").capture("key_id");
        assert_eq!(
            run_plan(root, &[resolve, sh("test '{key_id}' = k-123")], false),
            Ok(())
        );
        let gone = sh("echo 'An error occurred (NotFoundException)' >&2; exit 254")
            .capture("key_id")
            .done_if(&["NotFoundException"]);
        assert_eq!(
            run_plan(root, &[gone, sh("echo '{key_id}'; exit 1")], false),
            Ok(()),
            "nothing left to act on"
        );
        let exists = sh("echo 'An error occurred (UsernameExistsException)' >&2; exit 254")
            .done_if(&["UsernameExistsException"]);
        assert_eq!(run_plan(root, &[exists.clone(), sh("true")], false), Ok(()));

        let failed = run_plan(
            root,
            &[sh("echo AccessDenied >&2; exit 1"), sh("true")],
            false,
        );
        assert!(failed.unwrap_err().contains("run the command again"));
        let other_tenant = run_plan(root, &[sh("echo other").expect("acme")], false);
        assert!(other_tenant.unwrap_err().contains("another tenant"));
        assert_eq!(
            run_plan(root, &[sh("echo acme").expect("acme")], false),
            Ok(())
        );
        let function_error = sh(r#"echo '{"StatusCode": 200, "FunctionError": "Unhandled"}'"#);
        assert!(run_plan(root, &[function_error], false).is_err());
        // A dry run runs nothing.
        assert_eq!(run_plan(root, &[sh("exit 1")], true), Ok(()));
    }

    /// Under the shared strategies the roles tenants share deny the
    /// offboarded tenant's sessions: the stack is updated with the id added
    /// to OffboardedTenants and every other parameter kept as deployed;
    /// an id already listed needs no update, and a list past what the
    /// deny policy can hold is refused with what to do.
    #[test]
    fn the_shared_strategies_deny_the_offboarded_tenant_in_iam() {
        let mut shared = deployed();
        shared
            .parameters
            .insert("IsolationStrategy".into(), "session-policy".into());
        shared
            .parameters
            .insert("OffboardedTenants".into(), "old1,old2".into());
        let removal = plan_remove(&shared, "acme", false, 30).unwrap();
        assert_eq!(removal[0].argv[..3], ["aws", "dynamodb", "put-item"]);
        let update = &removal[1].argv;
        assert_eq!(update[2], "update-stack");
        assert!(update.contains(&"--use-previous-template".to_owned()));
        let at = update.iter().position(|a| a == "--parameters").unwrap() + 1;
        let parameters: Value = serde_json::from_str(&update[at]).unwrap();
        let parameters = parameters.as_array().unwrap();
        assert!(parameters.contains(
            &json!({"ParameterKey": "OffboardedTenants", "ParameterValue": "old1,old2,acme"})
        ));
        for kept in ["IsolationStrategy", "TenantRolePrefix"] {
            assert!(
                parameters.contains(&json!({"ParameterKey": kept, "UsePreviousValue": true})),
                "{kept} kept as deployed"
            );
        }
        assert_eq!(removal[2].argv[3], "stack-update-complete");
        // The deny is in place before anything else is undone.
        assert_eq!(removal[3].argv[3], "disable-users");
        assert!(removal[4].argv.iter().any(|a| a.contains("\"offboard\"")));

        shared
            .parameters
            .insert("OffboardedTenants".into(), "old1,acme".into());
        let again = plan_remove(&shared, "acme", false, 30).unwrap();
        assert!(!again.iter().any(|s| s.argv[2] == "update-stack"));

        let full: Vec<String> = (0..300).map(|n| format!("tenant-{n:05}")).collect();
        shared
            .parameters
            .insert("OffboardedTenants".into(), full.join(","));
        let err = plan_remove(&shared, "acme", false, 30).unwrap_err();
        assert!(err.contains(DENY_WINDOW), "{err}");
    }

    #[test]
    fn the_shared_strategies_deploy_only_the_key_and_a_missing_output_is_named() {
        let mut shared = deployed();
        shared
            .parameters
            .insert("IsolationStrategy".into(), "session-tags".into());
        let plan = plan_add(&shared, "acme", None, None, 5000).unwrap();
        assert!(plan[1].argv.contains(&"CreateRole=false".to_owned()));
        assert_eq!(plan.len(), 3, "no user asked for");
        let mut old = deployed();
        old.outputs.remove("DbAdminFunctionName");
        let err = plan_add(&old, "acme", None, None, 5000).unwrap_err();
        assert!(err.contains("DbAdminFunctionName"), "{err}");
    }

    /// A stack whose `DedicatedTier` is premium: a premium tenant gets its
    /// own role (and its item names its tier), a basic one only its key,
    /// and a tier named on a stack without one changes only the item.
    #[test]
    fn the_dedicated_tier_gets_its_own_role_beside_the_shared_one() {
        let mut shared = deployed();
        shared
            .parameters
            .insert("IsolationStrategy".into(), "session-tags".into());
        shared
            .parameters
            .insert("DedicatedTier".into(), "premium".into());
        let item = |plan: &[Step]| -> Value {
            let put = plan
                .iter()
                .find(|s| s.argv.get(2).is_some_and(|a| a == "put-item"))
                .expect("a registry put");
            let at = put.argv.iter().position(|a| a == "--item").unwrap();
            serde_json::from_str(&put.argv[at + 1]).unwrap()
        };
        let premium = plan_add(&shared, "acme", None, Some("premium"), 5000).unwrap();
        assert!(premium[1].argv.contains(&"CreateRole=true".to_owned()));
        assert_eq!(item(&premium)["tier"]["S"], "premium");
        let basic = plan_add(&shared, "acme", None, Some("basic"), 5000).unwrap();
        assert!(basic[1].argv.contains(&"CreateRole=false".to_owned()));
        assert_eq!(item(&basic)["tier"]["S"], "basic");
        let untiered = plan_add(&shared, "acme", None, None, 5000).unwrap();
        assert!(untiered[1].argv.contains(&"CreateRole=false".to_owned()));
        assert!(item(&untiered).get("tier").is_none());
        shared.parameters.remove("DedicatedTier");
        let nowhere = plan_add(&shared, "acme", None, Some("premium"), 5000).unwrap();
        assert!(nowhere[1].argv.contains(&"CreateRole=false".to_owned()));
    }

    /// With the REST API (tenant isolation mode), the tenant's API key goes
    /// into its tier's usage plan; without it, no key at all.
    #[test]
    fn the_tenant_s_api_key_goes_into_its_tier_s_usage_plan() {
        let mut rest = deployed();
        for (name, value) in [
            ("TenantUsagePlanId", "plan-basic"),
            ("PremiumUsagePlanId", "plan-premium"),
            ("UsageKeyPrefix", "app-tenant-usage-key-"),
        ] {
            rest.outputs.insert(name.into(), value.into());
        }
        let deploy = |plan: &[Step]| -> Vec<String> {
            plan.iter()
                .find(|s| s.argv[..2] == ["sam", "deploy"])
                .expect("the tenant stack's deploy")
                .argv
                .clone()
        };
        let has = |plan: &[Step], arg: &str| deploy(plan).iter().any(|a| a == arg);
        let premium = plan_add(&rest, "acme", None, Some(PREMIUM_TIER), 5000).unwrap();
        assert!(has(&premium, "UsagePlanId=plan-premium"));
        assert!(has(&premium, "UsageKeyPrefix=app-tenant-usage-key-"));
        // Before the deploy, the key leaves the other plan: a key is in one
        // plan of a stage at a time.
        let leave = premium
            .iter()
            .position(|s| s.argv[..3] == ["aws", "apigateway", "delete-usage-plan-key"])
            .expect("the key leaves the other plan");
        let find = premium
            .iter()
            .position(|s| s.capture == Some("api_key_id"))
            .expect("the key's id, found by its exact name");
        let at = premium
            .iter()
            .position(|s| s.argv[..2] == ["sam", "deploy"])
            .unwrap();
        assert!(find < leave && leave < at);
        assert!(
            premium[find]
                .argv
                .iter()
                .any(|a| a == "items[?name=='app-tenant-usage-key-acme'].id | [0]")
        );
        assert!(
            premium[leave]
                .argv
                .windows(2)
                .any(|w| w == ["--usage-plan-id", "plan-basic"])
        );
        let basic = plan_add(&rest, "acme", None, Some("basic"), 5000).unwrap();
        assert!(has(&basic, "UsagePlanId=plan-basic"));
        // A re-run must name the tier, or it would move a premium tenant.
        let err = plan_add(&rest, "acme", None, None, 5000).unwrap_err();
        assert!(err.contains("--tier"), "{err}");
        // A stack's dedicated tier is the premium plan's, whatever its name.
        rest.parameters
            .insert("IsolationStrategy".into(), "session-tags".into());
        rest.parameters
            .insert("DedicatedTier".into(), "gold".into());
        let gold = plan_add(&rest, "acme", None, Some("gold"), 5000).unwrap();
        assert!(has(&gold, "UsagePlanId=plan-premium"));
        assert!(has(&gold, "CreateRole=true"));
        let named_premium = plan_add(&rest, "acme", None, Some(PREMIUM_TIER), 5000).unwrap();
        assert!(has(&named_premium, "UsagePlanId=plan-basic"));
        let http = plan_add(&deployed(), "acme", None, Some(PREMIUM_TIER), 5000).unwrap();
        assert!(!deploy(&http).iter().any(|a| a.starts_with("UsagePlanId=")));
        assert!(
            !http
                .iter()
                .any(|s| s.argv.get(1).is_some_and(|a| a == "apigateway"))
        );
    }
}
