//! One event, several partitions: the append script runs once in each partition the event
//! touches (every partition for a topic, whose members are split by partition), concurrently.
//! Without a cluster there is one partition and this is a single call, as before partitions.
//!
//! The event is acknowledged only when every partition's run succeeded. A failed run leaves the
//! others stored; the publisher's retry with the same idempotency key stores the event only
//! where it is missing (each partition keeps its own record of the key, in its own slot).

use futures_util::future::join_all;

use super::RedisBroker;
use crate::{
    broker::{Appended, BrokerError},
    event::{NewEvent, UserId},
};

impl RedisBroker {
    /// `users` sorted into the partitions they live in (one list per partition, order kept).
    pub(super) fn group_by_partition<'a>(
        &self,
        users: impl Iterator<Item = &'a UserId>,
    ) -> Vec<Vec<&'a UserId>> {
        let mut groups = vec![Vec::new(); self.partitions()];
        for user in users {
            groups[self.store.partition_of(user.as_str())].push(user);
        }
        groups
    }

    /// Appends `new` in every partition it touches; `seq` numbers a bridge message (the same
    /// number in every partition: each keeps its own record of the last one stored).
    pub(super) async fn append_partitioned(
        &self,
        new: &NewEvent,
        lease_token: &str,
        seq: Option<u64>,
    ) -> Result<Appended, BrokerError> {
        let groups = self.group_by_partition(new.recipients.iter());
        let once = self.once_record(new);
        let once = once.as_ref();
        if groups.len() == 1 {
            return self
                .append_in(0, new, &groups[0], lease_token, seq, once)
                .await;
        }
        if new.topic.is_some() {
            self.check_topic_size(new).await?;
        }
        let runs = groups
            .iter()
            .enumerate()
            .filter(|(_, named)| new.topic.is_some() || !named.is_empty())
            .map(|(p, named)| async move {
                (
                    p,
                    self.append_in(p, new, named, lease_token, seq, once).await,
                )
            });
        let mut first: Option<(usize, crate::event::EventId)> = None;
        let mut recipients = 0;
        let mut failed = None;
        for (p, result) in join_all(runs).await {
            match result {
                Ok(appended) => {
                    recipients += appended.recipients;
                    if let Some(id) = appended.id
                        && first.is_none_or(|(q, _)| p < q)
                    {
                        first = Some((p, id));
                    }
                }
                // The most telling error wins: a lost lease or a refusal over a transient one.
                Err(e) => {
                    failed = Some(match (failed, e) {
                        (Some(BrokerError::NotLeaseHolder), _)
                        | (_, BrokerError::NotLeaseHolder) => BrokerError::NotLeaseHolder,
                        (Some(t @ BrokerError::TopicTooLarge(_)), _) => t,
                        (_, e) => e,
                    });
                }
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(Appended {
            id: first.map(|(_, id)| id),
            recipients,
        })
    }

    /// A topic's members are split by partition and each run checks only its share against
    /// `--max-topic-recipients`: the whole topic is counted first, so that a topic over the
    /// cap is refused before any partition stores the event.
    async fn check_topic_size(&self, new: &NewEvent) -> Result<(), BrokerError> {
        let Some(topic) = &new.topic else {
            return Ok(());
        };
        let counts = (0..self.partitions()).map(|p| async move {
            let mut conn = self.conn().await?;
            redis::cmd("ZCARD")
                .arg(self.topic_key(p, topic))
                .query_async::<usize>(&mut conn)
                .await
                .map_err(BrokerError::from)
        });
        let mut total = 0usize;
        for count in join_all(counts).await {
            total = total.saturating_add(count?);
        }
        if total > self.settings.max_topic_recipients {
            return Err(BrokerError::TopicTooLarge(
                self.settings.max_topic_recipients,
            ));
        }
        Ok(())
    }
}
