//! The warm scenario through HTTP: `cargo lambda watch` (release build) with
//! `wrk` POSTing fixture events to its Lambda Invoke endpoint. Shows what
//! the emulator adds on top of the in-process figures of `bench`.

use std::fs;
use std::process::Command;
use std::time::Duration;

use crate::process::{
    Result, is_root, require_free_port, run, spawn_background, stop_group, wait_for_port,
};
use crate::{Stack, cargo};

/// (function, fixture) pairs driven through HTTP.
const TARGETS: [(&str, &str); 2] = [
    ("s3-fetch", "events/s3-fetch/tenant1-get.json"),
    ("aurora-query", "events/aurora-query/tenant1-tenant.json"),
];

fn ensure_wrk() -> Result<()> {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return Ok(());
    }
    if !is_root() {
        return Err("wrk is not installed (Debian: apt-get install wrk)".into());
    }
    crate::postgres::apt_install(&["wrk"])
}

/// Run the HTTP scenario and append its figures to `results`.
pub fn run_http(stack: &Stack, results: &mut serde_json::Value, seconds: u64) -> Result<()> {
    ensure_wrk()?;
    // `stack.bench_port` (LOCAL_BENCH_PORT) defaults below the ephemeral
    // range (Linux: 32768 to 60999): after the in-process scenarios'
    // thousands of connections, a port inside it may be held by an outgoing
    // socket, and binding it fails although nothing listens there.
    let port = stack.bench_port;
    require_free_port(
        port,
        "the benchmark's cargo lambda watch",
        "LOCAL_BENCH_PORT",
    )?;
    let venv = stack.venv(&[
        stack.root.join("xtask/stack/requirements.txt"),
        stack.root.join("xtask/stack/requirements-dev.txt"),
    ])?;
    let path = format!(
        "{}/bin:{}",
        venv.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut watch = spawn_background(
        cargo()
            .current_dir(&stack.root)
            .env("PATH", &path)
            .args([
                "lambda",
                "watch",
                "--release",
                "--invoke-address",
                "127.0.0.1",
            ])
            .args(["--invoke-port", &port.to_string(), "--env-file"])
            .arg(stack.dir.join("functions.env"))
            .env("RUST_LOG", "warn"),
        &stack.dir.join("bench-watch.log"),
    )?;
    let outcome = (|| -> Result<()> {
        wait_for_port(
            port,
            "cargo lambda watch",
            Duration::from_secs(120),
            &stack.dir.join("bench-watch.log"),
        )?;
        for (function, fixture) in TARGETS {
            let url =
                format!("http://127.0.0.1:{port}/2015-03-31/functions/{function}/invocations");
            let body = fs::read_to_string(stack.root.join(fixture)).map_err(|e| e.to_string())?;
            let script = stack.dir.join(format!("wrk-{function}.lua"));
            fs::write(&script, format!("wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = [==[{body}]==]\n"))
                .map_err(|e| e.to_string())?;
            // The first invocation compiles and starts the function, which
            // may take minutes after a change: wait for its first answer.
            first_answer(&url, body.as_bytes(), Duration::from_secs(900))?;
            // Warm-up.
            run(Command::new("wrk")
                .args(["-t1", "-c1", "-d15s", "-s"])
                .arg(&script)
                .arg(&url))?;
            let out = run(Command::new("wrk")
                .args(["-t1", "-c1", &format!("-d{seconds}s"), "--latency", "-s"])
                .arg(&script)
                .arg(&url))?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let pct = |label: &str| percentile_us(&text, label);
            let requests = text
                .lines()
                .find(|l| l.contains("requests in"))
                .and_then(|l| l.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0);
            let non_2xx = text
                .lines()
                .find(|l| l.contains("Non-2xx"))
                .and_then(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                .unwrap_or(0);
            println!(
                "{function:<13} http   (cargo lambda watch + wrk, 1 connection, {seconds} s): p50 {:.0} us, p90 {:.0} us, p99 {:.0} us, {requests} requests, {non_2xx} non-2xx",
                pct("50%"),
                pct("90%"),
                pct("99%")
            );
            // A scenario that measured nothing is a failed bench, not zeros
            // in the results.
            if requests == 0 || non_2xx == requests {
                return Err(format!(
                    "{function} http: wrk completed {requests} requests ({non_2xx} non-2xx): nothing was measured; wrk said:\n{text}"
                ));
            }
            if let Some(list) = results["scenarios"].as_array_mut() {
                list.push(serde_json::json!({
                    "function": function, "scenario": "http", "tenants": 1, "requests": requests,
                    "p50_us": pct("50%"), "p90_us": pct("90%"), "p99_us": pct("99%"), "non_2xx": non_2xx,
                    "via": "cargo lambda watch --release, wrk -c1 POST to the Invoke API",
                }));
            }
        }
        Ok(())
    })();
    stop_group(watch.id());
    let _ = watch.wait();
    outcome
}

/// wrk prints e.g. `     50%  312.00us` or `99%    1.20ms`.
fn percentile_us(text: &str, label: &str) -> f64 {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(label))
        .and_then(|v| {
            let v = v.trim();
            let (number, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
            let n: f64 = number.parse().ok()?;
            Some(match unit {
                "us" => n,
                "ms" => n * 1e3,
                "s" => n * 1e6,
                _ => return None,
            })
        })
        .unwrap_or(f64::NAN)
}

/// Wait until one invocation at `url` is answered 200, or `within` passes.
fn first_answer(url: &str, body: &[u8], within: Duration) -> Result<()> {
    let started = std::time::Instant::now();
    let json = [("content-type", "application/json")];
    loop {
        let left = within.saturating_sub(started.elapsed());
        match crate::http::send(
            "POST",
            url,
            &json,
            Some(body),
            left.max(Duration::from_secs(1)),
        ) {
            Ok(reply) if reply.status == 200 => return Ok(()),
            _ if started.elapsed() >= within => {
                return Err(format!(
                    "{url}: no answer from the watcher within {within:?} (see target/local-stack/bench-watch.log)"
                ));
            }
            _ => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}
