//! A workspace binary run in the background as part of the local stack
//! (the token verifier, the AWS front): built, started with its log and pid
//! file under the stack dir, waited for on its port, and stopped.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::process::{
    Result, pid_alive, port_answers, read_pid, require_free_port, run_visible, spawn_background,
    stop_group, timed, wait_for_port,
};
use crate::{Stack, cargo};

pub struct Daemon<'a> {
    pub stack: &'a Stack,
    /// What it is, for progress lines.
    pub what: &'static str,
    /// Its package.
    pub package: &'static str,
    /// Its binary in that package.
    pub binary: &'static str,
    /// Its pid file and log are `<stem>.pid` and `<stem>.log`.
    pub stem: &'static str,
    pub port: u16,
    /// The variable that moves its port.
    pub port_var: &'static str,
}

impl Daemon<'_> {
    fn pid_file(&self) -> PathBuf {
        self.stack.dir.join(format!("{}.pid", self.stem))
    }

    pub fn log(&self) -> PathBuf {
        self.stack.dir.join(format!("{}.log", self.stem))
    }

    /// Alive and answering on its port: a pid alone is not enough (a
    /// killed daemon can leave a zombie, or a live process stuck without
    /// its listener).
    pub fn is_running(&self) -> bool {
        read_pid(&self.pid_file()).is_some_and(pid_alive) && port_answers(self.port)
    }

    /// Build and start it with `args`, unless it runs already; one whose
    /// process is gone or no longer answers on its port is restarted.
    pub fn up(&self, args: &[String]) -> Result<()> {
        let port = self.port;
        if self.is_running() {
            progress!("{} already running on port {port}", self.what);
            return Ok(());
        }
        if let Some(pid) = read_pid(&self.pid_file()) {
            progress!(
                "{} (pid {pid}) is not answering on port {port}; restarting it",
                self.what
            );
            if pid_alive(pid) {
                stop_group(pid);
            }
            let _ = fs::remove_file(self.pid_file());
        }
        require_free_port(port, self.what, self.port_var)?;
        timed(&format!("building {}", self.binary), || {
            run_visible(cargo().current_dir(&self.stack.root).args([
                "build",
                "--quiet",
                "-p",
                self.package,
                "--bin",
                self.binary,
            ]))
        })?;
        let binary = self.stack.root.join("target/debug").join(self.binary);
        let child = spawn_background(Command::new(binary).args(args), &self.log())?;
        fs::write(self.pid_file(), child.id().to_string()).map_err(|e| e.to_string())?;
        wait_for_port(port, self.what, Duration::from_secs(10), &self.log())?;
        progress!("{} listening on 127.0.0.1:{port}", self.what);
        Ok(())
    }

    pub fn down(&self) -> Result<()> {
        if let Some(pid) = read_pid(&self.pid_file()).filter(|pid| pid_alive(*pid)) {
            stop_group(pid);
            progress!("{} stopped", self.what);
        }
        let _ = fs::remove_file(self.pid_file());
        Ok(())
    }
}
