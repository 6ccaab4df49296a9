//! The local RDS IAM-auth verifier (`tools/rds-iam-verifier`): PostgreSQL
//! hands every `rds_iam` login to it over LDAP simple bind.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::process::{
    Result, pid_alive, read_pid, require_free_port, run_visible, spawn_background, stop_group,
    timed, wait_for_port,
};
use crate::{ACCOUNT, CLUSTER_RESOURCE_ID, REGION, Stack, cargo};

/// The DN PostgreSQL binds with is `uid=<user>,ou=rds-iam`.
pub const LDAP_PREFIX: &str = "uid=";
pub const LDAP_SUFFIX: &str = ",ou=rds-iam";

pub struct Verifier<'a> {
    stack: &'a Stack,
}

impl<'a> Verifier<'a> {
    pub fn new(stack: &'a Stack) -> Self {
        Verifier { stack }
    }

    fn pid_file(&self) -> PathBuf {
        self.stack.dir.join("verifier.pid")
    }
    pub fn log(&self) -> PathBuf {
        self.stack.dir.join("verifier.log")
    }

    fn is_running(&self) -> bool {
        read_pid(&self.pid_file()).is_some_and(pid_alive)
    }

    pub fn up(&self) -> Result<()> {
        let port = self.stack.verifier_port;
        if self.is_running() {
            progress!("IAM-token verifier already running on port {port}");
            return Ok(());
        }
        require_free_port(port, "the IAM-token verifier", "LOCAL_VERIFIER_PORT")?;
        timed("building the IAM-token verifier", || {
            run_visible(cargo().current_dir(&self.stack.root).args([
                "build",
                "--quiet",
                "-p",
                "rds-iam-verifier",
            ]))
        })?;
        let binary = self.stack.root.join("target/debug/rds-iam-verifier");
        let child = spawn_background(
            Command::new(binary)
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .args(["--moto", &format!("127.0.0.1:{}", self.stack.moto_port)])
                .args([
                    "--db-host",
                    "localhost",
                    "--db-ports",
                    &format!("{},{}", self.stack.pg_port, self.stack.pg_front_port),
                ])
                .args([
                    "--region",
                    REGION,
                    "--account",
                    ACCOUNT,
                    "--cluster-resource-id",
                    CLUSTER_RESOURCE_ID,
                ])
                .args(["--dn-prefix", LDAP_PREFIX, "--dn-suffix", LDAP_SUFFIX]),
            &self.log(),
        )?;
        fs::write(self.pid_file(), child.id().to_string()).map_err(|e| e.to_string())?;
        wait_for_port(
            port,
            "the IAM-token verifier",
            Duration::from_secs(10),
            &self.log(),
        )?;
        progress!("IAM-token verifier listening on 127.0.0.1:{port}");
        Ok(())
    }

    pub fn down(&self) -> Result<()> {
        if let Some(pid) = read_pid(&self.pid_file()).filter(|pid| pid_alive(*pid)) {
            stop_group(pid);
            progress!("IAM-token verifier stopped");
        }
        let _ = fs::remove_file(self.pid_file());
        Ok(())
    }
}
