//! The local AWS front (`tools/local-front`) before moto: the functions'
//! and tests' `AWS_ENDPOINT_URL`. It records every STS session and enforces
//! what moto cannot (session policies, session tags, conditions, expiry) on
//! S3, from the seed's registry of deployed roles; faults on command.

use crate::Stack;
use crate::daemon::Daemon;
use crate::process::Result;

pub struct Front<'a> {
    daemon: Daemon<'a>,
}

impl<'a> Front<'a> {
    pub fn new(stack: &'a Stack) -> Self {
        Front {
            daemon: Daemon {
                stack,
                what: "AWS front",
                package: "local-front",
                binary: "local-front",
                stem: "front",
                port: stack.front_port,
                port_var: "LOCAL_FRONT_PORT",
            },
        }
    }

    pub fn up(&self) -> Result<()> {
        let stack = self.daemon.stack;
        let args = [
            "--listen",
            &format!("127.0.0.1:{}", stack.front_port),
            "--upstream",
            &format!("127.0.0.1:{}", stack.moto_port),
            "--registry",
            &stack.registry_file().display().to_string(),
        ]
        .map(str::to_owned);
        self.daemon.up(&args)
    }

    pub fn down(&self) -> Result<()> {
        self.daemon.down()
    }
}

/// The local API Gateway (`local-api`, in `tools/local-front`) before
/// `cargo lambda watch`: routes by template.yaml, authorizes every request
/// with the user pool's JWTs, as the HttpApi JWT authorizer does.
pub struct Api<'a> {
    daemon: Daemon<'a>,
}

impl<'a> Api<'a> {
    pub fn new(stack: &'a Stack) -> Self {
        Api {
            daemon: Daemon {
                stack,
                what: "local API (JWT-authorized)",
                package: "local-front",
                binary: "local-api",
                stem: "api",
                port: stack.api_port,
                port_var: "LOCAL_API_PORT",
            },
        }
    }

    /// Serve the API before the watcher on `watcher_port`, trusting the
    /// issuer, audience and JWKS named in the stack's environment.
    pub fn up(
        &self,
        env: &std::collections::BTreeMap<String, String>,
        watcher_port: u16,
    ) -> Result<()> {
        let stack = self.daemon.stack;
        let var = |name: &str| {
            env.get(name)
                .cloned()
                .ok_or_else(|| format!("{name} is not in the stack's environment"))
        };
        let args = [
            "--listen".to_owned(),
            format!("127.0.0.1:{}", stack.api_port),
            "--watcher".to_owned(),
            format!("127.0.0.1:{watcher_port}"),
            "--template".to_owned(),
            stack.root.join("template.yaml").display().to_string(),
            "--issuer".to_owned(),
            var("STACK_JWT_ISSUER")?,
            "--audience".to_owned(),
            var("STACK_USER_POOL_CLIENT_ID")?,
            "--jwks-url".to_owned(),
            var("STACK_JWKS_URL")?,
        ];
        self.daemon.up(&args)
    }

    pub fn down(&self) -> Result<()> {
        self.daemon.down()
    }
}
