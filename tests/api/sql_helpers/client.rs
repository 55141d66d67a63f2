//! Queries on a test [`Database`] through the database's own client (`psql`, `mariadb`), as an
//! operator would run them: rows come back as column texts.

use std::{path::Path, process::Command};

use super::{Database, Kind};
use crate::helpers::{WAIT, eventually_ok_within};

impl Database {
    /// Runs SQL with the database's own client; `(succeeded, stdout, stderr)`.
    pub(super) fn client(&self, sql: &str) -> (bool, String, String) {
        let out = match self.kind {
            Kind::Postgres => Command::new("psql")
                .args(["-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1"])
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "postgres", "-d", "postgres", "-c", sql])
                .output(),
            Kind::MariaDb => Command::new("mariadb")
                .args(["--no-defaults", "-N", "-B", "-h", "127.0.0.1", "-u", "root"])
                .arg(format!("-P{}", self.port))
                .args(["-e", sql])
                .output(),
        }
        .expect("the database client must be installed (psql / mariadb)");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs SQL (in the relay's database) and returns the rows, each as its column texts.
    pub fn query(&self, sql: &str) -> Vec<Vec<String>> {
        self.try_query(sql)
            .unwrap_or_else(|err| panic!("{:?}: {sql}: {err}", self.kind))
    }

    /// Runs SQL (in the relay's database): the rows, or the client's error output.
    pub fn try_query(&self, sql: &str) -> Result<Vec<Vec<String>>, String> {
        let sql = match self.kind {
            Kind::Postgres => sql.to_owned(),
            Kind::MariaDb if !sql.starts_with("CREATE DATABASE") => format!("USE relay; {sql}"),
            Kind::MariaDb => sql.to_owned(),
        };
        let (ok, out, err) = self.client(&sql);
        if !ok {
            return Err(err);
        }
        let sep = if self.kind == Kind::Postgres {
            '|'
        } else {
            '\t'
        };
        Ok(out
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split(sep).map(str::to_owned).collect())
            .collect())
    }

    /// Runs a schema file with the database's own client; `Err(stderr)` if it fails.
    pub fn apply_file(&self, path: &Path) -> Result<(), String> {
        let out = match self.kind {
            Kind::Postgres => Command::new("psql")
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "postgres", "-d", "postgres", "-f"])
                .arg(path)
                .output(),
            Kind::MariaDb => Command::new("mariadb")
                .args(["--no-defaults", "-h", "127.0.0.1", "-u", "root"])
                .arg(format!("-P{}", self.port))
                .args(["relay", "-e"])
                .arg(format!("source {}", path.display()))
                .output(),
        }
        .expect("the database client must be installed (psql / mariadb)");
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Waits until `sql` runs and returns rows that `done` accepts; returns them.
    pub async fn wait_rows(
        &self,
        sql: &str,
        done: impl Fn(&[Vec<String>]) -> bool,
    ) -> Vec<Vec<String>> {
        let what = format!("{:?}: {sql}: never as wanted", self.kind);
        eventually_ok_within(WAIT * 2, what, || async {
            match self.try_query(sql) {
                Ok(rows) if done(&rows) => Ok(rows),
                other => Err(format!("still {other:?}")),
            }
        })
        .await
    }
}
