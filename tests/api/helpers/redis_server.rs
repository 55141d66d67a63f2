//! A redis-server of the test's own on a free loopback port, started and stopped by pid.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
};

use redis::aio::MultiplexedConnection;

use super::eventually;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A redis-server owned by one test; killed when dropped.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub async fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            child: None,
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        self.child = Some(child);
        let client = redis::Client::open(self.url()).expect("url");
        eventually("redis-server did not start", || async {
            let mut c = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("PING").query_async::<String>(&mut c).await.ok()
        })
        .await;
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A connection of the test's own to this server.
    pub async fn connection(&self) -> MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection")
    }

    /// `PUBLISH channel payload`, as a PHP app would.
    pub async fn publish(&self, channel: &str, payload: &str) -> i64 {
        let mut c = self.connection().await;
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async(&mut c)
            .await
            .expect("publish")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

impl RedisServer {
    /// A server that is not running yet (start it with [`RedisServer::restart`]).
    pub fn unstarted() -> Self {
        Self {
            port: free_port(),
            child: None,
        }
    }
}

/// Whether anything (in a test: the relay's pub/sub bridge) is subscribed to `channel` on the
/// server behind `c` (`PUBSUB NUMSUB`); an error counts as no, so a caller can keep asking.
pub async fn subscribed(c: &MultiplexedConnection, channel: &str) -> bool {
    let (_, n): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(&mut c.clone())
        .await
        .unwrap_or_default();
    n > 0
}

/// Waits until the relay's pub/sub bridge is subscribed to `image_update` on the server behind
/// `c`: before that, an event published there would not reach the relay.
pub async fn wait_bridge_subscribed(c: &MultiplexedConnection) {
    eventually("the bridge never subscribed", || async {
        subscribed(c, "image_update").await.then_some(())
    })
    .await;
}
