//! Following Sentinel: which node is the primary now, and switching every caller's next command
//! to a new one when the sentinels report a failover (polled, and on `+switch-master`).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use super::{Node, RedisStore, StoreError, sentinel};

/// How long a primary named by a failover notice is kept before polls may overrule it (a
/// failover that was aborted).
const PIN_NOTICE: Duration = Duration::from_secs(30);

impl RedisStore {
    /// The current primary, asking the sentinels first if none is known yet.
    pub(crate) async fn primary(&self) -> Result<Arc<Node>, StoreError> {
        if self.cluster.is_some() {
            return Err(StoreError::Unavailable(
                "a redis cluster has no single primary".into(),
            ));
        }
        if let Some(node) = self.current() {
            return Ok(node);
        }
        self.refresh().await?;
        self.current()
            .ok_or_else(|| StoreError::Unavailable("no redis primary known".into()))
    }

    /// Asks the sentinels for the primary and switches to it if it moved; true if it did.
    pub(super) async fn refresh(&self) -> Result<bool, StoreError> {
        let Some(sentinels) = &self.sentinels else {
            return Ok(false);
        };
        let addr = sentinels.primary().await?;
        {
            let mut pinned = self.pinned.lock().unwrap_or_else(|p| p.into_inner());
            match &*pinned {
                Some((to, _)) if *to == addr => *pinned = None,
                Some((_, until)) if Instant::now() < *until => return Ok(false),
                _ => *pinned = None,
            }
        }
        self.switch_to(addr)
    }

    /// Makes `addr` the primary every caller's next command goes to; true if it moved.
    pub(super) fn switch_to(&self, addr: (String, u16)) -> Result<bool, StoreError> {
        if self
            .current()
            .is_some_and(|n| n.addr.as_ref() == Some(&addr))
        {
            return Ok(false);
        }
        let client = self.template.client_for(Some((&addr.0, addr.1)))?;
        tracing::warn!(primary = %format!("{}:{}", addr.0, addr.1), "the sentinels name a new redis primary: switching to it");
        *self.node.write().unwrap_or_else(|p| p.into_inner()) = Some(Node::new(client, Some(addr)));
        Ok(true)
    }

    /// Whether the store follows sentinels, so [`Self::follow_failovers`] has work to do.
    pub fn has_sentinels(&self) -> bool {
        self.sentinels.is_some()
    }

    /// Follows the sentinels until the relay stops (the caller drops it): on every
    /// `+switch-master` notice, and at least every [`sentinel::POLL_EVERY`], the primary they
    /// name becomes this store's.
    pub async fn follow_failovers(self: Arc<Self>) {
        let Some(sentinels) = &self.sentinels else {
            return;
        };
        let (mut notices, watch) = sentinels.watch_switches();
        // The watch and the follower run side by side in this one task, and end with it.
        let follow = async {
            loop {
                if let Err(e) = self.refresh().await {
                    tracing::warn!(error = %e, "cannot ask the sentinels for the redis primary");
                }
                let deadline = tokio::time::sleep(sentinel::POLL_EVERY);
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        () = &mut deadline => break,
                        Some(notice) = notices.recv() => {
                            *self.pinned.lock().unwrap_or_else(|p| p.into_inner()) =
                                (!notice.done).then(|| (notice.addr.clone(), Instant::now() + PIN_NOTICE));
                            if let Err(e) = self.switch_to(notice.addr) {
                                tracing::warn!(error = %e, "cannot switch to the new redis primary");
                            }
                        }
                    }
                }
            }
        };
        futures_util::future::join(watch, follow).await;
    }
}
