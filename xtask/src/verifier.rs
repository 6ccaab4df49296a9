//! The local RDS IAM-auth verifier (`tools/rds-iam-verifier`): PostgreSQL
//! hands every `rds_iam` login to it over LDAP simple bind.

use std::path::PathBuf;

use crate::daemon::Daemon;
use crate::process::Result;
use crate::{ACCOUNT, CLUSTER_RESOURCE_ID, REGION, Stack};

/// The DN PostgreSQL binds with is `uid=<user>,ou=rds-iam`.
pub const LDAP_PREFIX: &str = "uid=";
pub const LDAP_SUFFIX: &str = ",ou=rds-iam";

pub struct Verifier<'a> {
    daemon: Daemon<'a>,
}

impl<'a> Verifier<'a> {
    pub fn new(stack: &'a Stack) -> Self {
        Verifier {
            daemon: Daemon {
                stack,
                what: "IAM-token verifier",
                package: "rds-iam-verifier",
                binary: "rds-iam-verifier",
                stem: "verifier",
                port: stack.verifier_port,
                port_var: "LOCAL_VERIFIER_PORT",
            },
        }
    }

    pub fn log(&self) -> PathBuf {
        self.daemon.log()
    }

    pub fn up(&self) -> Result<()> {
        let stack = self.daemon.stack;
        let args = [
            "--listen",
            &format!("127.0.0.1:{}", stack.verifier_port),
            "--moto",
            &format!("127.0.0.1:{}", stack.moto_port),
            "--front",
            &format!("127.0.0.1:{}", stack.front_port),
            "--registry",
            &stack.registry_file().display().to_string(),
            "--db-host",
            "localhost",
            "--db-ports",
            &format!("{},{}", stack.pg_port, stack.pg_front_port),
            "--region",
            REGION,
            "--account",
            ACCOUNT,
            "--cluster-resource-id",
            CLUSTER_RESOURCE_ID,
            "--dn-prefix",
            LDAP_PREFIX,
            "--dn-suffix",
            LDAP_SUFFIX,
        ]
        .map(str::to_owned);
        self.daemon.up(&args)
    }

    pub fn down(&self) -> Result<()> {
        self.daemon.down()
    }
}
