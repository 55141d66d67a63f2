//! Harness for the notification log's SQL tests: a real PostgreSQL or MariaDB server per test,
//! in a temp dir, on a free loopback port, stopped by pid; queries through the databases' own
//! clients (`psql`, `mariadb`), in [`client`].
//!
//! PostgreSQL refuses to run as root, so as root it runs as the `postgres` user (Debian's
//! `postgresql` package creates it). MariaDB's data dir is made once per test process with
//! `mariadb-install-db` (slow) and copied for each server.

use std::{
    os::unix::{fs::MetadataExt, process::CommandExt},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::OnceLock,
};

use crate::helpers::{WAIT, eventually_within, free_port};

mod client;

/// Runs a test case once per database, as two tests named after the databases.
#[macro_export]
macro_rules! on_both_databases {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { super::$case($crate::sql_helpers::Kind::Postgres).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb() { super::$case($crate::sql_helpers::Kind::MariaDb).await }
        }
    )*};
}

/// Which database server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    MariaDb,
}

/// A database server owned by one test; stopped when dropped.
pub struct Database {
    pub kind: Kind,
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// The newest PostgreSQL server binaries Debian installed (`/usr/lib/postgresql/<v>/bin`).
fn pg_bin(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("postgresql must be installed (apt-get install postgresql; test.sh does it)")
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.join("bin/initdb").exists())
        .collect();
    versions.sort_by_key(|p| {
        p.file_name()
            .and_then(|n| n.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions
        .pop()
        .expect("no PostgreSQL version")
        .join("bin")
        .join(name)
}

/// The uid and gid of a system user, from /etc/passwd.
fn system_user(name: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name) && f.len() > 3)
        .map(|f| (f[2].parse().expect("uid"), f[3].parse().expect("gid")))
        .unwrap_or_else(|| panic!("no {name} user: install the {name} server package"))
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A command run as the `postgres` user when this process is root.
fn as_postgres(program: PathBuf) -> Command {
    let mut cmd = Command::new(program);
    if running_as_root() {
        let (uid, gid) = system_user("postgres");
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// A MariaDB data dir made once (`mariadb-install-db` takes seconds) under the target dir and
/// copied for each server; made in a scratch dir and renamed, so a half-made one is never used.
fn mariadb_template() -> PathBuf {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let template = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mariadb-template");
            if template.join("data/mysql").exists() {
                return template;
            }
            let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
            let out = Command::new("mariadb-install-db")
                .arg("--no-defaults")
                .arg(format!(
                    "--datadir={}",
                    scratch.path().join("data").display()
                ))
                .args([
                    "--auth-root-authentication-method=normal",
                    "--user=root",
                    "--skip-test-db",
                    "--skip-log-bin",
                ])
                .output()
                .expect("mariadb-install-db must be installed (apt-get install mariadb-server)");
            assert!(out.status.success(), "mariadb-install-db: {out:?}");
            let _ = std::fs::remove_dir_all(&template);
            std::fs::rename(scratch.keep(), &template).expect("rename template");
            template
        })
        .clone()
}

impl Database {
    /// Starts a fresh server and waits until it answers queries.
    pub async fn start(kind: Kind) -> Self {
        // Under /tmp, not $TMPDIR: the `postgres` user must be able to reach it.
        let dir = tempfile::tempdir_in("/tmp").expect("tempdir");
        match kind {
            Kind::Postgres => {
                if running_as_root() {
                    let (uid, gid) = system_user("postgres");
                    std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown");
                }
                let out = as_postgres(pg_bin("initdb"))
                    .arg("-D")
                    .arg(dir.path().join("data"))
                    .args(["-A", "trust", "-U", "postgres", "--no-sync"])
                    .output()
                    .expect("initdb");
                assert!(out.status.success(), "initdb: {out:?}");
            }
            Kind::MariaDb => {
                let status = Command::new("cp")
                    .arg("-a")
                    .arg(mariadb_template().join("data"))
                    .arg(dir.path())
                    .status()
                    .expect("cp");
                assert!(status.success());
            }
        }
        let mut db = Self {
            kind,
            port: free_port(),
            dir,
            child: None,
        };
        db.restart().await;
        if kind == Kind::MariaDb {
            db.query("CREATE DATABASE relay");
        }
        db
    }

    /// The URL the relay is given.
    pub fn url(&self) -> String {
        match self.kind {
            Kind::Postgres => format!("postgres://postgres@127.0.0.1:{}/postgres", self.port),
            Kind::MariaDb => format!("mysql://root@127.0.0.1:{}/relay", self.port),
        }
    }

    /// Starts the server (again) on the same port and data, and waits until it answers.
    pub async fn restart(&mut self) {
        let data = self.dir.path().join("data");
        let child = match self.kind {
            Kind::Postgres => as_postgres(pg_bin("postgres"))
                .arg("-D")
                .arg(&data)
                .args(["-p", &self.port.to_string(), "-k"])
                .arg(self.dir.path())
                .args([
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "shared_buffers=16MB",
                    "-c",
                    "max_connections=30",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("postgres"),
            Kind::MariaDb => Command::new("mariadbd")
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--port={}", self.port))
                .arg(format!(
                    "--socket={}",
                    self.dir.path().join("sock").display()
                ))
                .arg(format!(
                    "--pid-file={}",
                    self.dir.path().join("pid").display()
                ))
                .args([
                    "--bind-address=127.0.0.1",
                    "--user=root",
                    "--skip-log-bin",
                    "--innodb-buffer-pool-size=16M",
                    "--innodb-flush-log-at-trx-commit=0",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("mariadbd"),
        };
        self.child = Some(child);
        eventually_within(
            WAIT * 2,
            format!("{:?} did not start", self.kind),
            || async { self.client("SELECT 1").0.then_some(()) },
        )
        .await;
    }

    /// Stops the server by its pid (a clean, fast shutdown) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // PostgreSQL: SIGINT is a fast shutdown; MariaDB: SIGTERM is a clean one.
            let signal = match self.kind {
                Kind::Postgres => "-INT",
                Kind::MariaDb => "-TERM",
            };
            let _ = Command::new("kill")
                .arg(signal)
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The schema file shipped for a database.
pub fn schema_file(kind: Kind) -> PathBuf {
    let db = match kind {
        Kind::Postgres => "postgres",
        Kind::MariaDb => "mysql",
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("deploy/sql/{db}/notifications.sql"))
}
