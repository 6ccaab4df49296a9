//! `local-front`: the local AWS front as a process, between the functions
//! (and tests) and moto. `cargo xtask up` starts it and points
//! `AWS_ENDPOINT_URL` at it.
//!
//! ```text
//! local-front --listen 127.0.0.1:25501 --upstream 127.0.0.1:25500 \
//!             --registry target/local-stack/iam-roles.json
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use local_front::HttpFront;

const USAGE: &str = "usage: local-front --listen ADDR --upstream ADDR [--registry iam-roles.json]";

struct Args {
    listen: SocketAddr,
    upstream: SocketAddr,
    registry: Option<PathBuf>,
}

fn args() -> Result<Args, String> {
    let (mut listen, mut upstream, mut registry) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--listen" => listen = Some(value()?),
            "--upstream" => upstream = Some(value()?),
            "--registry" => registry = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let addr = |name: &str, v: Option<String>| -> Result<SocketAddr, String> {
        let v = v.ok_or(format!("{name} is required\n{USAGE}"))?;
        v.parse().map_err(|e| format!("{name} {v}: {e}"))
    };
    Ok(Args {
        listen: addr("--listen", listen)?,
        upstream: addr("--upstream", upstream)?,
        registry,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("local-front: {e}");
            return ExitCode::FAILURE;
        }
    };
    let front = match args.registry {
        Some(registry) => HttpFront::start_enforcing(args.listen, args.upstream, registry).await,
        None => HttpFront::start(args.listen, args.upstream).await,
    };
    match front {
        Ok(front) => {
            eprintln!(
                "local-front: listening on {}, before {}",
                front.addr(),
                args.upstream
            );
            // Serve until killed.
            std::future::pending::<()>().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("local-front: {}: {e}", args.listen);
            ExitCode::FAILURE
        }
    }
}
