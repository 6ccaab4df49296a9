//! Small helpers around `std::process` and loopback sockets.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub type Result<T> = std::result::Result<T, String>;

/// `cmd` for messages: program and arguments only. (`{cmd:?}` would also
/// print environment overrides such as `PGPASSWORD`.)
pub fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// `cmd.output()`, tried again for up to a second while its program is
/// still open for writing somewhere (`ETXTBSY`): a script just written, whose
/// descriptor a process forked meanwhile by another thread still holds
/// until that process execs, as the tests' stand-ins are.
pub fn output(cmd: &mut Command) -> std::io::Result<Output> {
    const TEXT_FILE_BUSY: i32 = 26;
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match cmd.output() {
            Err(e) if e.raw_os_error() == Some(TEXT_FILE_BUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Run `cmd`, failing with its stderr if it exits non-zero.
pub fn run(cmd: &mut Command) -> Result<Output> {
    let output = output(cmd).map_err(|e| format!("could not run {}: {e}", describe(cmd)))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "{} failed ({}):\n{}{}",
            describe(cmd),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Run `cmd` with inherited stdio, failing if it exits non-zero.
pub fn run_visible(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .map_err(|e| format!("could not run {}: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed ({status})", describe(cmd)))
    }
}

/// Run `cmd` in the foreground, its output (stdout and stderr) shown as
/// usual and appended to `log` line by line as it comes.
pub fn run_teed(cmd: &mut Command, log: &Path) -> Result<()> {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let file = Arc::new(Mutex::new(file));
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run {}: {e}", describe(cmd)))?;
    let copy = |stream: Box<dyn Read + Send>, to_stderr: bool| {
        let file = Arc::clone(&file);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if to_stderr {
                    eprintln!("{line}");
                } else {
                    println!("{line}");
                }
                let _ = writeln!(file.lock().expect("log lock"), "{line}");
            }
        })
    };
    let out = copy(Box::new(child.stdout.take().ok_or("no stdout")?), false);
    let err = copy(Box::new(child.stderr.take().ok_or("no stderr")?), true);
    let status = child
        .wait()
        .map_err(|e| format!("{}: {e}", describe(cmd)))?;
    let _ = (out.join(), err.join());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed ({status})", describe(cmd)))
    }
}

/// Whether the xtask runs as root (asked once).
pub fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false)
    })
}

/// Start `cmd` in the background in its own process group, with stdout and
/// stderr going to `log`, so it outlives the xtask and can be stopped whole.
pub fn spawn_background(cmd: &mut Command, log: &Path) -> Result<Child> {
    let file = fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(file.try_clone().map_err(|e| e.to_string())?)
        .stderr(file)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", describe(cmd)))
}

/// Stop the process group led by `pid` and wait up to 5 s for `pid` to go.
pub fn stop_group(pid: u32) {
    let _ = Command::new("kill")
        .arg("--")
        .arg(format!("-{pid}"))
        .status();
    for _ in 0..50 {
        if !pid_alive(pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Whether something accepts connections on 127.0.0.1:`port`.
pub fn port_in_use(port: u16) -> bool {
    TcpListener::bind(loopback(port)).is_err()
        || TcpStream::connect_timeout(&loopback(port), Duration::from_millis(200)).is_ok()
}

/// Fail with a clear message if `port` is taken.
pub fn require_free_port(port: u16, what: &str, variable: &str) -> Result<()> {
    if port_in_use(port) {
        return Err(format!(
            "port {port} on 127.0.0.1, wanted for {what}, is already in use by another process. \
             Stop that process or choose another port with {variable}=<port>."
        ));
    }
    Ok(())
}

pub fn wait_for_port(port: u16, what: &str, timeout: Duration, log: &Path) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if TcpStream::connect_timeout(&loopback(port), Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "{what} did not start listening on port {port} within {timeout:?}; see {}",
        log.display()
    ))
}

/// A minimal HTTP/1.1 request to a loopback server; returns (status, body).
pub fn http(port: u16, method: &str, path: &str, body: &str) -> Result<(u16, String)> {
    http_with_timeout(port, method, path, body, Duration::from_secs(10))
}

/// [`http`] with a timeout of `timeout` for the whole exchange.
pub fn http_with_timeout(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
    timeout: Duration,
) -> Result<(u16, String)> {
    let url = format!("http://127.0.0.1:{port}{path}");
    let reply = crate::http::send(
        method,
        &url,
        &[("content-type", "text/plain")],
        Some(body.as_bytes()),
        timeout,
    )
    .map_err(|e| format!("127.0.0.1:{port}: {e}"))?;
    Ok((
        reply.status,
        String::from_utf8_lossy(&reply.body).into_owned(),
    ))
}

/// Whether a process with this pid is alive: it exists and is not a
/// zombie (a killed daemon whose parent never reaped it keeps its pid).
pub fn pid_alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // `pid (comm) state ...`: comm may hold spaces and parentheses.
            let (_, rest) = stat.rsplit_once(')')?;
            rest.split_whitespace()
                .next()
                .map(|state| !matches!(state, "Z" | "X"))
        })
        .unwrap_or(false)
}

/// Whether something accepts connections on 127.0.0.1:`port`.
pub fn port_answers(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

pub fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Seconds since xtask started (the first call marks the start).
pub fn elapsed() -> f64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// Run a slow step between two progress lines: what starts, and how long it
/// took (or that it failed, and after how long).
pub fn timed<T>(what: &str, step: impl FnOnce() -> Result<T>) -> Result<T> {
    progress!("{what} ...");
    let start = Instant::now();
    let result = step();
    let took = start.elapsed().as_secs_f64();
    match &result {
        Ok(_) => progress!("{what}: done in {took:.1}s"),
        Err(_) => progress!("{what}: failed after {took:.1}s"),
    }
    result
}

/// An executable shell script `body` named `name` in `dir`, standing in for
/// a program a test must not run for real (the `aws` CLI); its path.
#[cfg(test)]
pub(crate) fn stand_in(dir: &std::path::Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("a scratch directory");
    let script = dir.join(name);
    std::fs::write(&script, format!("#!/bin/sh\n{body}")).expect("the stand-in is written");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("the stand-in is executable");
    script.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child that exited but was not reaped is a zombie: its pid is still
    /// in /proc, and it is not alive.
    #[test]
    fn a_zombie_is_not_alive() {
        let mut child = Command::new("true").spawn().expect("true runs");
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(5);
        while pid_alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            Path::new(&format!("/proc/{pid}")).exists(),
            "not reaped yet"
        );
        assert!(!pid_alive(pid), "a zombie counts as dead");
        child.wait().unwrap();
        assert!(!pid_alive(pid));
        assert!(pid_alive(std::process::id()), "this process is alive");
    }

    #[test]
    fn a_closed_port_does_not_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(port_answers(port));
        drop(listener);
        // A child forked meanwhile by a test running beside this one holds
        // a copy of the socket until it execs: the port closes with the
        // last copy.
        let deadline = Instant::now() + Duration::from_secs(2);
        while port_answers(port) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!port_answers(port));
    }
}
