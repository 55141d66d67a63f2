//! Reading Redis replies: stream entries, `XREAD` results, and the events they carry.

use std::sync::Arc;

use redis::Value;

use super::corrupt;
use crate::{
    broker::{BrokerError, LogEntry},
    event::{EventId, StoredEvent, UserId},
};

/// Fields of one stream entry, by name.
pub(super) struct Fields {
    pub(super) data: Option<String>,
    pub(super) event: Option<String>,
    pub(super) users: Option<String>,
    /// How many more recipients a big topic entry has in its snapshot (`r`, see `append.lua`).
    pub(super) snapshot: usize,
    pub(super) fallback: bool,
}

pub(super) fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

pub(super) fn parse_id(v: &Value) -> Result<EventId, BrokerError> {
    text(v)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| corrupt("bad stream id"))
}

pub(super) fn parse_entry(v: Value) -> Result<(EventId, Fields), BrokerError> {
    let Value::Array(parts) = v else {
        return Err(corrupt("stream entry is not an array"));
    };
    let [id, fields]: [Value; 2] = parts
        .try_into()
        .map_err(|_| corrupt("stream entry has the wrong shape"))?;
    let id = parse_id(&id)?;
    let pairs: Vec<Value> = match fields {
        Value::Array(items) => items,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => return Err(corrupt("stream fields are not a list")),
    };
    let mut out = Fields {
        data: None,
        event: None,
        users: None,
        snapshot: 0,
        fallback: false,
    };
    for pair in pairs.chunks(2) {
        let (Some(name), Some(value)) = (pair.first().and_then(text), pair.get(1).and_then(text))
        else {
            continue;
        };
        match name.as_str() {
            "d" => out.data = Some(value),
            "e" => out.event = Some(value).filter(|e| !e.is_empty()),
            "u" => out.users = Some(value),
            "f" => out.fallback = value == "1",
            "r" => {
                out.snapshot = value
                    .parse()
                    .map_err(|_| corrupt("log entry has a bad snapshot count"))?;
            }
            _ => {}
        }
    }
    Ok((id, out))
}

pub(super) fn stored(id: EventId, fields: &Fields) -> Result<StoredEvent, BrokerError> {
    let data = fields
        .data
        .clone()
        .ok_or_else(|| corrupt("entry has no data"))?;
    StoredEvent::new(id, fields.event.clone(), data)
        .map(|e| e.with_fallback(fields.fallback))
        .map_err(|e| corrupt(&e.to_string()))
}

/// A log entry as stored, with how many of its recipients are in its topic snapshot
/// `<prefix>r:<id>` rather than in the entry (0 for most entries; see `append.lua`).
pub(super) fn parse_log_entry(v: Value) -> Result<(LogEntry, usize), BrokerError> {
    let (id, fields) = parse_entry(v)?;
    let users: Vec<String> = fields
        .users
        .as_deref()
        .and_then(|u| serde_json::from_str(u).ok())
        .ok_or_else(|| corrupt("log entry has no recipients"))?;
    let recipients = users
        .iter()
        .map(|u| UserId::parse(u))
        .collect::<Result<_, _>>()
        .map_err(|e| corrupt(&e.to_string()))?;
    Ok((
        LogEntry {
            event: Arc::new(stored(id, &fields)?),
            recipients,
        },
        fields.snapshot,
    ))
}

/// Adds the members of one page of a topic snapshot (a `ZRANGE` reply) to `recipients`.
pub(super) fn add_snapshot_page(
    page: Vec<String>,
    recipients: &mut Vec<UserId>,
) -> Result<(), BrokerError> {
    for member in page {
        recipients.push(UserId::parse(&member).map_err(|e| corrupt(&e.to_string()))?);
    }
    Ok(())
}

/// The entries of an `XREAD` reply on one stream (nil when the block timed out).
pub(super) fn xread_entries(reply: Value) -> Result<Vec<Value>, BrokerError> {
    let stream = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(mut streams) if !streams.is_empty() => match streams.swap_remove(0) {
            Value::Array(mut pair) if pair.len() == 2 => pair.swap_remove(1),
            _ => return Err(corrupt("xread stream has the wrong shape")),
        },
        Value::Map(mut streams) if !streams.is_empty() => streams.swap_remove(0).1,
        _ => return Err(corrupt("xread reply has the wrong shape")),
    };
    match stream {
        Value::Array(entries) => Ok(entries),
        _ => Err(corrupt("xread entries are not an array")),
    }
}
