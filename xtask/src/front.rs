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
