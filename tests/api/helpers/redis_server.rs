//! A redis-server of the test's own on a free loopback port, started and stopped by pid.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
};

use redis::aio::MultiplexedConnection;

use super::{eventually, kill_child};

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
    /// Starts a server on a free port and waits until it answers.
    pub async fn start() -> Self {
        // A port found free can be taken before redis-server binds it (the kernel hands out the
        // same range for the local end of outgoing connections, and many tests run at once):
        // the server then exits at once, and starts again on another port.
        for _ in 0..3 {
            let mut server = Self {
                port: free_port(),
                child: None,
            };
            if server.start_here().await {
                return server;
            }
        }
        panic!("redis-server exited at start on three free ports");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub async fn restart(&mut self) {
        assert!(self.start_here().await, "redis-server exited at start");
    }

    /// Starts on `self.port` and waits until it answers (true) or exits (false).
    async fn start_here(&mut self) -> bool {
        let mut child = Command::new("redis-server")
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
        let client = redis::Client::open(self.url()).expect("url");
        let up = eventually("redis-server did not start", || {
            let exited = child.try_wait().ok().flatten().is_some();
            let client = client.clone();
            async move {
                if exited {
                    return Some(false);
                }
                let mut c = client.get_multiplexed_async_connection().await.ok()?;
                redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .ok()
                    .map(|_| true)
            }
        })
        .await;
        if up {
            self.child = Some(child);
        }
        up
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        kill_child(&mut self.child);
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
