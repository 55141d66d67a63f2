//! Redis topologies for the production-Redis tests: TLS-only servers with certificates made by
//! `openssl` in the test, ACL users, primaries with replicas, and sentinels. Every process is
//! started on a free loopback port and killed by pid when its guard drops.

use std::process::{Child, Command, Stdio};

use redis::Client;
use tempfile::TempDir;

use crate::helpers::{
    eventually, free_port, kill_child, signal, subscribed, wait_bridge_subscribed,
};

mod certs;
mod cluster;
mod sentinel;

pub use certs::Certs;
pub use cluster::Cluster;
pub use sentinel::Sentinel;

/// How a test redis-server is set up.
#[derive(Default)]
pub struct NodeOptions<'a> {
    /// Serve only TLS with these certificates (`--port 0 --tls-port P`).
    pub tls: Option<&'a Certs>,
    /// Require a client certificate (mutual TLS).
    pub mutual: bool,
    /// An ACL user `(name, password)` with every permission; the default user is switched off.
    pub user: Option<(&'a str, &'a str)>,
    /// Replicate from this port (same TLS and auth as this node).
    pub replica_of: Option<u16>,
    /// A Redis Cluster node (`--cluster-enabled yes`, its nodes.conf in its own directory).
    pub cluster: bool,
}

/// One redis-server process, killed by pid when dropped.
pub struct Node {
    pub port: u16,
    child: Option<Child>,
    client: Client,
    /// Its working directory: a replica's full sync writes an RDB file there, which must not
    /// land where the next test's server would load it.
    _dir: TempDir,
}

impl Node {
    /// Starts a redis-server on a free port and waits until it answers `PING`.
    pub async fn start(opts: &NodeOptions<'_>) -> Self {
        let port = free_port();
        let dir = TempDir::new().expect("tempdir");
        let mut args: Vec<String> = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            .map(String::from)
            .to_vec();
        args.extend(["--dir".into(), dir.path().display().to_string()]);
        match opts.tls {
            Some(certs) => {
                let file = |n: &str| certs.path(n).display().to_string();
                args.extend([
                    "--port".into(),
                    "0".into(),
                    "--tls-port".into(),
                    port.to_string(),
                ]);
                args.extend(["--tls-cert-file".into(), file("server.crt")]);
                args.extend(["--tls-key-file".into(), file("server.key")]);
                args.extend(["--tls-ca-cert-file".into(), file("ca.crt")]);
                let auth = if opts.mutual { "yes" } else { "no" };
                args.extend(["--tls-auth-clients".into(), auth.into()]);
                args.extend(["--tls-replication".into(), "yes".into()]);
            }
            None => args.extend(["--port".into(), port.to_string()]),
        }
        if let Some((user, password)) = opts.user {
            args.extend(["--user".into(), "default".into(), "off".into()]);
            args.extend(
                [
                    "--user",
                    user,
                    "on",
                    &format!(">{password}"),
                    "~*",
                    "&*",
                    "+@all",
                ]
                .map(String::from),
            );
            args.extend(["--masteruser".into(), user.into()]);
            args.extend(["--masterauth".into(), password.into()]);
        }
        if opts.cluster {
            args.extend(
                [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    // A killed primary is noticed and replaced within a couple of seconds.
                    "--cluster-node-timeout",
                    "1000",
                ]
                .map(String::from),
            );
        }
        if let Some(primary) = opts.replica_of {
            args.extend([
                "--replicaof".into(),
                "127.0.0.1".into(),
                primary.to_string(),
            ]);
        }
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        let node = Self {
            port,
            child: Some(child),
            client: test_client(opts, port),
            _dir: dir,
        };
        node.wait_pong().await;
        node
    }

    async fn wait_pong(&self) {
        eventually("redis-server did not start", || async {
            let mut c = self.client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("PING").query_async::<String>(&mut c).await.ok()
        })
        .await;
    }

    /// A connection as the test (with the node's TLS and ACL user).
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        self.client
            .get_multiplexed_async_connection()
            .await
            .expect("test connection to redis")
    }

    /// `PUBLISH channel payload`; returns the receivers.
    pub async fn publish(&self, channel: &str, payload: &str) -> i64 {
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async(&mut self.connection().await)
            .await
            .expect("publish")
    }

    /// Waits until the relay's pub/sub bridge is subscribed to `image_update`.
    pub async fn wait_bridge_subscribed(&self) {
        wait_bridge_subscribed(&self.connection().await).await;
    }

    /// Whether the relay's pub/sub bridge is subscribed to `image_update` on this node.
    pub async fn bridge_subscribed(&self) -> bool {
        subscribed(&self.connection().await, "image_update").await
    }

    /// Waits until `n` replicas are connected and in sync with this primary.
    pub async fn wait_replicas_online(&self, n: usize) {
        let c = self.connection().await;
        eventually(format!("{n} replicas never came online"), || {
            let mut c = c.clone();
            async move {
                let info: String = redis::cmd("INFO")
                    .arg("replication")
                    .query_async(&mut c)
                    .await
                    .expect("info");
                (info.matches("state=online").count() >= n).then_some(())
            }
        })
        .await;
    }

    /// True until the node is killed.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Sends a signal (`STOP`, `CONT`, ...) with kill(1).
    pub fn signal(&self, name: &str) {
        signal(self.child.as_ref().map(Child::id).expect("running"), name);
    }

    /// Kills the server (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        kill_child(&mut self.child);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn test_client(opts: &NodeOptions<'_>, port: u16) -> Client {
    let auth = opts
        .user
        .map(|(u, p)| format!("{u}:{p}@"))
        .unwrap_or_default();
    match opts.tls {
        Some(certs) => {
            Client::build_with_tls(format!("rediss://{auth}127.0.0.1:{port}"), certs.test_tls())
        }
        None => Client::open(format!("redis://{auth}127.0.0.1:{port}")),
    }
    .expect("test client")
}
