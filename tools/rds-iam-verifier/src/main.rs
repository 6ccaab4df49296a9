//! `rds-iam-verifier --listen 127.0.0.1:25389 --moto 127.0.0.1:25500
//! --front 127.0.0.1:25501 --registry target/local-stack/iam-roles.json --db-host localhost
//! --db-ports 25432,25433 --region us-east-1 --account 123456789012 --cluster-resource-id cluster-X
//! --dn-prefix uid= --dn-suffix ,ou=rds-iam`

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, SystemTime};

use rds_iam_verifier::ldap::{self, Request};
use rds_iam_verifier::moto::Moto;
use rds_iam_verifier::verify::{Expected, verify};

/// How PostgreSQL builds the bind DN from the login user.
struct Dn {
    prefix: String,
    suffix: String,
}

impl Dn {
    fn user<'a>(&self, dn: &'a str) -> Option<&'a str> {
        dn.strip_prefix(&self.prefix)?.strip_suffix(&self.suffix)
    }
}

fn serve(mut stream: TcpStream, expected: &Expected, moto: &Moto, dn: &Dn) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    loop {
        let request = match ldap::read_request(&mut stream) {
            Ok(r) => r,
            Err(_) => return,
        };
        match request {
            Request::Bind { id, name, password } => {
                let Some(name) = dn.user(&name).map(str::to_owned) else {
                    eprintln!("refused bind: unexpected DN shape");
                    let _ = ldap::write_bind_response(
                        &mut stream,
                        &id,
                        ldap::INVALID_CREDENTIALS,
                        "bad DN",
                    );
                    return;
                };
                let (code, message) =
                    match verify(&password, &name, expected, moto, SystemTime::now()) {
                        Ok(principal) => {
                            eprintln!("accepted login of {name} signed by {principal}");
                            (ldap::SUCCESS, String::new())
                        }
                        Err(refusal) => {
                            eprintln!("refused login of {name}: {refusal}");
                            (
                                ldap::INVALID_CREDENTIALS,
                                "IAM authentication failed".to_owned(),
                            )
                        }
                    };
                if ldap::write_bind_response(&mut stream, &id, code, &message).is_err() {
                    return;
                }
            }
            Request::Unbind => return,
            Request::Other { id } => {
                let _ = ldap::write_bind_response(
                    &mut stream,
                    &id,
                    ldap::PROTOCOL_ERROR,
                    "only simple bind is supported",
                );
                return;
            }
        }
    }
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut flags = HashMap::new();
    for pair in args.chunks(2) {
        match pair {
            [k, v] if k.starts_with("--") => {
                flags.insert(k.trim_start_matches("--").to_owned(), v.clone());
            }
            _ => return Err(format!("usage: see the header of {}", file!())),
        }
    }
    let flag = |name: &str| {
        flags
            .get(name)
            .cloned()
            .ok_or_else(|| format!("missing --{name}"))
    };
    let expected = Expected {
        host: flag("db-host")?,
        ports: flag("db-ports")?
            .split(',')
            .map(|p| {
                p.parse()
                    .map_err(|_| format!("--db-ports: `{p}` is not a port"))
            })
            .collect::<Result<_, _>>()?,
        region: flag("region")?,
        account: flag("account")?,
        cluster_resource_id: flag("cluster-resource-id")?,
    };
    let front = match flags.get("front") {
        Some(front) => Some(front.parse().map_err(|_| "--front is not host:port")?),
        None => None,
    };
    let moto = Moto::new(
        flag("moto")?
            .parse()
            .map_err(|_| "--moto is not host:port")?,
        front,
        flags.get("registry").map(std::path::PathBuf::from),
    );
    let dn = Dn {
        prefix: flag("dn-prefix")?,
        suffix: flag("dn-suffix")?,
    };
    let listen = flag("listen")?;
    let listener = TcpListener::bind(&listen).map_err(|e| format!("binding {listen}: {e}"))?;
    eprintln!(
        "rds-iam-verifier listening on {listen} for {}:{:?}",
        expected.host, expected.ports
    );
    std::thread::scope(|scope| {
        for stream in listener.incoming().flatten() {
            let (expected, moto, dn) = (&expected, &moto, &dn);
            scope.spawn(move || serve(stream, expected, moto, dn));
        }
    });
    Ok(())
}
