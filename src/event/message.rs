//! A publisher's message: parsed once at the edge, with its recipients, name and routing fields
//! taken out of the delivered data.

use serde_json::{Map, Value};

use super::{
    EventError, IdempotencyKey, MAX_EVENT_NAME_CHARS, RESERVED_EVENT_NAMES, Topic, UserId,
};

/// Limits applied when parsing a publisher's message.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// Largest message, in bytes.
    pub max_bytes: usize,
    /// Most recipients in one message.
    pub max_recipients: usize,
}

/// A publisher's message, validated and ready to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The users named directly, without duplicates, in the order given.
    pub recipients: Vec<UserId>,
    /// A topic whose subscribers are recipients too, expanded when the event is appended.
    pub topic: Option<Topic>,
    /// Users left out even if named or subscribed (say, the one who made the change).
    pub exclude: Vec<UserId>,
    /// SSE event name, if the publisher set `event`.
    pub event: Option<String>,
    /// The published object without its [`ROUTING_FIELDS`](super::ROUTING_FIELDS), as compact JSON: what subscribers
    /// receive as `data`.
    pub data: String,
    /// True when a recipient who does not see the event live gets it by email (`"fallback":
    /// "email"`, or a pub/sub channel configured for it).
    pub fallback: bool,
    /// The publisher's name for this event: a second append with it stores nothing.
    pub idempotency_key: Option<IdempotencyKey>,
}

impl NewEvent {
    /// Parses a publisher's message (pub/sub payload or `POST /publish` body).
    pub fn parse(bytes: &[u8], limits: ParseLimits) -> Result<Self, EventError> {
        if bytes.len() > limits.max_bytes {
            return Err(EventError::TooLarge(limits.max_bytes));
        }
        let mut object: Map<String, Value> =
            serde_json::from_slice(bytes).map_err(|e| EventError::NotJson(e.to_string()))?;
        // Between publisher and relay only: taken out of what recipients receive.
        let idempotency_key = match object.remove("idempotency_key") {
            None | Some(Value::Null) => None,
            Some(Value::String(key)) => Some(IdempotencyKey::parse(&key)?),
            Some(_) => return Err(EventError::BadIdempotencyKey),
        };
        let topic = match object.get("topic") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(Topic::parse(t)?),
            Some(_) => return Err(EventError::BadTopic),
        };
        // The routing fields are taken out as they are read (no lookup more than reading them),
        // in place so the publisher's field order stays (`remove` would swap the last one in).
        let user_ids = object.shift_remove("user_ids");
        let recipients = recipients(
            &object,
            user_ids.as_ref(),
            limits.max_recipients,
            topic.is_some(),
        )?;
        let exclude = match object.shift_remove("exclude") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(users)) if users.len() <= limits.max_recipients => users
                .iter()
                .map(UserId::from_json)
                .collect::<Result<_, _>>()
                .map_err(|_| EventError::BadExclude)?,
            Some(_) => return Err(EventError::BadExclude),
        };
        let event = match object.get("event") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) if RESERVED_EVENT_NAMES.contains(&name.as_str()) => {
                return Err(EventError::ReservedEventName(name.clone()));
            }
            Some(Value::String(name)) if valid_event_name(name) => Some(name.clone()),
            Some(_) => return Err(EventError::BadEventName),
        };
        let fallback = match object.shift_remove("fallback") {
            None | Some(Value::Null) => false,
            Some(Value::String(f)) if f == "email" => true,
            Some(_) => return Err(EventError::BadFallback),
        };
        let data = Value::Object(object).to_string();
        Ok(Self {
            recipients,
            topic,
            exclude,
            event,
            data,
            fallback,
            idempotency_key,
        })
    }
}

fn valid_event_name(name: &str) -> bool {
    let chars = name.chars().count();
    (1..=MAX_EVENT_NAME_CHARS).contains(&chars) && !name.chars().any(char::is_control)
}

fn recipients(
    object: &Map<String, Value>,
    user_ids: Option<&Value>,
    max: usize,
    has_topic: bool,
) -> Result<Vec<UserId>, EventError> {
    let mut users = Vec::new();
    if let Some(one) = object.get("user_id").filter(|v| !v.is_null()) {
        users.push(UserId::from_json(one)?);
    }
    match user_ids {
        None | Some(Value::Null) => {}
        Some(Value::Array(many)) => {
            if many.len() > max {
                return Err(EventError::TooManyRecipients(max));
            }
            for value in many {
                let user = UserId::from_json(value)?;
                if !users.contains(&user) {
                    users.push(user);
                }
            }
        }
        Some(_) => return Err(EventError::BadUserIds),
    }
    if users.is_empty() && !has_topic {
        return Err(EventError::NoRecipient);
    }
    if users.len() > max {
        return Err(EventError::TooManyRecipients(max));
    }
    Ok(users)
}
