//! The stop signals the relay and the mail worker obey.

/// Resolves on SIGTERM or SIGINT. SIGTERM is listened for from the call on (not from the
/// first poll), so one that comes while the caller is still starting is not missed.
pub(super) fn on_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
