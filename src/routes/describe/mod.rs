//! The OpenAPI 3.1 description of the HTTP API, built once at start-up.
//!
//! The operations come from the handlers' own `#[utoipa::path]`s, through the same lists that
//! register them ([`super::ApiDoc`], and the admin routes' description when they are on, handed
//! in by the application), plus the CORS preflights that [`crate::cors`] answers. What depends on how this relay was started is
//! written here, from the parse limits and the domain's constants ([`limits`]): the message body
//! with `--max-recipients`, user id and topic schemas, the 414/431 that
//! `limits::bound_request` may answer on any route, and `Retry-After`.
//! `tests/api/openapi.rs` checks that the document names exactly the routes the relay serves,
//! and schemathesis (`tests/schemathesis.sh`) checks the real answers against it.

use bytes::Bytes;
use serde_json::{Value, json};
use utoipa::{
    OpenApi as _,
    openapi::{
        InfoBuilder, OpenApi, OpenApiBuilder,
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::event::ParseLimits;

mod limits;

/// The description as served, rendered once.
pub struct Description {
    /// The JSON document.
    pub json: Bytes,
}

impl Description {
    /// The description of a relay that parses messages with `parse`, with the `extra` routes
    /// it serves (the admin routes, when they are on).
    pub fn new(parse: &ParseLimits, extra: Option<OpenApi>) -> Self {
        let doc = document(parse, extra);
        Self {
            json: Bytes::from(doc.to_string()),
        }
    }
}

/// The description as a JSON value.
pub fn document(parse: &ParseLimits, extra: Option<OpenApi>) -> Value {
    let mut api = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("notify-relay")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Pushes per-user notifications to browsers over Server-Sent Events and long-poll.",
                ))
                .build(),
        )
        .build();
    api.merge(super::ApiDoc::openapi());
    api.merge(crate::cors::PreflightDoc::openapi());
    security_schemes(&mut api);
    if let Some(extra) = extra {
        api.merge(extra);
    }
    let mut doc = serde_json::to_value(api).unwrap_or_else(|_| json!({}));
    limits::write(&mut doc, parse);
    doc
}

/// The schemes: a subscriber JWT in three places, the publish key, the optional metrics key.
fn security_schemes(api: &mut OpenApi) {
    let bearer = |desc: &str| {
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(desc))
                .build(),
        )
    };
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "subscriber_bearer",
        bearer("HS256 JWT whose `sub` is the user id"),
    );
    components.add_security_scheme(
        "subscriber_cookie",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("notify_token"))),
    );
    components.add_security_scheme(
        "subscriber_query",
        SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("token"))),
    );
    components.add_security_scheme("publish_key", bearer("the --publish-key"));
    components.add_security_scheme("metrics_key", bearer("the --metrics-key, if set"));
}
