//! `redis-sentinel` processes for the failover topology.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use redis::Client;
use tempfile::TempDir;

use crate::helpers::{eventually_within, free_port, kill_child};

/// One `redis-sentinel` process watching the primary `mymaster`, killed by pid when dropped.
pub struct Sentinel {
    pub port: u16,
    child: Option<Child>,
    _dir: TempDir,
}

impl Sentinel {
    /// Starts a sentinel for the primary on `primary_port` with a 1 s down-after time and a
    /// quorum of 2, so a failover in a test takes a few seconds.
    pub fn start(primary_port: u16) -> Self {
        let port = free_port();
        let dir = TempDir::new().expect("tempdir");
        let conf = dir.path().join("sentinel.conf");
        // Sentinel rewrites its config file, so each gets a writable one of its own.
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                 sentinel monitor mymaster 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds mymaster 1000\n\
                 sentinel failover-timeout mymaster 5000\n\
                 sentinel parallel-syncs mymaster 2\n",
                dir = dir.path().display()
            ),
        )
        .expect("sentinel.conf");
        let child = Command::new("redis-sentinel")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-sentinel must be installed (apt-get install redis-sentinel)");
        Self {
            port,
            child: Some(child),
            _dir: dir,
        }
    }

    /// `SENTINEL MASTER mymaster` as field → value.
    async fn master_info(&self) -> Option<std::collections::HashMap<String, String>> {
        let client = Client::open(format!("redis://127.0.0.1:{}", self.port)).ok()?;
        let mut c = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("SENTINEL")
            .arg("MASTER")
            .arg("mymaster")
            .query_async(&mut c)
            .await
            .ok()
    }

    /// Waits until this sentinel sees `replicas` replicas and `others` other sentinels, so
    /// that a failover can be agreed on.
    pub async fn wait_sees(&self, replicas: usize, others: usize) {
        let what = format!("sentinel {} never saw the topology", self.port);
        eventually_within(Duration::from_secs(20), what, || async {
            let info = self.master_info().await?;
            let n = |k: &str| info.get(k).and_then(|v| v.parse::<usize>().ok());
            (n("num-slaves") >= Some(replicas) && n("num-other-sentinels") >= Some(others))
                .then_some(())
        })
        .await;
    }

    /// The port of the primary this sentinel names now.
    pub async fn primary_port(&self) -> Option<u16> {
        let client = Client::open(format!("redis://127.0.0.1:{}", self.port)).ok()?;
        let mut c = client.get_multiplexed_async_connection().await.ok()?;
        let (_, port): (String, u16) = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg("mymaster")
            .query_async(&mut c)
            .await
            .ok()?;
        Some(port)
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        kill_child(&mut self.child);
    }
}
