//! The admin JSON routes' answers, typed so that `/openapi.json` describes them from the code
//! that writes them. [`InstanceFigures`] is also what each instance shares through Redis for the
//! others' overviews.

use std::{collections::BTreeMap, sync::Arc};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{
    email::{contacts::Contact, notification_log::Record},
    event::{EventId, StoredEvent},
};

/// `GET /admin/overview`: this instance, the cluster, every instance, failed emails, recent
/// errors.
#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    /// The instance that answered.
    pub instance: InstanceFigures,
    /// Sums over every instance seen within the last few seconds.
    pub cluster: ClusterFigures,
    /// Every such instance, this one included, by name.
    pub instances: Vec<InstanceFigures>,
    /// The newest emails given up on.
    pub failed_emails: Vec<Record>,
    /// This instance's newest WARN and ERROR log lines.
    #[schema(value_type = Vec<Object>)]
    pub recent_errors: Vec<Value>,
}

/// One instance's figures, sampled once a second.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InstanceFigures {
    /// The instance's name.
    pub instance: String,
    /// When it was sampled, ms since the epoch.
    pub at_ms: u64,
    /// Its open connections and its limit.
    pub connections: InstanceConnections,
    /// Users with a connection on it.
    pub users_online: u64,
    /// Events stored per second, over the last few seconds.
    pub events_in_per_sec: f64,
    /// Events written to connections per second, over the last few seconds.
    pub events_out_per_sec: f64,
    /// It holds the leader lease.
    pub lease_holder: bool,
    /// Its log tail is positioned and delivering.
    pub tail_live: bool,
    /// How far its tail is behind the log's newest id; `null` when the broker did not answer.
    pub tail_lag_ms: Option<u64>,
    /// Emails its mail worker sent.
    pub emails_sent: u64,
    /// Emails its mail worker gave up on.
    pub emails_failed: u64,
}

/// An instance's open connections by transport, and the most it accepts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InstanceConnections {
    /// Open SSE streams.
    pub sse: u64,
    /// Waiting polls.
    pub poll: u64,
    /// `--max-connections`.
    pub limit: u64,
}

/// The figures summed over every instance.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterFigures {
    /// Instances seen within the last few seconds.
    pub instances: usize,
    /// Their open connections by transport.
    pub connections: ClusterConnections,
    /// Users with a connection, counted per instance (a user on two counts twice).
    pub users_online: u64,
    /// Events stored per second.
    pub events_in_per_sec: f64,
    /// Events written to connections per second.
    pub events_out_per_sec: f64,
    /// The instance holding the leader lease, if one does.
    pub lease_holder: Option<String>,
    /// Emails not sent yet; `null` without Redis or when it did not answer.
    pub email_outbox_depth: Option<u64>,
    /// Emails given up on.
    pub emails_failed: u64,
}

/// Open connections by transport, over every instance.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterConnections {
    /// Open SSE streams.
    pub sse: u64,
    /// Waiting polls.
    pub poll: u64,
}

/// `GET /admin/users/{user}`: what the relay knows of one user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserLookup {
    /// The user.
    pub user: String,
    /// Whether they are online, and where.
    pub presence: PresenceByInstance,
    /// Their history's size and newest events.
    pub history: HistorySummary,
    /// Their email contact, if registered.
    pub contact: Option<Contact>,
    /// Email is possible here (the redis broker).
    pub email_available: bool,
    /// Their newest notification log records.
    pub notifications: Vec<Record>,
    /// Whether their delivery trace is on.
    pub trace: TraceSwitch,
}

/// A user's presence, with their connections on each live instance.
#[derive(Debug, Serialize, ToSchema)]
pub struct PresenceByInstance {
    /// They have a live connection somewhere.
    pub online: bool,
    /// Their live connections over all instances.
    pub connections: u64,
    /// Their live connections per instance name.
    pub instances: BTreeMap<String, u64>,
}

/// A user's history: how many events it holds and the newest ones, or, when it cannot be
/// read from the start, the log's position a client would be reset to.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistorySummary {
    /// Events held (0 on a reset).
    pub count: usize,
    /// The newest event's id (`null` when there is none or on a reset).
    pub head: Option<EventId>,
    /// The newest events, newest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<StoredEvent>>)]
    pub newest: Option<Vec<Arc<StoredEvent>>>,
    /// The log's position, when the history is answered with a reset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_head: Option<EventId>,
}

/// Whether a user's delivery trace is on, and until when.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceSwitch {
    /// A trace is on.
    pub tracing: bool,
    /// When it ends, ms since the epoch.
    pub until_ms: Option<u64>,
}
