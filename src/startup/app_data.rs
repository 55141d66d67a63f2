//! The parts every worker's app is given as data: one `web::Data<T>` per shared part, so each
//! handler and middleware extracts only what it uses. Made once; each worker clones the handles.

use actix_web::web;

use crate::{
    admin::Admin,
    auth::Authenticator,
    broker::Broker,
    email::{Email, delivery::Deliveries},
    event::ParseLimits,
    hub::Hub,
    limits::{RateLimits, RequestBounds},
    metrics::Metrics,
    presence::Presence,
    routes::{Lease, PollSettings, SseSettings, describe::Description},
    trace::Tracer,
};

/// Every shared part, each registered as its own app data by [`AppData::register`].
#[derive(Clone)]
pub(super) struct AppData {
    pub(super) auth: web::Data<Authenticator>,
    pub(super) broker: web::Data<dyn Broker>,
    pub(super) hub: web::Data<Hub>,
    pub(super) lease: web::Data<Lease>,
    pub(super) limits: web::Data<RateLimits>,
    /// Read by `limits::bound_request`, which runs before any route.
    pub(super) bounds: web::Data<RequestBounds>,
    pub(super) tracer: web::Data<Tracer>,
    pub(super) metrics: web::Data<Metrics>,
    pub(super) presence: web::Data<Presence>,
    pub(super) deliveries: web::Data<Deliveries>,
    pub(super) email: web::Data<Email>,
    pub(super) sse: web::Data<SseSettings>,
    pub(super) poll: web::Data<PollSettings>,
    pub(super) parse: web::Data<ParseLimits>,
    pub(super) description: web::Data<Description>,
    pub(super) admin: web::Data<Admin>,
}

impl AppData {
    /// Registers every part with one worker's app.
    pub(super) fn register(&self, cfg: &mut web::ServiceConfig) {
        let this = self.clone();
        cfg.app_data(this.auth)
            .app_data(this.broker)
            .app_data(this.hub)
            .app_data(this.lease)
            .app_data(this.limits)
            .app_data(this.bounds)
            .app_data(this.tracer)
            .app_data(this.metrics)
            .app_data(this.presence)
            .app_data(this.deliveries)
            .app_data(this.email)
            .app_data(this.sse)
            .app_data(this.poll)
            .app_data(this.parse)
            .app_data(this.description)
            .app_data(this.admin);
    }
}
