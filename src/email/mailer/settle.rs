//! Settling an outbox entry in the consumer group: keeping it while it is worked on, and
//! acknowledging it once sent or given up on.

use redis::Value;

use super::{GROUP, Mailer};
use crate::{broker::BrokerError, email::notification_log::Status};

impl Mailer {
    /// Records a permanent failure, then acknowledges: the log keeps the reason.
    pub(super) async fn give_up(
        &self,
        p: usize,
        id: &str,
        reason: &str,
    ) -> Result<(), BrokerError> {
        self.log
            .update(p, id, Status::Failed, "error_message", reason)
            .await?;
        self.stats.failed.inc();
        tracing::warn!(%id, %reason, "email failed permanently");
        self.ack(p, id).await
    }

    /// Resets the entry's idle time, so no other worker reclaims it while this one retries;
    /// false when it is no longer this worker's (another reclaimed it, or it was settled).
    pub(super) async fn touch(&self, p: usize, id: &str) -> Result<bool, BrokerError> {
        let mut conn = self.redis.connection().await?;
        let pending: Value = redis::cmd("XPENDING")
            .arg(self.outbox(p))
            .arg(GROUP)
            .arg(id)
            .arg(id)
            .arg(1)
            .arg(&self.settings.consumer)
            .query_async(&mut conn)
            .await
            .map_err(BrokerError::from)?;
        if !matches!(&pending, Value::Array(entries) if !entries.is_empty()) {
            return Ok(false);
        }
        redis::cmd("XCLAIM")
            .arg(self.outbox(p))
            .arg(GROUP)
            .arg(&self.settings.consumer)
            .arg(0)
            .arg(id)
            .arg("JUSTID")
            .query_async::<Value>(&mut conn)
            .await
            .map(|_| true)
            .map_err(BrokerError::from)
    }

    pub(super) async fn ack(&self, p: usize, id: &str) -> Result<(), BrokerError> {
        let mut conn = self.redis.connection().await?;
        redis::pipe()
            .atomic()
            .cmd("XACK")
            .arg(self.outbox(p))
            .arg(GROUP)
            .arg(id)
            .ignore()
            // Settled entries leave the stream, so it only holds mail still to send.
            .cmd("XDEL")
            .arg(self.outbox(p))
            .arg(id)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(BrokerError::from)
    }
}
