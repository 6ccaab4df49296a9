//! `cargo xtask deploy [--config-env ENV] [--dry-run] [Name=Value]...`: the
//! documented deploy (`sam build`, then `sam deploy` with the profile),
//! after checking what it needs from the machine, the account and the
//! network, with the AWS CLI. Each failed check is printed with its fix,
//! and nothing is deployed until every one passes. `--dry-run` prints the
//! checks and the deploy commands and runs none of them.
//!
//! The parameters checked are those `sam deploy` will use: the command
//! line's `Name=Value` pairs when there are any (SAM replaces the profile's
//! `parameter_overrides` with them, it does not merge), else the profile's;
//! the template's defaults fill the rest.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::process::{Result, run_visible};

/// The template defaults the checks read (`template.yaml`; a unit test
/// holds them to it).
const DEFAULTS: &[(&str, &str)] = &[
    ("ReservedConcurrency", "0"),
    ("CreateCluster", "false"),
    ("CreateStsEndpoint", "true"),
    ("CreateSecretsManagerEndpoint", "true"),
    ("DbPort", "5432"),
];

/// Concurrency Lambda keeps unreserved for the account's other functions:
/// a reservation may take the account's concurrency down to this, no lower
/// (AWS Lambda Developer Guide, "Configuring reserved concurrency").
const UNRESERVED_FLOOR: u64 = 100;

/// The programs the deploy runs; tests give stand-ins.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The AWS CLI.
    pub aws: String,
    /// The SAM CLI.
    pub sam: String,
    /// cargo (for `cargo lambda`).
    pub cargo: String,
}

impl Tools {
    /// The programs on PATH.
    pub fn on_path() -> Self {
        Tools {
            aws: "aws".into(),
            sam: "sam".into(),
            cargo: std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
        }
    }
}

/// How a check's output is judged, with what earlier checks captured:
/// `Err` is the fix to print.
type Judge = Box<dyn Fn(&str, &Captured) -> std::result::Result<(), String>>;

/// What checks captured, by name.
type Captured = BTreeMap<&'static str, String>;

/// One precondition: what it checks, the command that asks, and how its
/// output is judged (`Err` is the fix to print). A `{name}` in the command
/// is what an earlier check captured as `name`.
pub struct Check {
    pub what: String,
    pub argv: Vec<String>,
    capture: Option<&'static str>,
    /// An error output with this text is an empty answer, not a failure
    /// (a stack not deployed yet).
    absent_if: Option<&'static str>,
    judge: Judge,
}

impl Check {
    fn new(
        what: impl Into<String>,
        argv: &[&str],
        judge: impl Fn(&str) -> std::result::Result<(), String> + 'static,
    ) -> Self {
        Self::with_captures(what, argv, move |out, _| judge(out))
    }

    fn with_captures(
        what: impl Into<String>,
        argv: &[&str],
        judge: impl Fn(&str, &Captured) -> std::result::Result<(), String> + 'static,
    ) -> Self {
        Check {
            what: what.into(),
            argv: argv.iter().map(|a| (*a).to_owned()).collect(),
            capture: None,
            absent_if: None,
            judge: Box::new(judge),
        }
    }

    fn absent_if(mut self, text: &'static str) -> Self {
        self.absent_if = Some(text);
        self
    }

    fn capture(mut self, name: &'static str) -> Self {
        self.capture = Some(name);
        self
    }
}

/// The parameters `sam deploy --config-env <config_env>` will be given:
/// `overrides` when there are any, else the profile's, over the template's
/// defaults.
pub fn parameters(
    samconfig: &str,
    config_env: &str,
    overrides: &[(String, String)],
) -> Result<BTreeMap<String, String>> {
    let mut params: BTreeMap<String, String> = DEFAULTS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let chosen: Vec<(String, String)> = if overrides.is_empty() {
        profile_overrides(samconfig, config_env)?
    } else {
        overrides.to_vec()
    };
    params.extend(chosen);
    Ok(params)
}

/// Where a samconfig.toml profile deploys: `[<env>.global.parameters]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// `stack_name`.
    pub stack_name: String,
    /// `region`: every check asks this region, as `sam deploy` deploys there.
    pub region: String,
}

impl Profile {
    /// The profile `config_env` of `samconfig`.
    pub fn read(samconfig: &str, config_env: &str) -> Result<Self> {
        let section = format!("[{config_env}.global.parameters]");
        let body = section_lines(samconfig, &section)?;
        let value = |key: &str| {
            body.iter()
                .find_map(|l| l.trim().strip_prefix(&format!("{key} = ")))
                .map(|v| v.trim_matches('"').to_owned())
                .ok_or(format!("samconfig.toml's {section} has no {key}"))
        };
        Ok(Profile {
            stack_name: value("stack_name")?,
            region: value("region")?,
        })
    }
}

/// The `parameter_overrides` of `[<env>.deploy.parameters]` in
/// samconfig.toml, as pairs.
fn profile_overrides(samconfig: &str, config_env: &str) -> Result<Vec<(String, String)>> {
    let value = section_lines(samconfig, &format!("[{config_env}.deploy.parameters]"))?
        .into_iter()
        .find_map(|l| l.trim().strip_prefix("parameter_overrides = "))
        .unwrap_or("\"\"");
    Ok(pairs(value.trim_matches('"').split_whitespace()))
}

/// The lines of `section` (`[name]`) in samconfig.toml.
fn section_lines<'a>(samconfig: &'a str, section: &str) -> Result<Vec<&'a str>> {
    let mut lines = samconfig.lines().skip_while(|l| l.trim() != section);
    if lines.next().is_none() {
        return Err(format!(
            "samconfig.toml has no {section}: --config-env names its profiles (default, prod)"
        ));
    }
    Ok(lines
        .take_while(|l| !l.trim_start().starts_with('['))
        .collect())
}

/// `Name=Value` words as pairs (a word without `=` is left out).
fn pairs<'a>(words: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    words
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The command line's `Name=Value` parameter overrides, or what is wrong
/// with one.
pub fn overrides(words: &[String]) -> Result<Vec<(String, String)>> {
    for word in words {
        match word.split_once('=') {
            Some((name, _))
                if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric()) => {}
            _ => {
                return Err(format!(
                    "`{word}` is not a template parameter override: give Name=Value (e.g. VpcId=vpc-0abc)"
                ));
            }
        }
    }
    Ok(pairs(words.iter().map(String::as_str)))
}

/// `major.minor.patch` of the first such word in `text`.
fn version(text: &str) -> Option<(u64, u64, u64)> {
    text.split(|c: char| c.is_whitespace() || c == '/' || c == ',')
        .find_map(|word| {
            let mut parts = word.trim_start_matches('v').split('.');
            let major = parts.next()?.parse().ok()?;
            let minor = parts.next()?.parse().ok()?;
            let patch = parts
                .next()?
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .ok()?;
            Some((major, minor, patch))
        })
}

/// The checks for `params`, in the order they run.
pub fn checks(
    params: &BTreeMap<String, String>,
    profile: &Profile,
    tools: &Tools,
    pins: &Pins,
) -> Vec<Check> {
    let param = |name: &str| params.get(name).cloned().unwrap_or_default();
    let is_true = |name: &str| param(name) == "true";
    // A CommaDelimitedList parameter's items.
    let list = |name: &str| -> Vec<String> {
        param(name)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut checks = Vec::new();

    let sam_pin = pins.sam.clone();
    checks.push(Check::new(
        format!("the SAM CLI is {sam_pin} or later"),
        &[&tools.sam, "--version"],
        move |out| {
            let pinned = version(&sam_pin).unwrap_or_default();
            match version(out) {
                Some(v) if v >= pinned => Ok(()),
                _ => Err(format!(
                    "install it: pipx install aws-sam-cli=={sam_pin} (it builds the Rust functions with cargo-lambda; older ones cannot); it said: {}",
                    out.trim()
                )),
            }
        },
    ));
    checks.push(Check::new(
        "the AWS CLI is version 2",
        &[&tools.aws, "--version"],
        |out| {
            if out.trim_start().starts_with("aws-cli/2.") {
                Ok(())
            } else {
                Err(format!(
                    "install AWS CLI v2 (https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html); it said: {}",
                    out.trim()
                ))
            }
        },
    ));
    let lambda_pin = pins.cargo_lambda.clone();
    checks.push(Check::new(
        "cargo-lambda is installed",
        &[&tools.cargo, "lambda", "--version"],
        move |out| {
            if out.contains("cargo-lambda") || out.contains("cargo lambda") {
                Ok(())
            } else {
                Err(format!(
                    "install it: pipx install cargo-lambda=={lambda_pin}"
                ))
            }
        },
    ));
    checks.push(Check::new(
        "the AWS CLI has credentials for an account",
        &[
            &tools.aws,
            "sts",
            "get-caller-identity",
            "--query",
            "Account",
            "--output",
            "text",
        ],
        |out| {
            let account = out.trim();
            if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) {
                Ok(())
            } else {
                Err(
                    "configure credentials for the target account (aws configure, or AWS_PROFILE)"
                        .into(),
                )
            }
        },
    ));

    let reserved: u64 = param("ReservedConcurrency").parse().unwrap_or(0);
    if reserved > 0 {
        // What the stack reserves now, if it is deployed: a redeploy frees
        // it before it reserves again.
        let query = "Stacks[0].Parameters[?ParameterKey=='ReservedConcurrency'].ParameterValue";
        checks.push(
            Check::new(
                format!(
                    "what stack {} reserves now, if it is deployed",
                    profile.stack_name
                ),
                &[
                    &tools.aws,
                    "cloudformation",
                    "describe-stacks",
                    "--stack-name",
                    &profile.stack_name,
                    "--query",
                    query,
                    "--output",
                    "text",
                ],
                |_| Ok(()),
            )
            .absent_if("does not exist")
            .capture("reserved_now"),
        );
        // N for each of the four functions, 1 for db-admin.
        let needed = 4 * reserved + 1;
        checks.push(Check::with_captures(
            format!("the account's Lambda concurrency fits ReservedConcurrency={reserved} ({needed} reserved, {UNRESERVED_FLOOR} left unreserved)"),
            &[
                &tools.aws,
                "lambda",
                "get-account-settings",
                "--query",
                "[AccountLimit.ConcurrentExecutions, AccountLimit.UnreservedConcurrentExecutions]",
                "--output",
                "text",
            ],
            move |out, captured| {
                let numbers: Vec<u64> = out.split_whitespace().filter_map(|n| n.parse().ok()).collect();
                let [quota, unreserved] = numbers[..] else {
                    return Err(format!("could not read the account's concurrency: {}", out.trim()));
                };
                let held = captured
                    .get("reserved_now")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .filter(|n| *n > 0)
                    .map_or(0, |n| 4 * n + 1);
                let increase = format!(
                    "aws service-quotas request-service-quota-increase --service-code lambda --quota-code L-B99A9384 --desired-value {}",
                    needed + UNRESERVED_FLOOR
                );
                if needed + UNRESERVED_FLOOR > quota {
                    Err(format!(
                        "the quota is {quota}, and Lambda keeps {UNRESERVED_FLOOR} of it unreserved, so {needed} cannot be reserved: deploy with ReservedConcurrency=0 (the default), or ask for a quota of at least {} ({increase})",
                        needed + UNRESERVED_FLOOR
                    ))
                } else if needed + UNRESERVED_FLOOR > unreserved + held {
                    Err(format!(
                        "other functions of the account reserve concurrency: {unreserved} is unreserved (with this stack's own {held}), and {needed} more would leave less than {UNRESERVED_FLOOR}: lower ReservedConcurrency, free other reservations, or ask for more ({increase})"
                    ))
                } else {
                    Ok(())
                }
            },
        ));
    }

    let vpc = param("VpcId");
    let endpoints = is_true("CreateStsEndpoint") || is_true("CreateSecretsManagerEndpoint");
    if !vpc.is_empty() && endpoints {
        for (attribute, query, flag) in [
            (
                "enableDnsSupport",
                "EnableDnsSupport.Value",
                "--enable-dns-support",
            ),
            (
                "enableDnsHostnames",
                "EnableDnsHostnames.Value",
                "--enable-dns-hostnames",
            ),
        ] {
            let fix = format!(
                "the interface endpoints' private DNS needs it: aws ec2 modify-vpc-attribute --vpc-id {vpc} {flag} '{{\"Value\":true}}'"
            );
            checks.push(Check::new(
                format!("VPC {vpc} has {attribute} on"),
                &[
                    &tools.aws,
                    "ec2",
                    "describe-vpc-attribute",
                    "--vpc-id",
                    &vpc,
                    "--attribute",
                    attribute,
                    "--query",
                    query,
                    "--output",
                    "text",
                ],
                move |out| {
                    if out.trim().eq_ignore_ascii_case("true") {
                        Ok(())
                    } else {
                        Err(fix.clone())
                    }
                },
            ));
        }
    }

    let subnets = list("SubnetIds");
    if !subnets.is_empty() {
        let mut argv = vec![
            tools.aws.as_str(),
            "ec2",
            "describe-subnets",
            "--subnet-ids",
        ];
        argv.extend(subnets.iter().map(String::as_str));
        argv.extend(["--query", "Subnets[].AvailabilityZone", "--output", "text"]);
        let count = subnets.len();
        checks.push(Check::new(
            format!("SubnetIds are {count} subnets in {count} distinct Availability Zones"),
            &argv,
            move |out| {
                let zones: std::collections::BTreeSet<&str> = out.split_whitespace().collect();
                let found = out.split_whitespace().count();
                if found == count && zones.len() == count && count >= 2 {
                    Ok(())
                } else {
                    Err(format!(
                        "give at least two subnets, each in an Availability Zone of its own (interface endpoints take one subnet per zone, and Aurora needs two zones); these are in: {}",
                        out.split_whitespace().collect::<Vec<_>>().join(", ")
                    ))
                }
            },
        ));
    }

    let cluster = param("DbResourceId");
    let function_groups = list("SecurityGroupIds");
    if !is_true("CreateCluster") && !cluster.is_empty() && !function_groups.is_empty() {
        let query = format!(
            "DBClusters[?DbClusterResourceId=='{cluster}'].VpcSecurityGroups[].VpcSecurityGroupId"
        );
        checks.push(
            Check::new(
                format!("cluster {cluster} exists here"),
                &[
                    &tools.aws,
                    "rds",
                    "describe-db-clusters",
                    "--query",
                    &query,
                    "--output",
                    "text",
                ],
                {
                    let cluster = cluster.clone();
                    move |out| {
                        if out.split_whitespace().next().is_some() {
                            Ok(())
                        } else {
                            Err(format!(
                                "no cluster with resource id {cluster} in this account and region: DbResourceId is the cluster's DbClusterResourceId (cluster-...), not its name"
                            ))
                        }
                    }
                },
            )
            .capture("cluster_groups"),
        );
        let port = param("DbPort");
        let rule_query = format!(
            "SecurityGroups[].IpPermissions[?(IpProtocol=='-1') || (FromPort<=`{port}` && ToPort>=`{port}`)][].UserIdGroupPairs[].GroupId"
        );
        let groups = function_groups.join(", ");
        let first = function_groups[0].clone();
        checks.push(Check::new(
            format!("the cluster's security groups admit the functions' ({groups}) on port {port}"),
            &[
                &tools.aws,
                "ec2",
                "describe-security-groups",
                "--group-ids",
                "{cluster_groups}",
                "--query",
                &rule_query,
                "--output",
                "text",
            ],
            move |out| {
                if out
                    .split_whitespace()
                    .any(|g| function_groups.iter().any(|f| f == g))
                {
                    Ok(())
                } else {
                    Err(format!(
                        "aurora-query and db-admin would time out connecting: aws ec2 authorize-security-group-ingress --group-id <the cluster's group> --protocol tcp --port {port} --source-group {first}"
                    ))
                }
            },
        ));
    }
    // Every AWS question is asked of the region the profile deploys to.
    for check in &mut checks {
        if check.argv[0] == tools.aws && check.argv[1] != "--version" {
            check
                .argv
                .extend(["--region".to_owned(), profile.region.clone()]);
        }
    }
    checks
}

/// The tool versions the project pins.
#[derive(Debug, Clone)]
pub struct Pins {
    /// `aws-sam-cli==` in xtask/stack/requirements-templates.txt.
    pub sam: String,
    /// `cargo-lambda==` in xtask/stack/requirements-dev.txt.
    pub cargo_lambda: String,
}

impl Pins {
    /// Read from the requirement files under `root`.
    pub fn read(root: &Path) -> Result<Self> {
        let pin = |file: &str, package: &str| -> Result<String> {
            let text =
                std::fs::read_to_string(root.join(file)).map_err(|e| format!("{file}: {e}"))?;
            text.lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{package}==")))
                .map(str::to_owned)
                .ok_or(format!("{file} pins no {package}"))
        };
        Ok(Pins {
            sam: pin("xtask/stack/requirements-templates.txt", "aws-sam-cli")?,
            cargo_lambda: pin("xtask/stack/requirements-dev.txt", "cargo-lambda")?,
        })
    }
}

/// Run `checks` in order; every failure is printed with its fix, and any
/// failure is the result. A check whose command fails (a program missing,
/// an AWS error) fails with that error.
pub fn run_checks(root: &Path, checks: &[Check]) -> Result<()> {
    let mut captured: Captured = BTreeMap::new();
    let mut failed = Vec::new();
    for check in checks {
        let argv: Vec<String> = check
            .argv
            .iter()
            .flat_map(|arg| {
                match captured
                    .iter()
                    .find(|(name, _)| *arg == format!("{{{name}}}"))
                {
                    // A captured list goes in as one argument per word.
                    Some((_, value)) => value.split_whitespace().map(str::to_owned).collect(),
                    None => vec![arg.clone()],
                }
            })
            .collect();
        if argv.iter().any(|a| a.starts_with('{') && a.ends_with('}')) {
            failed.push(format!("{}: skipped, a check before it failed", check.what));
            continue;
        }
        let outcome = crate::process::output(
            Command::new(&argv[0])
                .args(&argv[1..])
                .current_dir(root)
                .stdin(Stdio::null()),
        )
        .map_err(|e| format!("could not run {}: {e}", argv[0]))
        .and_then(|out| {
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            if out.status.success() {
                Ok(String::from_utf8_lossy(&out.stdout).into_owned())
            } else if check.absent_if.is_some_and(|absent| text.contains(absent)) {
                Ok(String::new())
            } else {
                Err(text.trim().to_owned())
            }
        })
        .and_then(|out| (check.judge)(&out, &captured).map(|()| out));
        match outcome {
            Ok(out) => {
                progress!("ok: {}", check.what);
                if let Some(name) = check.capture {
                    captured.insert(name, out.trim().to_owned());
                }
            }
            Err(fix) => {
                eprintln!("xtask: FAILED: {}\n  {fix}", check.what);
                failed.push(format!("{}: {fix}", check.what));
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} deploy checks failed; nothing was deployed:\n- {}",
            failed.len(),
            checks.len(),
            failed.join("\n- ")
        ))
    }
}

/// The deploy commands: `sam build`, then `sam deploy` with the profile
/// and the command line's overrides.
pub fn commands(
    tools: &Tools,
    config_env: &str,
    overrides: &[(String, String)],
) -> Vec<Vec<String>> {
    let mut deploy = vec![
        tools.sam.clone(),
        "deploy".into(),
        "--config-env".into(),
        config_env.into(),
    ];
    if !overrides.is_empty() {
        deploy.push("--parameter-overrides".into());
        deploy.extend(overrides.iter().map(|(k, v)| format!("{k}={v}")));
    }
    vec![
        vec![
            tools.sam.clone(),
            "build".into(),
            "--config-env".into(),
            config_env.into(),
        ],
        deploy,
    ]
}

/// `cargo xtask deploy`: check, then deploy (or, with `dry_run`, print
/// both and run nothing).
pub fn deploy(
    root: &Path,
    tools: &Tools,
    config_env: &str,
    overrides: &[(String, String)],
    dry_run: bool,
) -> Result<()> {
    let samconfig = std::fs::read_to_string(root.join("samconfig.toml"))
        .map_err(|e| format!("samconfig.toml: {e}"))?;
    let params = parameters(&samconfig, config_env, overrides)?;
    let profile = Profile::read(&samconfig, config_env)?;
    let checks = checks(&params, &profile, tools, &Pins::read(root)?);
    let commands = commands(tools, config_env, overrides);
    if dry_run {
        println!("# checks");
        for check in &checks {
            println!("{}    # {}", check.argv.join(" "), check.what);
        }
        println!("# deploy");
        for command in &commands {
            println!("{}", command.join(" "));
        }
        return Ok(());
    }
    run_checks(root, &checks)?;
    for command in &commands {
        progress!("{}", command.join(" "));
        run_visible(
            Command::new(&command[0])
                .args(&command[1..])
                .current_dir(root),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }

    /// Stand-ins for aws, sam and cargo in `dir`: each answers from the
    /// `answers` (a shell `case` on its arguments) and appends its command
    /// line to `dir/calls`.
    fn tools(dir: &Path, aws_answers: &str) -> Tools {
        let log = dir.join("calls");
        let logged = |name: &str, body: &str| {
            crate::process::stand_in(
                dir,
                name,
                &format!("echo \"{name} $*\" >> '{}'\n{body}", log.display()),
            )
        };
        Tools {
            aws: logged(
                "aws",
                &format!(
                    "case \"$*\" in\n{aws_answers}\n*) echo \"unexpected: $*\" >&2; exit 2;;\nesac\n"
                ),
            ),
            sam: logged(
                "sam",
                "case \"$1\" in --version) echo 'SAM CLI, version 1.170.0';; *) ;; esac\n",
            ),
            cargo: logged("cargo", "echo 'cargo-lambda 1.9.2 (abc 2025-01-01)'\n"),
        }
    }

    /// What a healthy account answers.
    const HEALTHY: &str = r#"--version) echo 'aws-cli/2.22.0 Python/3.12.6 Linux/6.1 exe/x86_64';;
sts\ get-caller-identity*) echo 123456789012;;
cloudformation\ describe-stacks*) echo 'An error occurred (ValidationError): Stack with id tenant-access-dev does not exist' >&2; exit 254;;
lambda\ get-account-settings*) printf '1000\t1000\n';;
ec2\ describe-vpc-attribute*) echo True;;
ec2\ describe-subnets*) printf 'us-east-1a\tus-east-1b\n';;
rds\ describe-db-clusters*) echo sg-cluster;;
ec2\ describe-security-groups\ --group-ids\ sg-cluster*) echo sg-functions;;"#;

    fn overrides(prod: bool) -> Vec<(String, String)> {
        let mut line = "CreateUserPool=true AllowPasswordAuth=true CreateCluster=false LogRetentionDays=14 \
             DbHost=db.example DbResourceId=cluster-ABC DbAdminSecretName=master \
             VpcId=vpc-1 SubnetIds=subnet-a,subnet-b SecurityGroupIds=sg-functions RouteTableIds=rtb-a"
            .to_owned();
        if prod {
            line.push_str(" ReservedConcurrency=100");
        }
        super::overrides(
            &line
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        )
        .unwrap()
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-deploy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn calls(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("calls")).unwrap_or_default()
    }

    #[test]
    fn a_healthy_account_is_checked_then_deployed_with_the_profile() {
        let dir = scratch("healthy");
        let tools = tools(&dir, HEALTHY);
        deploy(root(), &tools, "default", &overrides(true), false).expect("deployed");
        let calls = calls(&dir);
        for expected in [
            "aws lambda get-account-settings",
            "aws ec2 describe-vpc-attribute --vpc-id vpc-1 --attribute enableDnsHostnames",
            "aws ec2 describe-subnets --subnet-ids subnet-a subnet-b",
            "aws ec2 describe-security-groups --group-ids sg-cluster",
            "sam build --config-env default",
            "sam deploy --config-env default --parameter-overrides CreateUserPool=true",
        ] {
            assert!(calls.contains(expected), "{expected} in\n{calls}");
        }
        let build = calls.find("sam build").unwrap();
        assert!(calls.find("aws lambda").unwrap() < build, "checks first");
    }

    /// Each finding of a fresh account or a network the stack cannot use
    /// stops the deploy before anything is built, with its fix.
    #[test]
    fn each_failed_precondition_stops_the_deploy_with_its_fix() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "a new account's quota of 10 and the prod profile's reservation",
                "lambda\\ get-account-settings*) printf '10\\t10\\n';;",
                "L-B99A9384",
            ),
            (
                "other functions holding most of the account's concurrency",
                "lambda\\ get-account-settings*) printf '1000\\t200\\n';;",
                "other functions of the account reserve concurrency",
            ),
            (
                "a VPC without DNS host names",
                "ec2\\ describe-vpc-attribute*enableDnsHostnames*) echo False;;",
                "--enable-dns-hostnames",
            ),
            (
                "two subnets in one zone",
                "ec2\\ describe-subnets*) printf 'us-east-1a\\tus-east-1a\\n';;",
                "Availability Zone of its own",
            ),
            (
                "a cluster whose group does not admit the functions'",
                "ec2\\ describe-security-groups*) echo sg-other;;",
                "authorize-security-group-ingress",
            ),
            (
                "a cluster id that is not there",
                "rds\\ describe-db-clusters*) echo;;",
                "DbClusterResourceId",
            ),
            (
                "AWS CLI version 1",
                "--version) echo 'aws-cli/1.33.0 Python/3.12.6';;",
                "install AWS CLI v2",
            ),
            (
                "no credentials",
                "sts\\ get-caller-identity*) echo 'Unable to locate credentials' >&2; exit 253;;",
                "Unable to locate credentials",
            ),
        ];
        for (i, (what, answer, fix)) in cases.iter().enumerate() {
            let dir = scratch(&format!("fail{i}"));
            // The case's answer first: a shell `case` takes the first match.
            let tools = tools(&dir, &format!("{answer}\n{HEALTHY}"));
            let err = deploy(root(), &tools, "default", &overrides(true), false).expect_err(what);
            assert!(err.contains(fix), "{what}: {err}");
            assert!(err.contains("nothing was deployed"), "{what}: {err}");
            assert!(!calls(&dir).contains("sam build"), "{what}: nothing built");
        }
    }

    /// A redeploy frees the stack's own reservation before reserving
    /// again: what the account reports unreserved excludes it.
    #[test]
    fn a_redeploy_counts_the_reservation_the_stack_holds() {
        let dir = scratch("redeploy");
        let tools = tools(
            &dir,
            &format!(
                "cloudformation\\ describe-stacks*) echo 100;;\nlambda\\ get-account-settings*) printf '1000\\t200\\n';;\n{HEALTHY}"
            ),
        );
        deploy(root(), &tools, "default", &overrides(true), false).expect("deployed");
        let calls = calls(&dir);
        assert!(
            calls.contains("describe-stacks --stack-name tenant-access-dev"),
            "{calls}"
        );
        // Every AWS question goes to the profile's region.
        for line in calls
            .lines()
            .filter(|l| l.starts_with("aws ") && !l.contains("--version"))
        {
            assert!(line.ends_with("--region us-east-1"), "{line}");
        }
    }

    #[test]
    fn a_dry_run_runs_nothing() {
        let dir = scratch("dry");
        let tools = tools(&dir, HEALTHY);
        deploy(root(), &tools, "prod", &[], true).expect("printed");
        assert_eq!(calls(&dir), "", "no program ran");
    }

    /// Without overrides the profile's are checked: prod reserves 100 per
    /// function, and a quota of 300 cannot hold 301 plus the floor.
    #[test]
    fn without_overrides_the_profiles_parameters_are_checked() {
        let samconfig = std::fs::read_to_string(root().join("samconfig.toml")).unwrap();
        let prod = parameters(&samconfig, "prod", &[]).unwrap();
        assert_eq!(prod["ReservedConcurrency"], "100");
        assert_eq!(prod["CreateCluster"], "true");
        let default = parameters(&samconfig, "default", &[]).unwrap();
        assert_eq!(
            default["ReservedConcurrency"], "0",
            "the template's default"
        );
        assert!(parameters(&samconfig, "staging", &[]).is_err());
        let dir = scratch("profile");
        let tools = tools(
            &dir,
            &format!("lambda\\ get-account-settings*) printf '300\\t300\\n';;\n{HEALTHY}"),
        );
        let err = deploy(root(), &tools, "prod", &[], false).unwrap_err();
        assert!(err.contains("at least 501"), "{err}");
    }

    #[test]
    fn the_defaults_are_the_templates() {
        let template = std::fs::read_to_string(root().join("template.yaml")).unwrap();
        for (name, value) in DEFAULTS {
            let at = template
                .find(&format!("\n  {name}:\n"))
                .unwrap_or_else(|| panic!("{name} is a template parameter"));
            let default = template[at..]
                .lines()
                .skip(2)
                .take(4)
                .find_map(|l| l.trim().strip_prefix("Default: "))
                .unwrap_or_else(|| panic!("{name} has a default"));
            assert_eq!(default.trim_matches('"'), *value, "{name}");
        }
    }

    #[test]
    fn overrides_are_name_value_pairs() {
        assert!(super::overrides(&["VpcId".to_owned()]).is_err());
        assert!(super::overrides(&["=x".to_owned()]).is_err());
        assert_eq!(
            super::overrides(&["SubnetIds=a,b".to_owned()]).unwrap(),
            vec![("SubnetIds".to_owned(), "a,b".to_owned())]
        );
        assert_eq!(version("SAM CLI, version 1.170.0"), Some((1, 170, 0)));
        assert_eq!(version("aws-cli/2.22.0 Python/3.12.6"), Some((2, 22, 0)));
    }
}
