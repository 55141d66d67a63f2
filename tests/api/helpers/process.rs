//! The relay binary as a child process, so a test can signal it, SIGKILL it, and see it exit.

use std::{
    ops::Deref,
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use notify_relay::config::Settings;

use super::{Relay, WAIT, flags, free_port, test_settings, within};

/// The relay as a separate process (the real binary), so a test can SIGKILL or SIGTERM it.
/// Talk to it through [`Relay`], which it derefs to.
pub struct RelayProcess {
    relay: Relay,
    child: Option<Child>,
    /// How it exited, once [`Self::wait_exit`] saw it exit.
    status: Option<ExitStatus>,
}

impl Deref for RelayProcess {
    type Target = Relay;
    fn deref(&self) -> &Relay {
        &self.relay
    }
}

impl RelayProcess {
    /// Starts `notify-relay` with the test settings adjusted by `tweak` (as
    /// [`super::TestApp::spawn_with`]), and waits until it is ready.
    pub async fn start(redis_url: Option<&str>, tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::start_logged(redis_url, tweak, &[("RUST_LOG", "warn")], None).await
    }

    /// Like [`Self::start`], with environment `envs` and stdout and stderr written to `log`.
    pub async fn start_logged(
        redis_url: Option<&str>,
        tweak: impl FnOnce(&mut Settings),
        envs: &[(&str, &str)],
        log: Option<&Path>,
    ) -> Self {
        let mut settings = test_settings(redis_url.map(str::to_owned));
        tweak(&mut settings);
        // The port is chosen here, not by the relay: the test needs it before the relay runs.
        // One found free can be taken before the relay binds it (the kernel hands out the same
        // range for the local end of outgoing connections, and many tests run at once): the
        // relay then exits at once, and starts again on another port.
        for _ in 0..3 {
            let port = free_port();
            let mut child = spawn_binary(None, redis_url, envs, log, |s| {
                *s = settings.clone();
                s.listen = format!("127.0.0.1:{port}").parse().expect("addr");
            });
            let relay = Relay::at(format!("http://127.0.0.1:{port}"));
            let ready = within(WAIT, || {
                let exited = child.try_wait().ok().flatten().is_some();
                let relay = &relay;
                async move {
                    if exited {
                        return Ok(false);
                    }
                    match relay.http.get(relay.url("/readyz")).send().await {
                        Ok(res) if res.status() == 200 => Ok(true),
                        _ => Err(()),
                    }
                }
            })
            .await;
            match ready {
                Ok(true) => {
                    return Self {
                        relay,
                        child: Some(child),
                        status: None,
                    };
                }
                Ok(false) => continue,
                Err(()) => {
                    let _ = child.kill();
                    panic!("the relay on port {port} never became ready");
                }
            }
        }
        panic!("the relay exited at start on three free ports");
    }

    /// The process id, to read its memory or signal it.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("running")
    }

    /// Sends a signal (`TERM`, `STOP`, ...).
    pub fn signal(&self, name: &str) {
        signal(self.pid(), name);
    }

    /// Waits for the process to exit, at most `limit`; returns whether it did.
    pub async fn wait_exit(&mut self, limit: Duration) -> bool {
        let Some(child) = self.child.as_mut() else {
            return self.status.is_some();
        };
        let exited = within(limit, || {
            let status = child.try_wait().expect("try_wait");
            async move { status.ok_or(()) }
        })
        .await;
        match exited {
            Ok(status) => {
                self.child = None;
                self.status = Some(status);
                true
            }
            Err(()) => false,
        }
    }

    /// The exit code, once [`Self::wait_exit`] saw the process exit (`None` if a signal ended it).
    pub fn exit_code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Kills the relay (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        kill_child(&mut self.child);
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the binary with its stdout and stderr written to a file, makes `requests` to it, stops
/// it with SIGTERM and returns everything it wrote: what a test of the logs reads.
pub async fn logged_run(
    redis_url: Option<&str>,
    tweak: impl FnOnce(&mut Settings),
    envs: &[(&str, &str)],
    requests: impl AsyncFnOnce(&Relay),
) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("relay.log");
    let mut relay = RelayProcess::start_logged(redis_url, tweak, envs, Some(&path)).await;
    requests(&relay).await;
    relay.signal("TERM");
    assert!(
        relay.wait_exit(Duration::from_secs(10)).await,
        "relay did not stop"
    );
    std::fs::read_to_string(&path).expect("log")
}

/// `notify-relay mailer`, the mail worker as a process of its own; killed when dropped.
pub struct MailerProcess(Child);

impl MailerProcess {
    /// Starts the worker with the test settings for `redis_url` adjusted by `tweak`.
    pub fn start(redis_url: &str, tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::start_logged(redis_url, tweak, &[("RUST_LOG", "warn")], None)
    }

    /// Like [`Self::start`], with environment `envs` and stdout and stderr written to `log`.
    pub fn start_logged(
        redis_url: &str,
        tweak: impl FnOnce(&mut Settings),
        envs: &[(&str, &str)],
        log: Option<&Path>,
    ) -> Self {
        Self(spawn_binary(
            Some("mailer"),
            Some(redis_url),
            envs,
            log,
            |s| {
                tweak(s);
                // The subcommand is the worker; the flag would be redundant.
                s.mailer = false;
            },
        ))
    }

    /// Sends a signal (`TERM`, ...).
    pub fn signal(&self, name: &str) {
        signal(self.0.id(), name);
    }

    /// How it exited, if it has.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().expect("try_wait")
    }

    /// Kills the worker (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for MailerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends the signal `name` (`TERM`, `STOP`, `CONT`, ...) to process `pid` with kill(1).
pub fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(ok.success(), "kill -{name} {pid}");
}

/// Kills the process in `child`, if there is one, with SIGKILL and reaps it.
pub fn kill_child(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Runs the binary (`subcommand` first if any) with the test settings adjusted by `tweak`,
/// expecting it to stop at start-up; returns its exit code and everything it wrote (stdout,
/// then stderr). A malformed value no [`Settings`] can hold goes in `envs` (as an operator's
/// environment would carry it); `RUST_LOG` is not inherited. Panics if the binary is still
/// running after [`WAIT`].
pub async fn start_failure(
    subcommand: Option<&str>,
    redis_url: Option<&str>,
    tweak: impl FnOnce(&mut Settings),
    envs: &[(&str, &str)],
) -> (Option<i32>, String) {
    let mut cmd = tokio::process::Command::from(command(subcommand, redis_url, envs, tweak));
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().expect("relay binary");
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the relay should have stopped at start-up: {cmd:?}"))
        .expect("wait");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

/// Runs the binary (`subcommand` first if any) with the test settings adjusted by `tweak`.
fn spawn_binary(
    subcommand: Option<&str>,
    redis_url: Option<&str>,
    envs: &[(&str, &str)],
    log: Option<&Path>,
    tweak: impl FnOnce(&mut Settings),
) -> Child {
    let mut cmd = command(subcommand, redis_url, envs, tweak);
    match log {
        Some(path) => {
            let file = std::fs::File::create(path).expect("log file");
            cmd.stdout(file.try_clone().expect("log file")).stderr(file);
        }
        None => {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    cmd.spawn().expect("relay binary")
}

/// The binary's command line for the test settings adjusted by `tweak`, with `envs` set and
/// the test's own `RUST_LOG` left out (so what it prints does not depend on who runs it).
fn command(
    subcommand: Option<&str>,
    redis_url: Option<&str>,
    envs: &[(&str, &str)],
    tweak: impl FnOnce(&mut Settings),
) -> Command {
    let mut settings = test_settings(redis_url.map(str::to_owned));
    tweak(&mut settings);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_notify-relay"));
    cmd.args(subcommand)
        .args(flags(&settings))
        .env_remove("RUST_LOG")
        .envs(envs.iter().copied());
    cmd
}
