//! The local AWS: moto server (STS, IAM, S3) from a pinned venv, seeded with
//! the reference design's roles and objects, then IAM enforcement switched on.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::process::{
    Result, http, pid_alive, read_pid, require_free_port, run, spawn_background, stop_group,
    wait_for_port,
};
use crate::{ACCOUNT, BUCKET, CLUSTER_RESOURCE_ID, REGION, Stack, TENANTS};

/// What the seed made that the stack's environment names: the execution
/// identity's keys, and the Cognito user pool that issues the API's JWTs
/// (with a second app client and a second pool for the authorizer's tests).
pub struct ExecutionKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub user_pool_id: String,
    pub user_pool_client_id: String,
    pub other_client_id: String,
    pub other_pool_id: String,
    pub other_pool_client_id: String,
    pub user_password: String,
    /// The local identity pool (served by the front), for `identity-pool`.
    pub identity_pool_id: String,
    /// The items table.
    pub table: String,
    /// The tenant registry's table.
    pub registry: String,
    /// db-admin's identity (the stand-in for its execution role): its keys.
    pub db_admin_access_key_id: String,
    /// Its secret key.
    pub db_admin_secret_access_key: String,
    /// The master user's secret it reads.
    pub db_admin_secret_id: String,
}

pub struct Moto<'a> {
    stack: &'a Stack,
}

impl<'a> Moto<'a> {
    pub fn new(stack: &'a Stack) -> Self {
        Moto { stack }
    }

    fn pid_file(&self) -> PathBuf {
        self.stack.dir.join("moto.pid")
    }
    fn log(&self) -> PathBuf {
        self.stack.dir.join("moto.log")
    }
    fn keys_file(&self) -> PathBuf {
        self.stack.dir.join("moto-keys.json")
    }

    pub fn is_running(&self) -> bool {
        read_pid(&self.pid_file()).is_some_and(pid_alive)
            && http(self.stack.moto_port, "GET", "/moto-api/data.json", "")
                .is_ok_and(|(s, _)| s == 200)
            && self.keys_file().exists()
    }

    /// Start and seed moto, or reuse the one this stack started before.
    /// `admin_password` is the database's master password, which the seed
    /// keeps in the master user's secret for db-admin.
    pub fn up(&self, admin_password: &str) -> Result<ExecutionKeys> {
        let port = self.stack.moto_port;
        if self.is_running() {
            progress!("moto already running on port {port}");
            return self.keys();
        }
        require_free_port(port, "moto", "LOCAL_MOTO_PORT")?;
        let venv = self
            .stack
            .venv(&[self.stack.root.join("xtask/stack/requirements.txt")])?;
        let child = spawn_background(
            Command::new(venv.join("bin/moto_server"))
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                // Unauthenticated while seeding; enforcement goes on right after.
                .env("INITIAL_NO_AUTH_ACTION_COUNT", "inf"),
            &self.log(),
        )?;
        fs::write(self.pid_file(), child.id().to_string()).map_err(|e| e.to_string())?;
        wait_for_port(port, "moto", Duration::from_secs(60), &self.log())?;

        let tenants: Vec<String> = TENANTS.iter().map(|t| t.to_string()).collect();
        let seeded = self.seed_with(
            &venv,
            &tenants,
            &[],
            &[
                ("STACK_DB_ADMIN_USER", crate::postgres::MASTER_USER),
                ("STACK_DB_ADMIN_PASSWORD", admin_password),
            ],
        )?;
        fs::write(self.keys_file(), &seeded).map_err(|e| e.to_string())?;
        self.enforce()?;
        let endpoint = self.endpoint();
        progress!("moto started on {endpoint} with IAM enforcement on");
        self.keys()
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.stack.moto_port)
    }

    /// Run the seed script; returns what it printed.
    fn seed(&self, venv: &std::path::Path, tenants: &[String], extra: &[&str]) -> Result<Vec<u8>> {
        self.seed_with(venv, tenants, extra, &[])
    }

    /// [`seed`](Self::seed) with `env` set for it.
    fn seed_with(
        &self,
        venv: &std::path::Path,
        tenants: &[String],
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Vec<u8>> {
        let out = run(Command::new(venv.join("bin/python"))
            .envs(env.iter().copied())
            .arg(self.stack.root.join("xtask/stack/seed_moto.py"))
            .args([
                &self.endpoint(),
                REGION,
                ACCOUNT,
                BUCKET,
                CLUSTER_RESOURCE_ID,
                &tenants.join(","),
            ])
            .arg("--registry")
            .arg(self.stack.registry_file())
            .args(extra))?;
        Ok(out.stdout)
    }

    /// Switch IAM enforcement on: no unauthenticated actions left.
    fn enforce(&self) -> Result<()> {
        let (status, body) = http(self.stack.moto_port, "POST", "/moto-api/reset-auth", "0")?;
        if status == 200 {
            Ok(())
        } else {
            Err(format!(
                "switching moto's IAM enforcement on failed: {status} {body}"
            ))
        }
    }

    /// Run `work` with the stack's venv while moto accepts unauthenticated
    /// calls (as while seeding at start-up), then switch enforcement back
    /// on, whether `work` succeeded or not.
    fn unenforced<T>(&self, work: impl FnOnce(&std::path::Path) -> Result<T>) -> Result<T> {
        let venv = self
            .stack
            .venv(&[self.stack.root.join("xtask/stack/requirements.txt")])?;
        http(
            self.stack.moto_port,
            "POST",
            "/moto-api/reset-auth",
            "1000000",
        )?;
        let done = work(&venv);
        self.enforce()?;
        done
    }

    /// Add tenant roles and objects to the running server, their registry
    /// items naming `tier` when given. Enforcement is off only while
    /// seeding, as at start-up.
    pub fn add_tenants(&self, tenants: &[String], tier: Option<&str>) -> Result<()> {
        let mut extra = vec!["--tenants-only"];
        extra.extend(tier.iter().flat_map(|tier| ["--tier", *tier]));
        self.unenforced(|venv| self.seed(venv, tenants, &extra).map(|_| ()))
    }

    /// Offboard tenants from the running server and the registry (role
    /// deleted, key scheduled for deletion, user disabled; objects and items
    /// kept unless `purge`). Enforcement is off only while it runs.
    pub fn remove_tenants(&self, tenants: &[String], purge: bool) -> Result<()> {
        self.unenforced(|venv| {
            let mut command = Command::new(venv.join("bin/python"));
            command
                .arg(self.stack.root.join("xtask/stack/offboard_moto.py"))
                .args([
                    &self.endpoint(),
                    REGION,
                    ACCOUNT,
                    BUCKET,
                    &tenants.join(","),
                ])
                .arg("--registry")
                .arg(self.stack.registry_file())
                // The search domain is the front's.
                .arg("--search")
                .arg(format!("http://127.0.0.1:{}", self.stack.front_port));
            if purge {
                command.arg("--purge");
            }
            // What a purge removed, counted per store.
            let out = run(&mut command)?;
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                progress!("{line}");
            }
            Ok(())
        })
    }

    fn keys(&self) -> Result<ExecutionKeys> {
        let text = fs::read_to_string(self.keys_file()).map_err(|e| e.to_string())?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("seed output: {e}"))?;
        let field = |name: &str| {
            json[name]
                .as_str()
                .map(str::to_owned)
                .ok_or(format!("seed output lacks {name}"))
        };
        Ok(ExecutionKeys {
            access_key_id: field("access_key_id")?,
            secret_access_key: field("secret_access_key")?,
            user_pool_id: field("user_pool_id")?,
            user_pool_client_id: field("user_pool_client_id")?,
            other_client_id: field("other_client_id")?,
            other_pool_id: field("other_pool_id")?,
            other_pool_client_id: field("other_pool_client_id")?,
            user_password: field("user_password")?,
            identity_pool_id: field("identity_pool_id")?,
            table: field("table")?,
            registry: field("registry")?,
            db_admin_access_key_id: field("db_admin_access_key_id")?,
            db_admin_secret_access_key: field("db_admin_secret_access_key")?,
            db_admin_secret_id: field("db_admin_secret_id")?,
        })
    }

    pub fn down(&self) -> Result<()> {
        if let Some(pid) = read_pid(&self.pid_file()).filter(|pid| pid_alive(*pid)) {
            // moto_server runs in its own process group: end the whole group.
            stop_group(pid);
            progress!("moto stopped");
        }
        let _ = fs::remove_file(self.pid_file());
        let _ = fs::remove_file(self.keys_file());
        Ok(())
    }
}
