//! Reading the log: a page of records, newest first, filtered by user and status, bounded by
//! [`SCAN_MAX`]; on a partitioned store, every user's records merged by time.

use std::collections::HashMap;

use super::{NotificationLog, Page, Record, SCAN_MAX, Status, record};
use crate::{broker::BrokerError, event::UserId};

/// Records read per round trip while filtering.
const PAGE: usize = 200;

/// Adds to `out` the records read (a deleted one reads empty) that are in `status`, until it
/// holds `limit`.
fn keep(
    out: &mut Vec<Record>,
    read: Vec<HashMap<String, String>>,
    status: Option<Status>,
    limit: usize,
) {
    let wanted = status.map(Status::as_str);
    let room = limit.saturating_sub(out.len());
    out.extend(
        read.into_iter()
            .filter(|r| !r.is_empty())
            .map(record)
            .filter(|r| wanted.is_none_or(|s| r.status == s))
            .take(room),
    );
}

impl NotificationLog {
    /// Records, newest first, optionally of one user and in one status, at most `limit`; with
    /// a status, only the newest [`SCAN_MAX`] records (or `limit`, if more) are looked at.
    pub async fn list(
        &self,
        user: Option<&UserId>,
        status: Option<Status>,
        limit: usize,
    ) -> Result<Page, BrokerError> {
        let (p, index) = match user {
            Some(u) => {
                let p = self.redis.partition_of(u.as_str());
                (
                    p,
                    self.redis.partition_key(p, &format!("notifications:u:{u}")),
                )
            }
            None if self.redis.partitions().len() > 1 => {
                return self.list_merged(status, limit).await;
            }
            None => (0, self.redis.partition_key(0, "notifications")),
        };
        let mut conn = self.redis.connection().await?;
        let mut out = Vec::new();
        let mut start = 0;
        let scan_max = SCAN_MAX.max(limit);
        let mut partial = false;
        while out.len() < limit {
            if start >= scan_max {
                partial = true;
                break;
            }
            let page = PAGE.min(scan_max - start);
            let ids: Vec<String> = redis::cmd("ZRANGE")
                .arg(&index)
                .arg(start)
                .arg(start + page - 1)
                .arg("REV")
                .query_async(&mut conn)
                .await
                .map_err(BrokerError::from)?;
            if ids.is_empty() {
                break;
            }
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.cmd("HGETALL").arg(self.record_key(p, id));
            }
            let records: Vec<HashMap<String, String>> = pipe
                .query_async(&mut conn)
                .await
                .map_err(BrokerError::from)?;
            keep(&mut out, records, status, limit);
            if ids.len() < page {
                break;
            }
            start += page;
        }
        Ok(Page {
            notifications: out,
            partial,
        })
    }

    /// Every user's records on a partitioned store: each partition's index holds the records
    /// of its users, so the newest of each are merged by time. Looks at the newest `limit`
    /// records of each partition, or with a status [`SCAN_MAX`] (or `limit`, if more).
    async fn list_merged(&self, status: Option<Status>, limit: usize) -> Result<Page, BrokerError> {
        let mut conn = self.redis.connection().await?;
        let scan_max = SCAN_MAX.max(limit);
        let each = if status.is_some() { scan_max } else { limit };
        let mut newest: Vec<(f64, usize, String)> = Vec::new();
        let mut capped = false;
        for p in 0..self.redis.partitions().len() {
            let ids: Vec<(String, f64)> = redis::cmd("ZRANGE")
                .arg(self.redis.partition_key(p, "notifications"))
                .arg(0)
                .arg(each.max(1) - 1)
                .arg("REV")
                .arg("WITHSCORES")
                .query_async(&mut conn)
                .await
                .map_err(BrokerError::from)?;
            capped |= ids.len() >= each;
            newest.extend(ids.into_iter().map(|(id, at)| (at, p, id)));
        }
        // Newest first; ids (time-based stream ids) break ties.
        newest.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| b.2.cmp(&a.2)));
        capped |= newest.len() > scan_max;
        newest.truncate(scan_max);
        let mut out = Vec::new();
        for chunk in newest.chunks(PAGE) {
            if out.len() >= limit {
                break;
            }
            let mut records = Vec::with_capacity(chunk.len());
            for (_, p, id) in chunk {
                let h: HashMap<String, String> = redis::cmd("HGETALL")
                    .arg(self.record_key(*p, id))
                    .query_async(&mut conn)
                    .await
                    .map_err(BrokerError::from)?;
                records.push(h);
            }
            keep(&mut out, records, status, limit);
        }
        Ok(Page {
            partial: capped && out.len() < limit && status.is_some(),
            notifications: out,
        })
    }
}
