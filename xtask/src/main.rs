//! `cargo xtask`: the local stack and the test run.
//!
//! `cargo xtask --help` lists the commands (`cli::COMMANDS`); `cargo xtask
//! <command> --help` shows one's arguments.

/// A progress line on stderr: `xtask: [  12.3s] what`, the time since
/// xtask started, so every slow step shows when it began and ended.
macro_rules! progress {
    ($($arg:tt)*) => {
        eprintln!("xtask: [{:>6.1}s] {}", $crate::process::elapsed(), format_args!($($arg)*))
    };
}

mod ca_bundle;
mod call;
mod cli;
mod daemon;
mod deploy;
mod fixtures;
mod front;
mod http;
mod http_bench;
mod moto;
mod onboarding;
mod postgres;
mod process;
mod purge;
mod usage;
mod users;
mod verifier;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use front::{Api, Front};
use moto::Moto;
use postgres::Postgres;
use process::{Result, run, run_visible, timed};
use verifier::Verifier;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
pub const BUCKET: &str = "tenant-data";
/// The search domain the local front serves (seed_moto.py's SEARCH_DOMAIN).
pub const SEARCH_DOMAIN: &str = "tenant-docs";
pub const CLUSTER_RESOURCE_ID: &str = "cluster-LOCALSTACK0TENANTACCESS";
pub const DB_NAME: &str = "saas";
pub const TENANTS: [&str; 2] = ["tenant1", "tenant2"];
pub const TENANT_CLAIM: &str = "custom:tenant_id";

/// Where the stack lives and listens.
pub struct Stack {
    pub root: PathBuf,
    pub dir: PathBuf,
    pub pg_port: u16,
    pub moto_port: u16,
    pub verifier_port: u16,
    /// Where the fault suite's TCP front before PostgreSQL listens; the
    /// verifier accepts tokens signed for it too.
    pub pg_front_port: u16,
    /// Where the AWS front before moto listens: `AWS_ENDPOINT_URL`.
    pub front_port: u16,
    /// Where `cargo xtask dev` serves the API (the local API Gateway).
    pub api_port: u16,
    /// Where `cargo xtask dev` runs `cargo lambda watch`, which
    /// `cargo xtask call --tenant` invokes.
    pub watch_port: u16,
    /// Where the benchmark's HTTP scenario runs its own watcher.
    pub bench_port: u16,
    /// The functions' `TENANT_ISOLATION` (`LOCAL_TENANT_ISOLATION`).
    pub isolation: String,
}

/// The strategies `LOCAL_TENANT_ISOLATION` accepts (the crate's TENANT_ISOLATION).
const STRATEGIES: [&str; 5] = [
    "role-per-tenant",
    "session-tags",
    "session-policy",
    "session-tags+session-policy",
    "identity-pool",
];

impl Stack {
    fn new() -> Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or("xtask has no parent dir")?
            .to_path_buf();
        let dir = root.join("target/local-stack");
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        Ok(Stack {
            root,
            dir,
            pg_port: port("LOCAL_PG_PORT", 25432)?,
            moto_port: port("LOCAL_MOTO_PORT", 25500)?,
            verifier_port: port("LOCAL_VERIFIER_PORT", 25389)?,
            pg_front_port: port("LOCAL_PG_FRONT_PORT", 25433)?,
            front_port: port("LOCAL_FRONT_PORT", 25501)?,
            api_port: port("LOCAL_API_PORT", 25502)?,
            watch_port: port("LOCAL_WATCH_PORT", 9000)?,
            bench_port: port("LOCAL_BENCH_PORT", 29900)?,
            isolation: match std::env::var("LOCAL_TENANT_ISOLATION") {
                Err(_) => STRATEGIES[0].to_owned(),
                Ok(v) if STRATEGIES.contains(&v.as_str()) => v,
                Ok(v) => {
                    return Err(format!(
                        "LOCAL_TENANT_ISOLATION={v} is not one of {}",
                        STRATEGIES.join(", ")
                    ));
                }
            },
        })
    }

    /// The deployed roles, as the seed writes them for the front and the
    /// verifier.
    pub fn registry_file(&self) -> PathBuf {
        self.dir.join("iam-roles.json")
    }

    fn env_file(&self) -> PathBuf {
        self.dir.join("stack.env")
    }
    fn functions_env_file(&self) -> PathBuf {
        self.dir.join("functions.env")
    }
    /// db-admin's environment on the local stack.
    pub fn db_admin_env_file(&self) -> PathBuf {
        self.dir.join("db-admin.env")
    }

    /// The stack's venv (moto, cargo-lambda) holding the pinned `requirements`.
    pub fn venv(&self, requirements: &[PathBuf]) -> Result<PathBuf> {
        self.venv_named("venv", requirements)
    }

    /// A venv `name` under the stack dir holding the pinned `requirements`.
    pub fn venv_named(&self, name: &str, requirements: &[PathBuf]) -> Result<PathBuf> {
        let venv = self.dir.join(name);
        if !venv.join("bin/python").exists() {
            progress!("creating the Python venv target/local-stack/{name}");
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv)).map_err(|e| {
                format!("{e}\npython3 with the venv module is needed (Debian: apt-get install python3-venv)")
            })?;
        }
        for req in requirements {
            let wanted = fs::read_to_string(req).map_err(|e| format!("{}: {e}", req.display()))?;
            let marker = venv.join(format!(
                ".installed-{}",
                req.file_name().and_then(|n| n.to_str()).unwrap_or("req")
            ));
            if fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
                continue;
            }
            let what = format!("installing {} into the venv", req.display());
            timed(&what, || {
                run_visible(
                    Command::new(venv.join("bin/pip"))
                        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                        .arg(req),
                )
            })?;
            fs::write(&marker, wanted).map_err(|e| e.to_string())?;
        }
        Ok(venv)
    }

    /// Start everything; returns whether anything new was started.
    fn up(&self) -> Result<bool> {
        let pg = Postgres::ensure_installed(self)?;
        let was_running = pg.is_running() && Moto::new(self).is_running();
        // PostgreSQL first: the seed keeps its master password in the
        // secret db-admin reads. Logins wait for the verifier, not start-up.
        pg.up()?;
        let keys = Moto::new(self).up(&pg.admin_password()?)?;
        Front::new(self).up()?;
        Verifier::new(self).up()?;

        // Everything reaches moto through the front.
        let endpoint = format!("http://127.0.0.1:{}", self.front_port);
        let mut functions = BTreeMap::new();
        let mut set = |k: &str, v: String| functions.insert(k.to_owned(), v);
        // The search domain is served by the front as well (its stand-in
        // engine), at the same address.
        set("SEARCH_ENDPOINT", endpoint.clone());
        set("SEARCH_DOMAIN", SEARCH_DOMAIN.into());
        set("AWS_ENDPOINT_URL", endpoint);
        set("AWS_REGION", REGION.into());
        set("AWS_ACCESS_KEY_ID", keys.access_key_id.clone());
        set("AWS_SECRET_ACCESS_KEY", keys.secret_access_key.clone());
        set("AWS_ACCOUNT_ID", ACCOUNT.into());
        set("TENANT_CLAIM", TENANT_CLAIM.into());
        set("TENANT_ISOLATION", self.isolation.clone());
        // Under a shared strategy, the premium tier on its tenants' own
        // roles (every local tenant has one), as the template's
        // DedicatedTier: `tenant add ID --local --tier premium`.
        if self.isolation.starts_with("session-") {
            set(
                "TENANT_TIER_ISOLATION",
                format!("{}=role-per-tenant", onboarding::PREMIUM_TIER),
            );
        }
        // One shared role per job ({scope}: s3, db, dynamodb, search). The template
        // deploys their tag-keyed variants under the session-tags
        // strategies; the seed makes those under their own names.
        let shared_role = if self.isolation.contains("session-tags") {
            "tenant-access-shared-{scope}-tagged"
        } else {
            "tenant-access-shared-{scope}"
        };
        set(
            "TENANT_SHARED_ROLE_ARN",
            format!("arn:aws:iam::{ACCOUNT}:role/{shared_role}"),
        );
        set("TENANT_IDENTITY_POOL_ID", keys.identity_pool_id.clone());
        set(
            "TENANT_IDENTITY_PROVIDER",
            format!("cognito-idp.{REGION}.amazonaws.com/{}", keys.user_pool_id),
        );
        set("TENANT_TABLE", keys.table.clone());
        set("TENANT_REGISTRY_TABLE", keys.registry.clone());
        set("DB_RESOURCE_ID", CLUSTER_RESOURCE_ID.into());
        set("TENANT_BUCKET", BUCKET.into());
        set("S3_FORCE_PATH_STYLE", "true".into());
        set("DB_HOST", "localhost".into());
        set("DB_PORT", self.pg_port.to_string());
        set("DB_NAME", DB_NAME.into());
        set("DB_CA_BUNDLE", pg.ca_pem().display().to_string());
        set("RUST_LOG", "info".into());
        write_env(&self.functions_env_file(), &functions)?;

        // db-admin: the DB settings, its own identity, and the secret.
        let mut admin: BTreeMap<String, String> = functions
            .iter()
            .filter(|(k, _)| {
                k.starts_with("DB_") && *k != "DB_RESOURCE_ID"
                    || k.starts_with("AWS_")
                    || *k == "RUST_LOG"
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        admin.insert(
            "AWS_ACCESS_KEY_ID".into(),
            keys.db_admin_access_key_id.clone(),
        );
        admin.insert(
            "AWS_SECRET_ACCESS_KEY".into(),
            keys.db_admin_secret_access_key.clone(),
        );
        admin.insert("DB_ADMIN_SECRET_ID".into(), keys.db_admin_secret_id.clone());
        write_env(&self.db_admin_env_file(), &admin)?;

        // Tests also get the admin login, to look behind row-level security.
        let mut stack = functions.clone();
        stack.insert("STACK_DB_ADMIN_USER".into(), postgres::ADMIN_USER.into());
        stack.insert("STACK_DB_ADMIN_PASSWORD".into(), pg.admin_password()?);
        stack.insert(
            "STACK_CLUSTER_RESOURCE_ID".into(),
            CLUSTER_RESOURCE_ID.into(),
        );
        // The fault suite restarts PostgreSQL and stands a front before it.
        stack.insert("STACK_PG_FRONT_PORT".into(), self.pg_front_port.to_string());
        // The deployed roles, keys, tables and pools the front decides with.
        stack.insert(
            "STACK_IAM_REGISTRY".into(),
            self.registry_file().display().to_string(),
        );
        // moto itself, behind the front (its own API: state, reset-auth).
        stack.insert(
            "STACK_MOTO_URL".into(),
            format!("http://127.0.0.1:{}", self.moto_port),
        );
        // The JWT issuer: moto's Cognito user pool, one user per tenant
        // (<tenant>@example.com), and what the authorizer's tests need.
        let issuer = format!(
            "https://cognito-idp.{REGION}.amazonaws.com/{}",
            keys.user_pool_id
        );
        for (name, value) in [
            ("STACK_USER_POOL_ID", keys.user_pool_id.clone()),
            (
                "STACK_USER_POOL_CLIENT_ID",
                keys.user_pool_client_id.clone(),
            ),
            ("STACK_OTHER_CLIENT_ID", keys.other_client_id.clone()),
            ("STACK_OTHER_POOL_ID", keys.other_pool_id.clone()),
            (
                "STACK_OTHER_POOL_CLIENT_ID",
                keys.other_pool_client_id.clone(),
            ),
            ("STACK_USER_PASSWORD", keys.user_password.clone()),
            ("STACK_JWT_ISSUER", issuer),
            (
                "STACK_JWKS_URL",
                format!(
                    "http://127.0.0.1:{}/{}/.well-known/jwks.json",
                    self.moto_port, keys.user_pool_id
                ),
            ),
            (
                "STACK_API_URL",
                format!("http://127.0.0.1:{}", self.api_port),
            ),
        ] {
            stack.insert(name.into(), value);
        }
        // The session-tags variant of the shared role (the seed makes both).
        stack.insert(
            "STACK_SHARED_TAGGED_ROLE_ARN".into(),
            format!("arn:aws:iam::{ACCOUNT}:role/tenant-access-shared-{{scope}}-tagged"),
        );
        // db-admin's identity and secret, for its tests.
        for (name, value) in [
            ("STACK_DB_ADMIN_ACCESS_KEY_ID", &keys.db_admin_access_key_id),
            (
                "STACK_DB_ADMIN_SECRET_ACCESS_KEY",
                &keys.db_admin_secret_access_key,
            ),
            ("STACK_DB_ADMIN_SECRET_ID", &keys.db_admin_secret_id),
        ] {
            stack.insert(name.into(), value.clone());
        }
        stack.insert("STACK_PG_CTL".into(), pg.pg_ctl().display().to_string());
        stack.insert("STACK_PG_DATA".into(), pg.data().display().to_string());
        stack.insert("STACK_PG_LOG".into(), pg.log().display().to_string());
        stack.insert(
            "STACK_PG_OS_USER".into(),
            pg.os_user().unwrap_or_default().to_owned(),
        );
        stack.insert(
            "STACK_VERIFIER_LOG".into(),
            Verifier::new(self).log().display().to_string(),
        );
        write_env(&self.env_file(), &stack)?;
        progress!("stack is up; environment in {}", self.env_file().display());
        Ok(!was_running)
    }

    fn down(&self) -> Result<()> {
        let _ = fs::remove_file(self.env_file());
        let _ = fs::remove_file(self.functions_env_file());
        let _ = fs::remove_file(self.db_admin_env_file());
        Moto::new(self).down()?;
        Front::new(self).down()?;
        Api::new(self).down()?;
        Verifier::new(self).down()?;
        if let Ok(pg) = Postgres::ensure_installed(self) {
            pg.down()?;
        }
        Ok(())
    }
}

fn port(variable: &str, default: u16) -> Result<u16> {
    match std::env::var(variable) {
        Err(_) => Ok(default),
        Ok(v) => v
            .parse()
            .ok()
            .filter(|p| *p > 1024)
            .ok_or(format!("{variable}={v} is not a port above 1024")),
    }
}

/// The `NAME=value` lines of an environment file.
pub fn read_env(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = fs::read_to_string(path)
        .map_err(|_| "the stack is not up: run `cargo xtask up`".to_owned())?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

fn write_env(path: &Path, vars: &BTreeMap<String, String>) -> Result<()> {
    let text: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The cargo that runs this task. Under CI (`CI` set) it builds without
/// incremental state, which a clean clone never reuses and which took
/// about 3 GB of a cold run's disk.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    if std::env::var_os("CI").is_some() && std::env::var_os("CARGO_INCREMENTAL").is_none() {
        cmd.env("CARGO_INCREMENTAL", "0");
    }
    cmd
}

fn test(stack: &Stack) -> Result<()> {
    if stack.isolation != STRATEGIES[0] {
        return Err(
            "unset LOCAL_TENANT_ISOLATION for the tests: they run role-per-tenant end to end and choose the other strategies themselves"
                .into(),
        );
    }
    progress!("cargo fmt --check");
    run_visible(
        cargo()
            .current_dir(&stack.root)
            .args(["fmt", "--all", "--check"]),
    )?;
    progress!("events/ fixtures match their generator");
    fixtures::run(&stack.root, true)?;
    check_templates(stack)?;
    timed("cargo clippy", || {
        run_visible(cargo().current_dir(&stack.root).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    timed("the crates as a user gets them", || crate_checks(stack))?;
    let started = stack.up()?;
    seed_fault_tenants(stack)?;
    let mut totals = TestTotals::default();
    let result = totals
        .run(
            cargo()
                .current_dir(&stack.root)
                .args(["test", "--workspace", "--all-targets", "--no-fail-fast"])
                .env("TENANT_ACCESS_STACK_ENV", stack.env_file()),
        )
        .and_then(|()| {
            totals.run(
                cargo()
                    .current_dir(&stack.root)
                    .args(["test", "--workspace", "--doc"]),
            )
        });
    if started {
        stack.down()?;
    }
    // One closing line for the whole run: cargo's last summary is that of
    // whichever crate came last, often one without doctests.
    println!("tests: {} passed, {} failed", totals.passed, totals.failed);
    // What the run left on disk: CI's disk is not unbounded (a cold run
    // once ran out of space), so its footprint is a figure worth watching.
    progress!(
        "target/ holds {:.1} GB",
        dir_bytes(&stack.root.join("target")) as f64 / 1e9
    );
    if result.is_ok() && totals.passed == 0 {
        return Err("no test ran".into());
    }
    result
}

/// Bytes of the regular files under `dir`, each file once however many
/// names it has (cargo hard-links its `deps/` outputs to their uplifted
/// names), as `du` counts them.
fn dir_bytes(dir: &Path) -> u64 {
    fn walk(dir: &Path, seen: &mut std::collections::HashSet<(u64, u64)>) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let Ok(entries) = fs::read_dir(dir) else {
            return 0;
        };
        let mut total = 0;
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                total += walk(&entry.path(), seen);
            } else if meta.is_file() && seen.insert((meta.dev(), meta.ino())) {
                total += meta.len();
            }
        }
        total
    }
    walk(dir, &mut Default::default())
}

/// The published crates as their users get them: `cargo publish
/// --dry-run` of tenant-id and tenant-access (packaged, and the package
/// built on its own), then a scratch crate outside the workspace with the
/// crate README's dependency lines (the git URL a `file://` one of this
/// clone at its `HEAD`) and the README's example as its `main.rs`, built.
fn crate_checks(stack: &Stack) -> Result<()> {
    run_visible(cargo().current_dir(&stack.root).args([
        "publish",
        "--dry-run",
        "--allow-dirty",
        "--quiet",
        "-p",
        "tenant-id",
        "-p",
        "tenant-access",
    ]))?;
    let readme = fs::read_to_string(stack.root.join("shared/tenant-access/README.md"))
        .map_err(|e| format!("the crate README: {e}"))?;
    let block = |fence: &str| -> Result<String> {
        let start = readme
            .find(fence)
            .ok_or(format!("the crate README has no {fence} block"))?
            + fence.len();
        let end = readme[start..]
            .find("\n```")
            .ok_or(format!("the crate README's {fence} block is not closed"))?;
        Ok(readme[start..start + end]
            .trim_start_matches('\n')
            .to_owned())
    };
    let head = String::from_utf8_lossy(
        &run(Command::new("git")
            .current_dir(&stack.root)
            .args(["rev-parse", "HEAD"]))?
        .stdout,
    )
    .trim()
    .to_owned();
    let dependencies = block("```toml\n")?
        .lines()
        .map(|line| match line.find("git = \"") {
            Some(at) => {
                let url_end = line[at + 7..].find('"').map_or(line.len(), |e| at + 7 + e);
                format!(
                    "{}git = \"file://{}\", rev = \"{head}\"{}",
                    &line[..at],
                    stack.root.display(),
                    &line[url_end + 1..]
                )
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    if !dependencies.contains(&format!("rev = \"{head}\"")) {
        return Err("the crate README's dependency lines name no git URL".into());
    }
    let dir = stack.root.join("target/consumer");
    fs::create_dir_all(dir.join("src")).map_err(|e| e.to_string())?;
    fs::write(
        dir.join("Cargo.toml"),
        format!(
            "# Written by `cargo xtask test` from shared/tenant-access/README.md.\n\
             [package]\nname = \"consumer\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             {dependencies}\n\n[workspace]\n\n\
             # The workspace's profile: without it every dependency is built\n\
             # a second time into the shared target/, with full debug info.\n\
             [profile.dev]\ndebug = \"line-tables-only\"\n\n\
             [profile.dev.package.\"*\"]\ndebug = false\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    fs::write(dir.join("src/main.rs"), block("```rust,no_run\n")?).map_err(|e| e.to_string())?;
    // The workspace's lock, so the scratch crate builds the versions the
    // workspace was tested with.
    fs::copy(stack.root.join("Cargo.lock"), dir.join("Cargo.lock")).map_err(|e| e.to_string())?;
    run_visible(
        cargo()
            .current_dir(&dir)
            .args(["build", "--quiet"])
            .env("CARGO_TARGET_DIR", stack.root.join("target")),
    )
}

/// The offline template checks: `sam validate --lint`, cfn-lint on both
/// templates, openapi-spec-validator on openapi.yaml, and checkov with
/// exactly the skips listed (with reasons) in checkov-skips.txt. Tool versions are pinned in
/// xtask/stack/requirements-templates.txt, in a venv of their own.
fn check_templates(stack: &Stack) -> Result<()> {
    let venv = stack.venv_named(
        "templates-venv",
        &[stack.root.join("xtask/stack/requirements-templates.txt")],
    )?;
    let bin = |name: &str| {
        let mut cmd = Command::new(venv.join("bin").join(name));
        cmd.current_dir(&stack.root)
            .env("SAM_CLI_TELEMETRY", "0")
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION);
        cmd
    };
    progress!("sam validate --lint");
    run_visible(bin("sam").args(["validate", "--lint", "--template", "template.yaml"]))?;
    progress!("cfn-lint template.yaml tenant-template.yaml");
    run_visible(bin("cfn-lint").args(["template.yaml", "tenant-template.yaml"]))?;
    progress!("openapi-spec-validator openapi.yaml");
    run_visible(bin("openapi-spec-validator").arg("openapi.yaml"))?;

    let skips_file = stack.root.join("checkov-skips.txt");
    let text =
        fs::read_to_string(&skips_file).map_err(|e| format!("{}: {e}", skips_file.display()))?;
    let mut skips = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (id, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        if !id.starts_with("CKV") || reason.trim().is_empty() {
            return Err(format!(
                "checkov-skips.txt: `{line}` needs a check id and a reason"
            ));
        }
        skips.push(id.to_owned());
    }
    progress!("checkov (skipping {})", skips.join(", "));
    run_visible(bin("checkov").args([
        "--framework",
        "cloudformation",
        "--file",
        "template.yaml",
        "--file",
        "tenant-template.yaml",
        "--compact",
        "--quiet",
        "--skip-download",
        "--skip-check",
        &skips.join(","),
    ]))
}

/// Sums of cargo's `test result:` lines across runs.
#[derive(Default)]
struct TestTotals {
    passed: u64,
    failed: u64,
}

impl TestTotals {
    /// Run a `cargo test`, echoing its output and adding up its results.
    fn run(&mut self, cmd: &mut Command) -> Result<()> {
        use std::io::{BufRead, BufReader};
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not run {}: {e}", process::describe(cmd)))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| e.to_string())?;
            println!("{line}");
            if let Some(summary) = line.strip_prefix("test result: ") {
                self.passed += count(summary, "passed");
                self.failed += count(summary, "failed");
            }
        }
        let status = child.wait().map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{} failed ({status})", process::describe(cmd)))
        }
    }
}

/// The number before `label` in `ok. 3 passed; 0 failed; ...`.
fn count(summary: &str, label: &str) -> u64 {
    summary
        .split(';')
        .filter_map(|part| part.trim().rsplit_once(' '))
        .find(|(_, word)| *word == label)
        .and_then(|(number, _)| number.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

fn dev(stack: &Stack) -> Result<()> {
    stack.up()?;
    let venv = stack.venv(&[
        stack.root.join("xtask/stack/requirements.txt"),
        stack.root.join("xtask/stack/requirements-dev.txt"),
    ])?;
    let port = stack.watch_port;
    process::require_free_port(port, "cargo lambda watch", "LOCAL_WATCH_PORT")?;
    // Built before the watcher starts, so the first call answers at once
    // instead of waiting on the watcher's first compile.
    timed("building the functions", || {
        run_visible(cargo().current_dir(&stack.root).args([
            "build",
            "--quiet",
            "-p",
            "s3-fetch",
            "-p",
            "aurora-query",
            "-p",
            "dynamodb-items",
            "-p",
            "search-docs",
        ]))
    })?;
    Api::new(stack).up(&read_env(&stack.env_file())?, port)?;
    println!("\nThe functions are served by `cargo lambda watch` on http://127.0.0.1:{port},");
    println!(
        "behind the local API on http://127.0.0.1:{}, which routes by template.yaml and checks\n\
         every request's JWT (moto's Cognito user pool) as the HttpApi JWT authorizer does.\n\
         Call it as a tenant's user (in another terminal):\n",
        stack.api_port
    );
    for tenant in TENANTS {
        println!("  cargo xtask call --user {tenant}@example.com GET /files/docs/readme.md");
        println!("  cargo xtask call --user {tenant}@example.com GET /records");
    }
    println!(
        "  cargo xtask call --user tenant1@example.com POST /records -d '{{\"name\": \"first\"}}'"
    );
    println!(
        "  cargo xtask call --user tenant1@example.com PUT /items/first -d '{{\"colour\": \"blue\"}}'"
    );
    println!("  cargo xtask call --user tenant1@example.com GET /items");
    println!(
        "  cargo xtask call --user tenant1@example.com PUT /docs/first -d '{{\"title\": \"red fox\"}}'"
    );
    println!("  cargo xtask call --user tenant1@example.com GET '/docs?q=fox'");
    println!(
        "  cargo xtask call --user tenant1@example.com -H 'Content-Type: text/plain' PUT /files/notes/first.txt -d 'hello'"
    );
    println!(
        "\n`--tenant ID` instead skips the authorizer: it invokes the watcher with the claims built in."
    );
    println!(
        "\nor replay a fixture: cargo lambda invoke -A 127.0.0.1 s3-fetch --data-file events/s3-fetch/tenant1-get.json"
    );
    println!(
        "(cargo-lambda is in the venv: PATH={}/bin:$PATH). Editing a handler rebuilds and reloads it.",
        venv.display()
    );
    println!("Ctrl-C stops the watcher; `cargo xtask down` stops PostgreSQL and moto.\n");
    let path = format!(
        "{}/bin:{}",
        venv.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The functions' output is shown and kept, for `cargo xtask usage`.
    println!(
        "Their per-request records go to {} too: `cargo xtask usage` sums them per tenant.\n",
        stack.dir.join(FUNCTIONS_LOG).display()
    );
    process::run_teed(
        cargo()
            .current_dir(&stack.root)
            .env("PATH", path)
            .args([
                "lambda",
                "watch",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
                "--env-file",
            ])
            .arg(stack.functions_env_file()),
        &stack.dir.join(FUNCTIONS_LOG),
    )
}

/// The log `cargo xtask dev` keeps of the functions' output.
const FUNCTIONS_LOG: &str = "functions.log";

/// Where `sam local invoke` finds the stack's CA: copied into each built
/// function's directory, which SAM mounts at `/var/task`.
const SAM_CA: &str = "local-stack-ca.pem";

/// The template's functions: the logical ids of its
/// `AWS::Serverless::Function` resources, in template order.
fn template_functions(root: &Path) -> Result<Vec<String>> {
    let text = fs::read_to_string(root.join("template.yaml")).map_err(|e| e.to_string())?;
    let lines: Vec<&str> = text.lines().collect();
    Ok(lines
        .windows(2)
        .filter(|w| w[1].trim() == "Type: AWS::Serverless::Function")
        .filter_map(|w| {
            let name = w[0].strip_prefix("  ")?.strip_suffix(':')?;
            (!name.starts_with(' ')).then(|| name.to_owned())
        })
        .collect())
}

/// `cargo xtask env --sam`: SAM's `--env-vars` JSON for the running stack,
/// one object per function of the template, written to
/// target/local-stack/sam-env.json. Inside SAM's container the stack is
/// reached over the host network and the CA at `/var/task/<SAM_CA>`,
/// copied into each function `sam build` made.
fn sam_env(stack: &Stack) -> Result<()> {
    let vars = read_env(&stack.functions_env_file())?;
    // db-admin signs as its own identity, which may read the master secret.
    let admin_vars = read_env(&stack.db_admin_env_file())?;
    let ca = vars
        .get("DB_CA_BUNDLE")
        .cloned()
        .ok_or("DB_CA_BUNDLE is missing: restart the stack")?;
    // The REST API's authorizer verifies the local user pool's tokens, its
    // keys fetched through the front, as from cognito-idp.
    let stack_vars = read_env(&stack.env_file())?;
    let stack_var = |name: &str| {
        stack_vars
            .get(name)
            .cloned()
            .ok_or_else(|| format!("{name} is missing: restart the stack"))
    };
    let mut authorizer_vars = BTreeMap::new();
    authorizer_vars.insert("TOKEN_ISSUER".to_owned(), stack_var("STACK_JWT_ISSUER")?);
    authorizer_vars.insert(
        "TOKEN_AUDIENCE".to_owned(),
        stack_var("STACK_USER_POOL_CLIENT_ID")?,
    );
    authorizer_vars.insert(
        "JWKS_URL".to_owned(),
        format!(
            "{}/{}/.well-known/jwks.json",
            stack_var("AWS_ENDPOINT_URL")?,
            stack_var("STACK_USER_POOL_ID")?
        ),
    );
    for name in ["AWS_ENDPOINT_URL", "AWS_REGION", "RUST_LOG"] {
        authorizer_vars.insert(name.to_owned(), stack_var(name)?);
    }
    let mut per_function = serde_json::Map::new();
    for function in template_functions(&stack.root)? {
        let mut env = serde_json::Map::new();
        let vars = match function.as_str() {
            "DbAdminFunction" => &admin_vars,
            "TenantAuthorizerFunction" => &authorizer_vars,
            _ => &vars,
        };
        for (name, value) in vars {
            let value = if name == "DB_CA_BUNDLE" {
                format!("/var/task/{SAM_CA}")
            } else {
                value.clone()
            };
            env.insert(name.clone(), value.into());
        }
        let built = stack.root.join(".aws-sam/build").join(&function);
        if built.is_dir() {
            fs::copy(&ca, built.join(SAM_CA)).map_err(|e| format!("{}: {e}", built.display()))?;
        }
        per_function.insert(function, serde_json::Value::Object(env));
    }
    let path = stack.dir.join("sam-env.json");
    let json = serde_json::to_string_pretty(&per_function).map_err(|e| e.to_string())?;
    fs::write(&path, json + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    let key = |name: &str| vars.get(name).cloned().unwrap_or_default();
    println!("{}", path.display());
    eprintln!(
        "Run a fixture in SAM's container against this stack (after `sam build`; \
         run this command again after each build, it copies the CA in):\n\n  \
         AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} AWS_REGION={} \\\n    \
         sam local invoke AuroraQueryFunction --docker-network host \\\n    \
         --env-vars {} --event events/aurora-query/tenant1-tenant.json",
        key("AWS_ACCESS_KEY_ID"),
        key("AWS_SECRET_ACCESS_KEY"),
        key("AWS_REGION"),
        path.display()
    );
    Ok(())
}

/// `cargo xtask bench [ARGS]`: stack up, bench tenants seeded, release
/// binaries built, then the bench runner (ARGS go to it; `--help` lists them).
fn bench(stack: &Stack, args: &[String]) -> Result<()> {
    // A fresh moto: it scans its sessions linearly, so sessions left by
    // earlier runs would slow every STS and S3 call being measured.
    Moto::new(stack).down()?;
    stack.up()?;
    let tenants: Vec<String> = (1..=BENCH_TENANTS)
        .map(|i| format!("bench{i:03}"))
        .collect();
    timed(
        &format!("seeding {} benchmark tenants", tenants.len()),
        || {
            Moto::new(stack).add_tenants(&tenants, None)?;
            Postgres::ensure_installed(stack)?.add_tenants(&tenants)
        },
    )?;
    let soak = args.iter().any(|a| a == "--soak");
    timed("building release binaries", || {
        let mut build = cargo();
        build.current_dir(&stack.root).args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "s3-fetch",
            "-p",
            "aurora-query",
            "-p",
            "bench",
        ]);
        // The soak counts every allocation, to tell a leak from memory the
        // allocator keeps.
        if soak {
            build.args(["--features", "bench/live-heap"]);
        }
        run_visible(&mut build)
    })?;
    // xtask's own flags; the rest go to the bench runner.
    // The soak drives the functions in-process only.
    let no_http = soak || args.iter().any(|a| a == "--no-http");
    let runner_args: Vec<&String> = args.iter().filter(|a| *a != "--no-http").collect();
    let out = runner_args
        .iter()
        .position(|a| *a == "--out")
        .and_then(|i| runner_args.get(i + 1))
        .map(|p| stack.root.join(p))
        .unwrap_or_else(|| stack.root.join("target/bench/results.json"));
    run_visible(
        Command::new(stack.root.join("target/release/bench"))
            .current_dir(&stack.root)
            .env("TENANT_ACCESS_STACK_ENV", stack.env_file())
            .args(&runner_args),
    )?;
    if no_http {
        return Ok(());
    }
    let text = fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut results: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    http_bench::run_http(stack, &mut results, 20)?;
    fs::write(
        &out,
        serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())
}

/// Check tenant ids by the functions' rule, for the reference design's
/// names (the tenant role assumeRole-<id> and the DB user <id>_dbuser).
fn check_ids(ids: &[String]) -> Result<()> {
    let max = tenant_id::max_len(&tenant_id::DEFAULT_TEMPLATES);
    for id in ids {
        tenant_id::check(id, max).map_err(|e| format!("`{id}` is not a tenant id: {e}"))?;
    }
    Ok(())
}

/// Run each tenant's plan on the deployed stack `name`, one tenant after
/// the other (or print them, with `dry_run`).
fn on_aws(
    root: &Path,
    name: &str,
    dry_run: bool,
    ids: &[String],
    plan: impl Fn(&onboarding::Deployed, &str) -> Result<Vec<onboarding::Step>>,
) -> Result<()> {
    let deployed = onboarding::Deployed::describe(name)?;
    for id in ids {
        onboarding::run_plan(root, &plan(&deployed, id)?, dry_run)?;
    }
    Ok(())
}

/// db-admin's answer, for the log.
fn done(answer: &serde_json::Value) -> String {
    answer["db_users"]
        .as_array()
        .map(|users| {
            users
                .iter()
                .filter_map(|u| u.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// `tenant purge|disable-users ID... --aws --stack NAME [--dry-run]`: one
/// offboarding step for each tenant on the deployed stack: every object
/// version, delete marker, item and search document ([`purge`]), or every user of its group
/// disabled and signed out ([`users`]).
fn tenant_on_aws(
    step: cli::AwsTenantStep,
    ids: &[String],
    stack: &str,
    dry_run: bool,
) -> Result<()> {
    check_ids(ids)?;
    let deployed = onboarding::Deployed::describe(stack)?;
    let (would, did) = if dry_run { ("would ", "") } else { ("", "d") };
    for id in ids {
        match step {
            cli::AwsTenantStep::Purge => {
                let purged = purge::purge("aws", "curl", &deployed, id, dry_run)?;
                progress!(
                    "{would}purge{did} {id}: {} object versions, {} delete markers, {} items, {} documents",
                    purged.versions,
                    purged.markers,
                    purged.items,
                    purged.documents
                );
            }
            cli::AwsTenantStep::DisableUsers => {
                let found = users::disable("aws", &deployed, id, dry_run)?;
                progress!(
                    "{would}disable{did} and sign{} out {found} users of {id} (group {})",
                    if dry_run { "" } else { "ed" },
                    onboarding::tenant_group(id)
                );
            }
        }
    }
    Ok(())
}

/// `cargo xtask tenant remove <id>... [--local | --aws --stack NAME] [--purge] [--key-deletion-days N]`:
/// offboard. With `--local`, on the running local stack: the role deleted,
/// the registry state offboarded, the shared roles' deny extended, the
/// key disabled and scheduled for deletion, the users disabled (moto), and
/// the DB login revoked and dropped through db-admin; objects, items and
/// records kept unless `--purge`. With `--aws`, the same on a deployed stack
/// ([`onboarding::plan_remove`]). Neither: print the psql lines.
fn tenant_remove(
    stack: &Stack,
    ids: &[String],
    target: &onboarding::Target,
    purge: bool,
    key_window_days: u8,
) -> Result<()> {
    check_ids(ids)?;
    match target {
        onboarding::Target::Local => {
            stack.up()?;
            Moto::new(stack).remove_tenants(ids, purge)?;
            let answer = onboarding::invoke_local(stack, &onboarding::offboard_event(ids, purge))?;
            progress!("db-admin offboarded {}", done(&answer));
            for id in ids {
                progress!(
                    "tenant {id} offboarded from the local stack (role deleted, key pending deletion, DB user {id}_dbuser dropped{})",
                    if purge {
                        ", data purged"
                    } else {
                        ", data kept"
                    }
                );
            }
            Ok(())
        }
        onboarding::Target::Aws {
            stack: name,
            dry_run,
        } => on_aws(&stack.root, name, *dry_run, ids, |deployed, id| {
            onboarding::plan_remove(deployed, id, purge, key_window_days)
        }),
        onboarding::Target::Print => {
            for id in ids {
                println!(
                    "-- psql -v tenant_user={id}_dbuser{} -f db/tenant_remove.sql",
                    if purge { " -v purge=1" } else { "" }
                );
            }
            println!(
                "-- Or without a bastion: cargo xtask tenant remove <id> --aws --stack <stack> (db-admin, the key's deletion, the role's stack)."
            );
            Ok(())
        }
    }
}

/// `cargo xtask tenant add <id>... [--local [--tier NAME] | --aws --stack NAME [--user NAME] [--tier NAME]]`:
/// onboard. With `--local`, on the running local stack: the tenant's role,
/// key, objects and user in moto (its registry item naming its tier), and
/// its DB login and metadata row through db-admin. With `--aws`, on a deployed stack ([`onboarding::plan_add`]).
/// Neither: print the idempotent psql script (db/tenant.sql).
fn tenant(
    stack: &Stack,
    ids: &[String],
    target: &onboarding::Target,
    user: Option<&str>,
    tier: Option<&str>,
) -> Result<()> {
    check_ids(ids)?;
    let timeout_ms = postgres::statement_timeout_ms()?;
    match target {
        onboarding::Target::Local => {
            stack.up()?;
            // The database first: it refuses an id offboarded before, so
            // nothing of the old tenant's is made again for a new one.
            let answer =
                onboarding::invoke_local(stack, &onboarding::onboard_event(ids, timeout_ms))?;
            progress!("db-admin onboarded {}", done(&answer));
            Moto::new(stack).add_tenants(ids, tier)?;
            for id in ids {
                progress!(
                    "tenant {id} onboarded on the local stack (role /tenant/assumeRole-{id}, prefix {id}_home/, DB user {id}_dbuser{})",
                    tier.map(|t| format!(", tier {t}")).unwrap_or_default()
                );
            }
            Ok(())
        }
        onboarding::Target::Aws {
            stack: name,
            dry_run,
        } => on_aws(&stack.root, name, *dry_run, ids, |deployed, id| {
            onboarding::plan_add(deployed, id, user, tier, timeout_ms)
        }),
        onboarding::Target::Print => {
            let [id] = ids else {
                return Err(
                    "printing the onboarding script takes one tenant id (several only with --local or --aws)"
                        .to_owned(),
                );
            };
            let sql =
                fs::read_to_string(stack.root.join("db/tenant.sql")).map_err(|e| e.to_string())?;
            print!(
                "-- Onboard tenant {id}: run as the cluster's master user from inside its VPC, e.g.\n\
                 --   cargo xtask tenant add {id} | psql \"host=<cluster endpoint> dbname={DB_NAME} user=saas_admin sslmode=verify-full sslrootcert=ca/rds-ca-bundle.pem\"\n\
                 -- or without a bastion: cargo xtask tenant add {id} --aws --stack <stack>\n\
                 -- Idempotent: safe to run again.\n\
                 \\set ON_ERROR_STOP on\n\
                 \\set tenant_user {id}_dbuser\n\
                 \\set statement_timeout_ms {timeout_ms}\n\n{sql}"
            );
            Ok(())
        }
    }
}

/// `cargo xtask db migrate (--local | --aws --stack NAME)`: apply
/// db/01_schema.sql through db-admin.
fn db_migrate(stack: &Stack, target: &onboarding::Target) -> Result<()> {
    match target {
        onboarding::Target::Local => {
            stack.up()?;
            onboarding::invoke_local(stack, &onboarding::migrate_event())?;
            progress!("db-admin applied db/01_schema.sql to the local database");
            Ok(())
        }
        onboarding::Target::Aws {
            stack: name,
            dry_run,
        } => {
            let deployed = onboarding::Deployed::describe(name)?;
            onboarding::run_plan(
                &stack.root,
                &[onboarding::plan_migrate(&deployed)?],
                *dry_run,
            )
        }
        onboarding::Target::Print => {
            Err("db migrate takes --local or --aws --stack NAME".to_owned())
        }
    }
}

/// Tenants seeded for benchmarks: more than the default cache bounds.
const BENCH_TENANTS: usize = 1000;

/// Onboard the fault suite's tenants on the running stack.
fn seed_fault_tenants(stack: &Stack) -> Result<()> {
    let tenants = fault_tenants();
    timed(
        &format!("seeding {} tenants for the fault suite", tenants.len()),
        || {
            Moto::new(stack).add_tenants(&tenants, None)?;
            Postgres::ensure_installed(stack)?.add_tenants(&tenants)
        },
    )
}

/// The fault suite's tenants (system-tests/tests/faults.rs): `fault001`..
fn fault_tenants() -> Vec<String> {
    (1..=50).map(|i| format!("fault{i:03}")).collect()
}

fn main() -> ExitCode {
    // Progress lines count from here.
    process::elapsed();
    // The whole command line is parsed first: help and mistakes cost nothing.
    let cmd = match cli::parse(std::env::args_os().skip(1)) {
        Ok(cli::Cmd::Help(topic)) => {
            print!("{}", cli::help(topic));
            return ExitCode::SUCCESS;
        }
        Ok(cmd) => cmd,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = Stack::new().and_then(|stack| match cmd {
        cli::Cmd::Help(_) => Ok(()),
        cli::Cmd::Deploy {
            config_env,
            overrides,
            dry_run,
        } => deploy::deploy(
            &stack.root,
            &deploy::Tools::on_path(),
            &config_env,
            &deploy::overrides(&overrides)?,
            dry_run,
        ),
        cli::Cmd::Up { fault_tenants } => {
            stack.up()?;
            if fault_tenants {
                seed_fault_tenants(&stack)?;
            }
            Ok(())
        }
        cli::Cmd::Down => stack.down(),
        cli::Cmd::Dev => dev(&stack),
        cli::Cmd::Test => test(&stack),
        cli::Cmd::Bench(args) => bench(&stack, &args),
        cli::Cmd::CaBundle => ca_bundle::run_command(&stack.root),
        cli::Cmd::Templates => check_templates(&stack),
        cli::Cmd::Tenant {
            ids,
            target,
            user,
            tier,
        } => tenant(&stack, &ids, &target, user.as_deref(), tier.as_deref()),
        cli::Cmd::TenantRemove {
            ids,
            target,
            purge,
            key_window_days,
        } => tenant_remove(&stack, &ids, &target, purge, key_window_days),
        cli::Cmd::TenantOnAws {
            step,
            ids,
            stack: name,
            dry_run,
        } => tenant_on_aws(step, &ids, &name, dry_run),
        cli::Cmd::DbMigrate { target } => db_migrate(&stack, &target),
        cli::Cmd::Call(args) => call::run(&args, &stack.env_file(), stack.watch_port),
        cli::Cmd::Fixtures { check } => fixtures::run(&stack.root, check),
        cli::Cmd::Env { sam: false } => fs::read_to_string(stack.functions_env_file())
            .map(|text| print!("{text}"))
            .map_err(|_| "the stack is not up: run `cargo xtask up`".to_owned()),
        cli::Cmd::Env { sam: true } => sam_env(&stack),
        cli::Cmd::Capacity(inputs) => {
            print!("{}", capacity_model::report(&inputs));
            Ok(())
        }
        cli::Cmd::Usage { file } => {
            let path = file
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| stack.dir.join(FUNCTIONS_LOG));
            fs::read_to_string(&path)
                .map(|log| print!("{}", usage::table(&usage::summarize(&log))))
                .map_err(|e| {
                    format!(
                        "{}: {e} (run `cargo xtask dev` and call the API first, or name a log)",
                        path.display()
                    )
                })
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}
