//! The command line: parsed whole before anything runs, so `--help` and a
//! mistyped argument have no side effects.

use std::ffi::OsString;

use lexopt::prelude::*;

pub use crate::onboarding::Target;

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Cmd {
    /// Print the command list, or one command's usage.
    Help(Option<&'static Command>),
    Up {
        /// Also seed the fault suite's tenants, as `test` does, so one
        /// system test can run on its own.
        fault_tenants: bool,
    },
    Dev,
    Call(Vec<String>),
    Tenant {
        ids: Vec<String>,
        target: Target,
        /// The Cognito user to create (`--aws`).
        user: Option<String>,
        /// The tenant's tier, written to its registry item (`--aws`,
        /// `--local`); the stack's `DedicatedTier` also gets the tenant its
        /// own role.
        tier: Option<String>,
    },
    TenantRemove {
        ids: Vec<String>,
        target: Target,
        purge: bool,
        /// KMS's pending window for the tenant's key (7 to 30 days).
        key_window_days: u8,
    },
    /// `tenant purge` or `tenant disable-users`: one step of offboarding,
    /// on a deployed stack only.
    TenantOnAws {
        step: AwsTenantStep,
        ids: Vec<String>,
        stack: String,
        dry_run: bool,
    },
    /// `deploy`: check the account, then `sam build` and `sam deploy`.
    Deploy {
        /// The samconfig.toml profile.
        config_env: String,
        /// `Name=Value` parameter overrides (the profile's when none).
        overrides: Vec<String>,
        dry_run: bool,
    },
    /// `db migrate`: apply the schema through db-admin.
    DbMigrate {
        target: Target,
    },
    Test,
    Templates,
    Bench(Vec<String>),
    Fixtures {
        check: bool,
    },
    CaBundle,
    Env {
        /// SAM's `--env-vars` JSON instead of dotenv.
        sam: bool,
    },
    /// `capacity`: the capacity model's predictions for a load.
    Capacity(capacity_model::Inputs),
    /// `usage`: each tenant's usage from the functions' records in a log.
    Usage {
        /// The log; `cargo xtask dev`'s by default.
        file: Option<String>,
    },
    Down,
}

/// An offboarding step that runs on its own against a deployed stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsTenantStep {
    /// Every object version, delete marker and item of the tenant.
    Purge,
    /// Every user of the tenant's group disabled and signed out.
    DisableUsers,
}

/// One subcommand: its name, its arguments and what it does.
#[derive(Debug, PartialEq, Eq)]
pub struct Command {
    pub name: &'static str,
    pub args: &'static str,
    pub about: &'static str,
}

pub const COMMANDS: &[Command] = &[
    Command {
        name: "up",
        args: "[--fault-tenants]",
        about: "start PostgreSQL (TLS only), moto (IAM enforced), the AWS front before it and the token verifier, seeded",
    },
    Command {
        name: "dev",
        args: "",
        about: "up, then serve the four functions with `cargo lambda watch`, behind the JWT-authorized local API on 127.0.0.1:25502",
    },
    Command {
        name: "call",
        args: "[--user NAME [--api-url URL --client-id ID] | --tenant ID | --no-auth] [-H 'name: value']... [-d JSON] METHOD PATH",
        about: "call the API as a Cognito user (local, or deployed with --api-url), or the watcher as a tenant",
    },
    Command {
        name: "tenant",
        args: "add ID... [--local [--tier NAME] | --aws --stack NAME [--user NAME] [--tier NAME] [--dry-run]] | remove ID... [--local | --aws --stack NAME [--dry-run]] [--purge] [--key-deletion-days 7-30] | purge ID... --aws --stack NAME [--dry-run] | disable-users ID... --aws --stack NAME [--dry-run]",
        about: "onboard (offboard) tenants: role, key, DB login through db-admin, user; on the local stack, or a deployed one; neither: print the psql script",
    },
    Command {
        name: "deploy",
        args: "[--config-env default|prod] [--dry-run] [Name=Value]...",
        about: "check the tools, the account's concurrency quota, the VPC's DNS, the subnets' zones and the cluster's security group, then sam build and sam deploy with the profile (--dry-run: print the checks and commands)",
    },
    Command {
        name: "db",
        args: "migrate (--local | --aws --stack NAME [--dry-run])",
        about: "apply db/01_schema.sql through db-admin, on the local stack or inside a deployed stack's VPC",
    },
    Command {
        name: "test",
        args: "",
        about: "fmt, fixtures, template checks, clippy, then every test against the local stack",
    },
    Command {
        name: "templates",
        args: "",
        about: "the template checks alone: sam validate --lint, cfn-lint, checkov",
    },
    Command {
        name: "bench",
        args: "[--quick] [--requests N] [--requests-over-bound N] [--tenants N,N] [--cold-runs N] [--out FILE] [--no-http] | --soak [--soak-requests N]",
        about: "benchmarks against the local stack; prints a table, writes target/bench/results.json",
    },
    Command {
        name: "fixtures",
        args: "[--check]",
        about: "regenerate events/ (with --check, fail if it has drifted)",
    },
    Command {
        name: "ca-bundle",
        args: "",
        about: "regenerate ca/rds-ca-bundle.pem from the pinned npm package",
    },
    Command {
        name: "env",
        args: "[--sam]",
        about: "print the functions' environment for the running stack (--sam: write SAM's --env-vars JSON for `sam local invoke`)",
    },
    Command {
        name: "capacity",
        args: "[--tenants N] [--rps R] [--skew S] [--containers C] [--cache N] [--db-connections N] [--db-share F] [--s3-share F] [--session-seconds N] [--max-age-seconds N] [--instance-class CLASS] [--proxy] [--kms-quota N]",
        about: "predict a load's open DB connections, new IAM logins/s, STS and KMS calls/s and memory per container, against AWS's limits, and name the first one hit (docs/capacity.md)",
    },
    Command {
        name: "usage",
        args: "[FILE]",
        about: "each tenant's requests, errors, bytes, database time and AWS calls, summed from the functions' per-request records (default: the log `cargo xtask dev` writes, target/local-stack/functions.log)",
    },
    Command {
        name: "down",
        args: "",
        about: "stop everything `up` started",
    },
];

/// The bench runner's options that take a value; `--no-http` is the xtask's.
const BENCH_VALUES: [&str; 6] = [
    "requests",
    "requests-over-bound",
    "tenants",
    "cold-runs",
    "out",
    "soak-requests",
];

/// The help text: every command with a line, or one command's usage.
pub fn help(topic: Option<&Command>) -> String {
    match topic {
        Some(c) => format!("usage: cargo xtask {} {}\n\n{}\n", c.name, c.args, c.about),
        None => {
            let mut text = String::from("usage: cargo xtask <command> [args]\n\ncommands:\n");
            for c in COMMANDS {
                text.push_str(&format!("  {:<10} {}\n", c.name, c.about));
            }
            text.push_str("\n`cargo xtask <command> --help` shows a command's arguments.\n");
            text
        }
    }
}

fn command(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

fn text(value: OsString) -> Result<String, String> {
    value
        .into_string()
        .map_err(|v| format!("`{}` is not valid UTF-8", v.to_string_lossy()))
}

/// Parse the arguments after `cargo xtask`.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cmd, String> {
    let mut parser =
        lexopt::Parser::from_iter(std::iter::once(OsString::from("xtask")).chain(args));
    let name = match parser.next().map_err(|e| e.to_string())? {
        None | Some(Short('h') | Long("help")) => return Ok(Cmd::Help(None)),
        Some(Value(v)) if v == "help" => return Ok(Cmd::Help(None)),
        Some(Value(v)) => text(v)?,
        Some(other) => {
            return Err(format!(
                "{} before the command\n\n{}",
                other.unexpected(),
                help(None)
            ));
        }
    };
    let cmd =
        command(&name).ok_or_else(|| format!("unknown command `{name}`\n\n{}", help(None)))?;
    let unexpected = |arg: lexopt::Arg<'_>| format!("{}\n\n{}", arg.unexpected(), help(Some(cmd)));
    let mut rest = Vec::new();
    let (mut check, mut local, mut sam, mut purge) = (false, false, false, false);
    let mut fault_tenants = false;
    let mut config_env: Option<String> = None;
    let (mut aws, mut dry_run) = (false, false);
    let (mut stack, mut user): (Option<String>, Option<String>) = (None, None);
    let mut tier: Option<String> = None;
    let mut key_window_days: Option<u8> = None;
    let mut capacity = capacity_model::Inputs::default();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match (cmd.name, arg) {
            (_, Short('h') | Long("help")) => return Ok(Cmd::Help(Some(cmd))),
            ("fixtures", Long("check")) => check = true,
            ("up", Long("fault-tenants")) => fault_tenants = true,
            ("tenant" | "db", Long("local")) => local = true,
            ("tenant" | "db", Long("aws")) => aws = true,
            ("tenant" | "db" | "deploy", Long("dry-run")) => dry_run = true,
            ("deploy", Long("config-env")) => {
                config_env = Some(text(parser.value().map_err(|e| e.to_string())?)?);
            }
            ("deploy", Value(v)) => rest.push(text(v)?),
            ("tenant" | "db", Long("stack")) => {
                stack = Some(text(parser.value().map_err(|e| e.to_string())?)?);
            }
            ("tenant", Long("user")) => {
                user = Some(text(parser.value().map_err(|e| e.to_string())?)?);
            }
            ("tenant", Long("tier")) => {
                let value = text(parser.value().map_err(|e| e.to_string())?)?;
                // The template's DedicatedTier pattern: a tier is a name, not
                // something to quote.
                if value.is_empty()
                    || value.len() > 32
                    || !value
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                {
                    return Err(format!(
                        "--tier takes 1 to 32 of a-z, 0-9 and -, not `{value}`\n\n{}",
                        help(Some(cmd))
                    ));
                }
                tier = Some(value);
            }
            ("tenant", Long("purge")) => purge = true,
            ("tenant", Long("key-deletion-days")) => {
                let value = text(parser.value().map_err(|e| e.to_string())?)?;
                match value.parse::<u8>() {
                    Ok(days) if (7..=30).contains(&days) => key_window_days = Some(days),
                    _ => {
                        return Err(format!(
                            "--key-deletion-days takes 7 to 30 (KMS's pending window), not `{value}`\n\n{}",
                            help(Some(cmd))
                        ));
                    }
                }
            }
            ("tenant" | "db", Value(v)) => rest.push(text(v)?),
            ("bench", Long("no-http")) => rest.push("--no-http".to_owned()),
            ("bench", Long("quick")) => rest.push("--quick".to_owned()),
            ("bench", Long("soak")) => rest.push("--soak".to_owned()),
            ("env", Long("sam")) => sam = true,
            ("capacity", Long("proxy")) => capacity.proxy = true,
            ("capacity", Long(flag)) => {
                let flag = flag.to_owned();
                let value = text(parser.value().map_err(|e| e.to_string())?)?;
                let bad = |what: &str| {
                    format!(
                        "--{flag} takes {what}, not `{value}`\n\n{}",
                        help(Some(cmd))
                    )
                };
                let count = || value.parse::<usize>().map_err(|_| bad("a whole number"));
                let number = || {
                    value
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite() && *v >= 0.0)
                        .ok_or_else(|| bad("a number"))
                };
                let share = || {
                    number().and_then(|v| {
                        if v <= 1.0 {
                            Ok(v)
                        } else {
                            Err(bad("a share of 0 to 1"))
                        }
                    })
                };
                match flag.as_str() {
                    "tenants" => capacity.tenants = count()?.max(1),
                    "rps" => capacity.rps = number()?,
                    "skew" => capacity.skew = number()?,
                    "containers" => capacity.containers = count()?.max(1),
                    "cache" => capacity.cache_capacity = count()?,
                    "db-connections" => capacity.db_capacity = count()?,
                    "db-share" => capacity.db_share = share()?,
                    "s3-share" => capacity.s3_share = share()?,
                    "session-seconds" => capacity.session_seconds = number()?.max(900.0),
                    "max-age-seconds" => capacity.max_age_seconds = number()?.max(1.0),
                    "instance-class" => {
                        if capacity_model::max_connections(&value).is_none() {
                            return Err(bad(
                                "an instance class the model knows (db.t4g.medium .. db.r7g.4xlarge)",
                            ));
                        }
                        capacity.instance_class = value.clone();
                    }
                    "kms-quota" => capacity.kms_quota = number()?.max(1.0),
                    _ => return Err(format!("unknown option --{flag}\n\n{}", help(Some(cmd)))),
                }
            }
            ("usage", Value(v)) if rest.is_empty() => rest.push(text(v)?),
            ("bench", Long(flag)) if BENCH_VALUES.contains(&flag) => {
                let flag = format!("--{flag}");
                rest.push(flag);
                rest.push(text(parser.value().map_err(|e| e.to_string())?)?);
            }
            // call parses its own arguments (and refuses unknown ones).
            ("call", Value(v)) => rest.push(text(v)?),
            ("call", Short(c)) => rest.push(format!("-{c}")),
            ("call", Long(flag)) => rest.push(format!("--{flag}")),
            (_, other) => return Err(unexpected(other)),
        }
    }
    if cmd.name == "deploy" {
        return Ok(Cmd::Deploy {
            config_env: config_env.unwrap_or_else(|| "default".to_owned()),
            overrides: rest,
            dry_run,
        });
    }
    let target = match (local, aws, stack, dry_run) {
        (false, false, None, false) => Target::Print,
        (true, false, None, false) => Target::Local,
        (false, true, Some(stack), dry_run) => Target::Aws { stack, dry_run },
        (_, true, None, _) => {
            return Err(format!("--aws needs --stack NAME\n\n{}", help(Some(cmd))));
        }
        _ => {
            return Err(format!(
                "--local, or --aws with --stack and --dry-run\n\n{}",
                help(Some(cmd))
            ));
        }
    };
    if user.is_some() && !matches!(target, Target::Aws { .. }) {
        return Err(format!("--user goes with --aws\n\n{}", help(Some(cmd))));
    }
    if tier.is_some() && !matches!(target, Target::Aws { .. } | Target::Local) {
        return Err(format!(
            "--tier goes with --aws or --local\n\n{}",
            help(Some(cmd))
        ));
    }
    Ok(match cmd.name {
        "up" => Cmd::Up { fault_tenants },
        "dev" => Cmd::Dev,
        "call" => Cmd::Call(rest),
        "tenant" => match rest.split_first() {
            Some((add, ids)) if add == "add" && ids.len() > 1 && user.is_some() => {
                return Err(format!(
                    "--user makes one tenant's user: give one id with it\n\n{}",
                    help(Some(cmd))
                ));
            }
            Some((add, ids))
                if add == "add" && !ids.is_empty() && !purge && key_window_days.is_none() =>
            {
                Cmd::Tenant {
                    ids: ids.to_vec(),
                    target,
                    user,
                    tier,
                }
            }
            Some((remove, ids))
                if remove == "remove" && !ids.is_empty() && user.is_none() && tier.is_none() =>
            {
                Cmd::TenantRemove {
                    ids: ids.to_vec(),
                    target,
                    purge,
                    key_window_days: key_window_days.unwrap_or(30),
                }
            }
            Some((verb, ids))
                if ["purge", "disable-users"].contains(&verb.as_str())
                    && !ids.is_empty()
                    && user.is_none()
                    && !purge
                    && key_window_days.is_none() =>
            {
                let Target::Aws { stack, dry_run } = target else {
                    return Err(format!(
                        "tenant {verb} is for --aws --stack NAME; on the local stack, `tenant remove ID --local [--purge]` does it\n\n{}",
                        help(Some(cmd))
                    ));
                };
                Cmd::TenantOnAws {
                    step: if verb == "purge" {
                        AwsTenantStep::Purge
                    } else {
                        AwsTenantStep::DisableUsers
                    },
                    ids: ids.to_vec(),
                    stack,
                    dry_run,
                }
            }
            _ => return Err(format!("say what to do\n\n{}", help(Some(cmd)))),
        },
        "db" => match rest.as_slice() {
            [migrate] if migrate == "migrate" && target != Target::Print => {
                Cmd::DbMigrate { target }
            }
            _ => return Err(format!("say what to do\n\n{}", help(Some(cmd)))),
        },
        "test" => Cmd::Test,
        "templates" => Cmd::Templates,
        "bench" => Cmd::Bench(rest),
        "fixtures" => Cmd::Fixtures { check },
        "ca-bundle" => Cmd::CaBundle,
        "env" => Cmd::Env { sam },
        "capacity" => Cmd::Capacity(capacity),
        "usage" => Cmd::Usage {
            file: rest.into_iter().next(),
        },
        _ => Cmd::Down,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Cmd, String> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn help_and_mistakes_are_answered_before_anything_runs() {
        for args in [&[][..], &["--help"], &["-h"], &["help"]] {
            assert_eq!(parse_str(args), Ok(Cmd::Help(None)), "{args:?}");
        }
        for name in ["test", "bench", "fixtures", "tenant", "call", "up"] {
            assert_eq!(
                parse_str(&[name, "--help"]),
                Ok(Cmd::Help(command(name))),
                "{name}"
            );
        }
        assert!(
            parse_str(&["tset"])
                .unwrap_err()
                .contains("unknown command `tset`")
        );
        assert!(
            parse_str(&["fixtures", "--chek"])
                .unwrap_err()
                .contains("--chek")
        );
        assert!(parse_str(&["up", "now"]).is_err());
        assert!(parse_str(&["test", "--release"]).is_err());
        assert!(parse_str(&["bench", "--bogus"]).is_err());
        assert!(
            parse_str(&["bench", "--requests"]).is_err(),
            "a flag without its value"
        );
        assert!(parse_str(&["tenant"]).is_err());
        assert!(parse_str(&["tenant", "delete", "acme"]).is_err());
        assert!(parse_str(&["tenant", "remove"]).is_err(), "no id");
        assert!(
            parse_str(&["tenant", "purge", "acme", "--local"])
                .unwrap_err()
                .contains("--local [--purge]"),
            "a local purge is remove's"
        );
        assert_eq!(
            parse_str(&["tenant", "purge", "acme", "--aws", "--stack", "s"]),
            Ok(Cmd::TenantOnAws {
                step: AwsTenantStep::Purge,
                ids: vec!["acme".into()],
                stack: "s".into(),
                dry_run: false
            })
        );
        assert!(
            parse_str(&["tenant", "add", "acme", "--purge"]).is_err(),
            "--purge is remove's"
        );
        assert!(
            parse_str(&["tenant", "add", "acme", "--aws"]).is_err(),
            "no stack"
        );
        assert!(parse_str(&["tenant", "add", "acme", "--local", "--aws", "--stack", "s"]).is_err());
        assert!(
            parse_str(&["tenant", "add", "acme", "--user", "u"]).is_err(),
            "--user is --aws's"
        );
        assert!(parse_str(&["tenant", "add", "acme", "--local", "--dry-run"]).is_err());
        assert!(parse_str(&["db", "migrate"]).is_err(), "no target");
        assert!(
            parse_str(&[
                "tenant", "add", "a", "b", "--aws", "--stack", "s", "--user", "u"
            ])
            .is_err(),
            "one user, one tenant"
        );
        assert!(parse_str(&["db", "drop", "--local"]).is_err());
    }

    #[test]
    fn commands_and_their_arguments() {
        assert_eq!(
            parse_str(&["tenant", "remove", "acme", "--local", "--purge"]),
            Ok(Cmd::TenantRemove {
                ids: vec!["acme".to_owned()],
                target: Target::Local,
                purge: true,
                key_window_days: 30,
            })
        );
        assert_eq!(
            parse_str(&[
                "tenant",
                "add",
                "acme",
                "--aws",
                "--stack",
                "app",
                "--user",
                "ops@acme.example",
                "--dry-run"
            ]),
            Ok(Cmd::Tenant {
                ids: vec!["acme".to_owned()],
                target: Target::Aws {
                    stack: "app".into(),
                    dry_run: true
                },
                user: Some("ops@acme.example".into()),
                tier: None
            })
        );
        assert_eq!(
            parse_str(&["tenant", "add", "acme", "--local", "--tier", "premium"]),
            Ok(Cmd::Tenant {
                ids: vec!["acme".to_owned()],
                target: Target::Local,
                user: None,
                tier: Some("premium".into())
            }),
            "a local tenant's tier, in its registry item"
        );
        assert!(
            parse_str(&["tenant", "add", "acme", "--tier", "premium"]).is_err(),
            "the printed script has no registry"
        );
        assert!(
            parse_str(&[
                "tenant", "add", "a", "--aws", "--stack", "s", "--tier", "Gold!"
            ])
            .is_err(),
            "a tier is a name"
        );
        assert_eq!(
            parse_str(&[
                "tenant", "add", "a", "--aws", "--stack", "s", "--tier", "premium"
            ]),
            Ok(Cmd::Tenant {
                ids: vec!["a".to_owned()],
                target: Target::Aws {
                    stack: "s".into(),
                    dry_run: false
                },
                user: None,
                tier: Some("premium".into())
            })
        );
        assert_eq!(
            parse_str(&["db", "migrate", "--local"]),
            Ok(Cmd::DbMigrate {
                target: Target::Local
            })
        );
        assert_eq!(parse_str(&["env", "--sam"]), Ok(Cmd::Env { sam: true }));
        assert_eq!(
            parse_str(&["fixtures", "--check"]),
            Ok(Cmd::Fixtures { check: true })
        );
        assert_eq!(
            parse_str(&["tenant", "add", "a", "b", "--local"]),
            Ok(Cmd::Tenant {
                ids: vec!["a".into(), "b".into()],
                target: Target::Local,
                user: None,
                tier: None
            })
        );
        assert_eq!(
            parse_str(&[
                "bench",
                "--requests",
                "100",
                "--no-http",
                "--tenants=10,200"
            ]),
            Ok(Cmd::Bench(
                ["--requests", "100", "--no-http", "--tenants", "10,200"]
                    .map(String::from)
                    .to_vec()
            ))
        );
        assert_eq!(
            parse_str(&[
                "call",
                "--tenant",
                "tenant1",
                "-H",
                "Range: bytes=0-1",
                "GET",
                "/files/x"
            ]),
            Ok(Cmd::Call(
                [
                    "--tenant",
                    "tenant1",
                    "-H",
                    "Range: bytes=0-1",
                    "GET",
                    "/files/x"
                ]
                .map(String::from)
                .to_vec()
            ))
        );
        let listed = help(None);
        for c in COMMANDS {
            assert!(listed.contains(c.name), "{} is listed", c.name);
        }
    }
}
