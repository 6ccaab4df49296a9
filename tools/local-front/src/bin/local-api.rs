//! `local-api`: the local API Gateway (see `local_front::api`), started by
//! `cargo xtask dev` in front of `cargo lambda watch`.
//!
//! ```text
//! local-api --listen 127.0.0.1:25502 --watcher 127.0.0.1:9000 --template template.yaml \
//!           --issuer https://cognito-idp.us-east-1.amazonaws.com/<pool> --audience <client id> \
//!           --jwks-url http://127.0.0.1:25500/<pool>/.well-known/jwks.json
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;

use local_front::api::{ApiFront, Authorizer, routes_from_template};

const USAGE: &str = "usage: local-api --listen ADDR --watcher ADDR --template FILE --issuer URL --audience ID[,ID] --jwks-url URL";

async fn run() -> Result<(), String> {
    let mut flags = std::collections::HashMap::new();
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        match pair {
            [k, v] if k.starts_with("--") => {
                flags.insert(k.trim_start_matches("--").to_owned(), v.clone());
            }
            _ => return Err(USAGE.to_owned()),
        }
    }
    let flag = |name: &str| {
        flags
            .get(name)
            .cloned()
            .ok_or_else(|| format!("--{name} is required\n{USAGE}"))
    };
    let addr = |name: &str| -> Result<SocketAddr, String> {
        let v = flag(name)?;
        v.parse().map_err(|e| format!("--{name} {v}: {e}"))
    };
    let template = flag("template")?;
    let yaml = std::fs::read_to_string(&template).map_err(|e| format!("{template}: {e}"))?;
    let routes = routes_from_template(&yaml)?;
    let authorizer = Authorizer {
        issuer: flag("issuer")?,
        audience: flag("audience")?.split(',').map(str::to_owned).collect(),
        jwks_url: flag("jwks-url")?,
    };
    let api = ApiFront::start(
        addr("listen")?,
        routes.clone(),
        authorizer,
        addr("watcher")?,
    )
    .await
    .map_err(|e| format!("listening: {e}"))?;
    eprintln!(
        "local-api: {} routes on {}, JWT-authorized",
        routes.len(),
        api.addr()
    );
    std::future::pending::<()>().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local-api: {e}");
            ExitCode::FAILURE
        }
    }
}
