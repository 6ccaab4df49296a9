//! The local PostgreSQL: Debian's server binaries, a data directory under
//! `target/local-stack/pg`, TLS with a CA the stack generates, `hostssl` only.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::Stack;
use crate::process::{Result, is_root, require_free_port, run, run_visible, wait_for_port};

/// Bootstrap superuser of the local cluster; only the xtask and tests use it.
pub const ADMIN_USER: &str = "stack_admin";
/// The cluster's master user as Aurora has it (the template's
/// `MasterUsername`): owns the schema, creates tenant logins, no superuser
/// (db/local/10_master.sql). db-admin and the onboarding scripts run as it.
pub const MASTER_USER: &str = "saas_admin";
/// The OS user the server runs as when the xtask runs as root.
const OS_USER: &str = "postgres";

pub struct Postgres<'a> {
    stack: &'a Stack,
    bin: PathBuf,
}

impl<'a> Postgres<'a> {
    /// Find the server binaries: `LOCAL_PG_BIN` when set (any system's
    /// PostgreSQL, such as /usr/bin on Fedora or Homebrew's), else Debian's
    /// under /usr/lib/postgresql, installing `postgresql` if absent.
    pub fn ensure_installed(stack: &'a Stack) -> Result<Self> {
        if let Ok(dir) = std::env::var("LOCAL_PG_BIN") {
            let bin = PathBuf::from(&dir);
            let missing: Vec<&str> = ["postgres", "initdb", "pg_ctl", "psql"]
                .into_iter()
                .filter(|b| !bin.join(b).exists())
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "LOCAL_PG_BIN={dir}: no {} there (it must hold the server's binaries)",
                    missing.join(", ")
                ));
            }
            if is_root() {
                ensure_os_user()?;
            }
            return Ok(Postgres { stack, bin });
        }
        let bin = match find_bin_dir() {
            Some(bin) => bin,
            None => {
                if !is_root() {
                    return Err(
                        "PostgreSQL server binaries not found under /usr/lib/postgresql; \
                                install them with `sudo apt-get install -y postgresql`, \
                                or name their directory in LOCAL_PG_BIN"
                            .into(),
                    );
                }
                progress!("installing PostgreSQL (apt-get install postgresql)");
                apt_install(&["postgresql", "openssl"])?;
                find_bin_dir()
                    .ok_or("apt-get installed postgresql but no server binaries were found")?
            }
        };
        if is_root() {
            ensure_os_user()?;
        }
        Ok(Postgres { stack, bin })
    }

    fn dir(&self) -> PathBuf {
        self.stack.dir.join("pg")
    }
    pub fn data(&self) -> PathBuf {
        self.dir().join("data")
    }
    pub fn pg_ctl(&self) -> PathBuf {
        self.bin.join("pg_ctl")
    }
    /// The OS user the server runs as, when it is not the xtask's own.
    pub fn os_user(&self) -> Option<&'static str> {
        is_root().then_some(OS_USER)
    }
    pub fn ca_pem(&self) -> PathBuf {
        self.dir().join("ca.pem")
    }
    pub fn log(&self) -> PathBuf {
        self.dir().join("postgres.log")
    }
    fn password_file(&self) -> PathBuf {
        self.dir().join("admin-password")
    }

    pub fn admin_password(&self) -> Result<String> {
        fs::read_to_string(self.password_file())
            .map(|s| s.trim().to_owned())
            .map_err(|e| e.to_string())
    }

    /// A command that runs as the server's OS user.
    fn as_server_user(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", OS_USER, "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    pub fn is_running(&self) -> bool {
        self.data().join("PG_VERSION").exists()
            && self
                .as_server_user("pg_ctl")
                .arg("status")
                .arg("-D")
                .arg(self.data())
                .output()
                .is_ok_and(|o| o.status.success())
    }

    /// Start the server (initialising it on first use) and apply the schema.
    pub fn up(&self) -> Result<()> {
        let port = self.stack.pg_port;
        if self.is_running() {
            progress!("PostgreSQL already running on port {port}");
            self.write_hba()?;
            run(self
                .as_server_user("pg_ctl")
                .arg("reload")
                .arg("-D")
                .arg(self.data()))?;
        } else {
            require_free_port(port, "PostgreSQL", "LOCAL_PG_PORT")?;
            if !self.data().join("PG_VERSION").exists() {
                self.init()?;
            }
            self.write_hba()?;
            // max_connections: the bench holds 1,000 tenants' connections
            // at once (its reconnect scenario), and 100 in its floor next
            // to the functions'.
            let opts = format!(
                "-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c ssl=on \
                 -c ssl_cert_file={cert} -c ssl_key_file={key} -c ssl_min_protocol_version=TLSv1.2 \
                 -c password_encryption=scram-sha-256 -c log_connections=on \
                 -c max_connections=1200",
                cert = self.dir().join("server.pem").display(),
                key = self.dir().join("server.key").display(),
            );
            run(self
                .as_server_user("pg_ctl")
                .arg("start")
                .arg("-w")
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(self.log())
                .arg("-o")
                .arg(opts))
            .map_err(|e| format!("{e}\nsee {}", self.log().display()))?;
            wait_for_port(port, "PostgreSQL", Duration::from_secs(30), &self.log())?;
            progress!("PostgreSQL started on 127.0.0.1:{port} (TLS only)");
        }
        self.apply_schema()
    }

    pub fn down(&self) -> Result<()> {
        if self.is_running() {
            run(self
                .as_server_user("pg_ctl")
                .args(["stop", "-m", "fast", "-D"])
                .arg(self.data()))?;
            progress!("PostgreSQL stopped");
        }
        Ok(())
    }

    fn init(&self) -> Result<()> {
        let dir = self.dir();
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        make_traversable(&dir)?;
        self.make_certificates()?;
        let password = random_password()?;
        fs::write(self.password_file(), &password).map_err(|e| e.to_string())?;
        // initdb reads the password from a file the server user can read.
        let pwfile = dir.join("initdb-pw");
        fs::write(&pwfile, &password).map_err(|e| e.to_string())?;
        self.chown(&dir)?;
        let result = run(self
            .as_server_user("initdb")
            .arg("-D")
            .arg(self.data())
            .args([
                "-U",
                ADMIN_USER,
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ])
            .arg(format!("--pwfile={}", pwfile.display())));
        let _ = fs::remove_file(&pwfile);
        result?;
        Ok(())
    }

    fn make_certificates(&self) -> Result<()> {
        let dir = self.dir();
        let ca_key = dir.join("ca.key");
        let ext = dir.join("server-ext.cnf");
        fs::write(
            &ext,
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .map_err(|e| e.to_string())?;
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run(Command::new("openssl")
            .args(["req", "-x509"])
            .args(ec)
            .arg("-keyout")
            .arg(&ca_key)
            .arg("-out")
            .arg(self.ca_pem())
            .args(["-days", "3650", "-subj", "/CN=tenant-access local CA"])
            .args([
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]))?;
        let csr = dir.join("server.csr");
        run(Command::new("openssl")
            .arg("req")
            .args(ec)
            .arg("-keyout")
            .arg(dir.join("server.key"))
            .arg("-out")
            .arg(&csr)
            .args(["-subj", "/CN=localhost"]))?;
        run(Command::new("openssl")
            .args(["x509", "-req", "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(self.ca_pem())
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-CAcreateserial")
            .arg("-out")
            .arg(dir.join("server.pem"))
            .args(["-days", "825", "-extfile"])
            .arg(&ext))?;
        fs::set_permissions(dir.join("server.key"), fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// `hostssl` lines only: no Unix socket, no plain TCP. Tenant logins
    /// (members of rds_iam) are checked by the IAM-token verifier, as RDS
    /// checks them: PostgreSQL forwards user and password over LDAP.
    fn write_hba(&self) -> Result<()> {
        let hba = format!(
            "# Written by `cargo xtask up`. TLS connections only.\n\
             hostssl all {ADMIN_USER} 127.0.0.1/32 scram-sha-256\n\
             hostssl all {MASTER_USER} 127.0.0.1/32 scram-sha-256\n\
             hostssl all +rds_iam 127.0.0.1/32 ldap ldapserver=127.0.0.1 ldapport={port} \
             ldapprefix=\"{prefix}\" ldapsuffix=\"{suffix}\"\n",
            port = self.stack.verifier_port,
            prefix = crate::verifier::LDAP_PREFIX,
            suffix = crate::verifier::LDAP_SUFFIX,
        );
        let path = self.data().join("pg_hba.conf");
        fs::write(&path, hba).map_err(|e| e.to_string())?;
        self.chown(&path)
    }

    fn chown(&self, path: &Path) -> Result<()> {
        if is_root() {
            run(Command::new("chown")
                .args(["-R", &format!("{OS_USER}:{OS_USER}")])
                .arg(path))?;
        }
        Ok(())
    }

    /// A psql command connected as the admin over verified TLS.
    pub fn psql(&self, database: &str) -> Result<Command> {
        self.psql_as(database, ADMIN_USER)
    }

    /// [`psql`](Self::psql) as `user` (the master user has the same
    /// password locally).
    pub fn psql_as(&self, database: &str, user: &str) -> Result<Command> {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.env("PGPASSWORD", self.admin_password()?)
            .arg(format!(
                "host=localhost port={} dbname={database} user={user} sslmode=verify-full sslrootcert={}",
                self.stack.pg_port,
                self.ca_pem().display()
            ))
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-X"]);
        Ok(cmd)
    }

    /// Onboard more tenants' DB users and rows (benchmarks).
    pub fn add_tenants(&self, tenants: &[String]) -> Result<()> {
        let db = crate::DB_NAME;
        let mut script = String::new();
        for tenant in tenants {
            script.push_str(&format!(
                "\\set tenant_user {tenant}_dbuser\n\\ir tenant.sql\n"
            ));
        }
        let rows: Vec<String> = tenants
            .iter()
            .map(|t| format!("('{t}_dbuser', '{t}@example.com', 'active', 'bronze')"))
            .collect();
        script.push_str(&format!(
            "INSERT INTO tenant_metadata (tenant_id, email, status, tier) VALUES {} ON CONFLICT (tenant_id) DO UPDATE SET email = EXCLUDED.email, tier = EXCLUDED.tier;\n",
            rows.join(", ")
        ));
        // psql resolves \ir next to the script: put a copy of db/tenant.sql there.
        let path = self.stack.dir.join("add-tenants.sql");
        fs::write(&path, script).map_err(|e| e.to_string())?;
        fs::copy(
            self.stack.root.join("db/tenant.sql"),
            self.stack.dir.join("tenant.sql"),
        )
        .map_err(|e| e.to_string())?;
        run(self
            .psql(db)?
            .arg("-v")
            .arg(format!("dbname={db}"))
            .arg("-v")
            .arg(format!("statement_timeout_ms={}", statement_timeout_ms()?))
            .arg("-f")
            .arg(path))?;
        Ok(())
    }

    fn apply_schema(&self) -> Result<()> {
        let db = crate::DB_NAME;
        let exists = run(self
            .psql("postgres")?
            .args(["-tA", "-c"])
            .arg(format!("SELECT 1 FROM pg_database WHERE datname = '{db}'")))?;
        if String::from_utf8_lossy(&exists.stdout).trim() != "1" {
            run(self
                .psql("postgres")?
                .arg("-c")
                .arg(format!("CREATE DATABASE {db}")))?;
        }
        let sql = self.stack.root.join("db");
        let file = |cmd: &mut Command, path: PathBuf| {
            cmd.arg("-v")
                .arg(format!("dbname={db}"))
                .arg("-f")
                .arg(path);
        };
        let mut cmd = self.psql(db)?;
        file(&mut cmd, sql.join("local/00_rds_iam.sql"));
        run(&mut cmd)?;
        let mut cmd = self.psql(db)?;
        // From the environment, not the command line (process lists).
        cmd.env("STACK_MASTER_PASSWORD", self.admin_password()?);
        file(&mut cmd, sql.join("local/10_master.sql"));
        run(&mut cmd)?;
        // The schema and the tenants as on Aurora: by the master user.
        let mut cmd = self.psql_as(db, MASTER_USER)?;
        file(&mut cmd, sql.join("01_schema.sql"));
        run(&mut cmd)?;
        let timeout_ms = statement_timeout_ms()?;
        for tenant in crate::TENANTS {
            let mut cmd = self.psql_as(db, MASTER_USER)?;
            cmd.arg("-v").arg(format!("tenant_user={tenant}_dbuser"));
            cmd.arg("-v")
                .arg(format!("statement_timeout_ms={timeout_ms}"));
            file(&mut cmd, sql.join("tenant.sql"));
            run(&mut cmd)?;
        }
        let mut cmd = self.psql(db)?;
        file(&mut cmd, sql.join("local/90_seed.sql"));
        run(&mut cmd)?;
        Ok(())
    }
}

/// The tenant logins' server-side `statement_timeout` (db/tenant.sql's
/// `statement_timeout_ms`): the functions' `DB_STATEMENT_TIMEOUT_MS` when it
/// is set for the stack (`cargo xtask dev` passes the environment on to
/// them), else their default, so the server bounds a statement exactly as
/// long as the client waits for it.
pub fn statement_timeout_ms() -> Result<u64> {
    match std::env::var("DB_STATEMENT_TIMEOUT_MS") {
        Err(_) => Ok(5000),
        Ok(v) => v
            .parse()
            .ok()
            .filter(|ms| (10..=900_000).contains(ms))
            .ok_or(format!(
                "DB_STATEMENT_TIMEOUT_MS={v} is not a number of milliseconds in 10..=900000"
            )),
    }
}

fn find_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    // Prefer 15, the version the project targets (Aurora PostgreSQL 15).
    versions
        .iter()
        .find(|(v, _)| *v == 15)
        .or(versions.last())
        .map(|(_, bin)| bin.clone())
}

pub fn apt_install(packages: &[&str]) -> Result<()> {
    run_visible(Command::new("apt-get").arg("update").arg("-qq"))?;
    run_visible(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(packages),
    )
}

fn ensure_os_user() -> Result<()> {
    if Command::new("id")
        .arg(OS_USER)
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Ok(());
    }
    run(Command::new("useradd").args([
        "--system",
        "--no-create-home",
        "--shell",
        "/usr/sbin/nologin",
        OS_USER,
    ]))?;
    Ok(())
}

/// Postgres runs as an unprivileged user that must reach the data directory
/// inside the work tree: give `o+x` (traverse only) to ancestors lacking it.
fn make_traversable(dir: &Path) -> Result<()> {
    if !is_root() {
        return Ok(());
    }
    for ancestor in dir.ancestors().skip(1) {
        let Ok(meta) = fs::metadata(ancestor) else {
            continue;
        };
        let mode = meta.permissions().mode();
        if mode & 0o001 == 0 {
            progress!(
                "allowing the postgres user to traverse {}",
                ancestor.display()
            );
            fs::set_permissions(ancestor, fs::Permissions::from_mode(mode | 0o001))
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn random_password() -> Result<String> {
    let out = run(Command::new("openssl").args(["rand", "-hex", "24"]))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
