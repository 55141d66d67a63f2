//! The relay binary as a child process, so a test can signal it, SIGKILL it, and see it exit.

use std::{
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use super::{JWT_SECRET, PUBLISH_KEY, TestAppProbe, free_port};

/// The relay as a separate process (the real binary), so a test can SIGKILL or SIGTERM it.
pub struct RelayProcess {
    pub base: String,
    child: Option<Child>,
    /// How it exited, once [`Self::wait_exit`] saw it exit.
    status: Option<ExitStatus>,
}

impl RelayProcess {
    /// Starts `notify-relay` with the test defaults plus `args`, and waits until it is ready.
    pub async fn start(redis_url: Option<&str>, args: &[&str]) -> Self {
        Self::start_logged(redis_url, args, &[("RUST_LOG", "warn")], None).await
    }

    /// Like [`Self::start`], with environment `envs` and stdout and stderr written to `log`.
    pub async fn start_logged(
        redis_url: Option<&str>,
        args: &[&str],
        envs: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> Self {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_notify-relay"));
        cmd.args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--jwt-secret",
            JWT_SECRET,
            "--publish-key",
            PUBLISH_KEY,
        ])
        .args(["--keepalive-secs", "1", "--redis-prefix", "test"])
        .args(["--connects-per-sec", "0", "--publishes-per-sec", "0"])
        .args(args)
        .envs(envs.iter().copied());
        match log {
            Some(path) => {
                let file = std::fs::File::create(path).expect("log file");
                cmd.stdout(file.try_clone().expect("log file")).stderr(file);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        if let Some(url) = redis_url {
            cmd.args(["--redis-url", url]);
        }
        let relay = Self {
            base: format!("http://127.0.0.1:{port}"),
            child: Some(cmd.spawn().expect("relay binary")),
            status: None,
        };
        let probe = TestAppProbe {
            base: relay.base.clone(),
        };
        probe.wait_status("/readyz", 200).await;
        relay
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("running")
    }

    /// Sends a signal with kill(1).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
    }

    /// Waits for the process to exit, at most `limit`; returns whether it did.
    pub async fn wait_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().expect("try_wait")
            {
                self.child = None;
                self.status = Some(status);
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// The exit code, once [`Self::wait_exit`] saw the process exit (`None` if a signal ended it).
    pub fn exit_code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The relay's /readyz JSON.
    pub async fn ready_json(&self) -> Value {
        reqwest::get(format!("{}/readyz", self.base))
            .await
            .expect("readyz")
            .json()
            .await
            .expect("json")
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
