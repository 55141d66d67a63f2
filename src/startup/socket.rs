//! How each accepted connection's socket is set up for a stream of small frames.

use std::time::Duration;

/// Tunes each accepted socket for a stream of small frames:
/// - `TCP_NODELAY`: an event is written the moment it arrives; with Nagle on, a frame that
///   follows another within a round trip waits for the client's delayed ACK (up to 40 ms).
/// - `TCP_USER_TIMEOUT`: the kernel drops a connection whose written data stays unacknowledged
///   for `timeout` (a client that stopped reading, or vanished without a FIN). actix never polls
///   a blocked stream's body again, so without it such a connection would hold its socket forever.
pub(super) fn tune_socket(conn: &dyn std::any::Any, timeout: Duration) {
    let Some(stream) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return;
    };
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_user_timeout(Some(timeout)) {
        tracing::debug!(error = %e, "could not set TCP_USER_TIMEOUT");
    }
}
