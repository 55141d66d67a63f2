//! Builds the running relay from [`Settings`], split once into [`Config`]'s groups: broker,
//! hub, bridge, HTTP server.
//!
//! Every background loop is spawned into one [`Tasks`], created here; stopping ends the server
//! and the streams first, then cancels and joins the tasks. Each shared part is handed to the
//! HTTP server as its own app data (`app_data`), for the handlers that use it. Tests call
//! [`Application::build`] with port 0 and talk to the real server.

use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_web::{
    App, HttpServer,
    dev::{Server, ServerHandle},
    middleware::from_fn,
    web,
};

mod app_data;
mod broker;
mod mailer;
mod signal;
mod socket;

pub use mailer::run_mailer;

use app_data::AppData;
use broker::make_broker;
use signal::on_signal;
use socket::tune_socket;

use crate::{
    admin::Admin,
    auth::Authenticator,
    broker::BrokerError,
    config::{Config, Settings, SettingsError},
    email::{self, EmailError},
    error::ApiError,
    hub::Hub,
    limits::{self, RateLimits},
    metrics::Metrics,
    presence::Presence,
    redis_store::StoreError,
    routes::{self, Lease},
    tasks::{self, Tasks},
    telemetry,
};

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Settings that cannot work together.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The broker could not be set up.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// Redis cannot be used as configured (bad URL, refused credentials or certificate).
    #[error(transparent)]
    Redis(#[from] StoreError),
    /// The email settings cannot work.
    #[error(transparent)]
    Email(#[from] EmailError),
    /// `notify-relay mailer` was started without Redis.
    #[error("the mail worker needs the redis broker: set --redis-url / NOTIFY_REDIS_URL")]
    MailerNeedsRedis,
}

/// A built relay, bound and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    stopper: Stopper,
}

/// Stops a running relay gracefully: subscribers are ended first so browsers reconnect at once.
#[derive(Clone)]
pub struct Stopper {
    hub: Arc<Hub>,
    server: ServerHandle,
    /// How long ending the streams is spread over.
    drain: Duration,
    /// The background tasks, joined once the server has stopped.
    tasks: Tasks,
}

impl Stopper {
    /// Stops accepting (the listener closes, so a proxy tries another instance), answers
    /// waiting polls, ends the streams spread over `--drain-secs`, lets the server finish,
    /// and then stops and joins every background task (at most [`tasks::JOIN_WAIT`]); says how
    /// that went.
    pub async fn stop(&self) -> tasks::Joined {
        let stopped = self.server.stop(true);
        self.hub.drain(self.drain).await;
        stopped.await;
        // Only now: the tasks that write what connections reported (deliveries, trace records)
        // see every report before they flush and return.
        self.tasks.shutdown(tasks::JOIN_WAIT).await
    }

    /// How many background tasks are still running (none once [`Self::stop`] returned).
    pub fn running_tasks(&self) -> usize {
        self.tasks.running()
    }
}

impl Application {
    /// Binds the listener and wires everything; nothing is served until [`Self::run`].
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        settings.validate()?;
        for warning in settings.warnings() {
            tracing::warn!("INSECURE SETTING: {warning}");
        }
        let config: Config = settings.split();
        let server = config.server;
        let listener = TcpListener::bind(server.listen).map_err(|source| StartupError::Bind {
            addr: server.listen,
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                addr: server.listen,
                source,
            })?
            .port();
        let metrics = Metrics::new();
        let hub = Hub::new(config.hub, metrics.clone());
        let tasks = Tasks::new();
        let (broker, bridge, redis) = make_broker(config.broker, &hub, &metrics, &tasks).await?;
        let shared_redis = redis.as_ref().map(|(r, _)| r.clone());
        // This instance's name in presence, the delivery trace, the admin figures and the mail
        // worker's consumer group.
        let instance = format!("{:016x}", rand::random::<u64>());
        let presence = Presence::new(
            instance.clone(),
            hub.clone(),
            shared_redis.clone(),
            config.poll.timeout,
        );
        // Presence keeps nothing that is lost when it stops: its hash expires, as when the
        // process dies.
        tasks.spawn("presence", presence.clone().run());
        let email = email::start(&config.email, &instance, redis, &metrics, &tasks)?;
        metrics
            .trace
            .attach(&instance, shared_redis.clone(), &tasks);
        metrics.connections_limit.set(config.hub.total as i64);
        tasks.spawn(
            "hub-keepalive",
            hub.clone().run_keepalive(config.sse.keepalive),
        );
        let demo = server.demo;
        if demo {
            tracing::warn!(
                listen = %server.listen,
                "DEMO MODE: no --jwt-secret / NOTIFY_JWT_SECRET is set, so /demo/token hands out a token for any user id. For local demos only; the relay listens on loopback only."
            );
        }
        let limits = Arc::new(RateLimits::new(&config.limits));
        tasks.spawn("rate-limit-cleanup", limits.clone().run_cleanup());
        tasks.spawn("hub-deadlines", hub.clone().run_deadlines());
        let cors_origins = server.cors_origins;
        let write_timeout = server.write_timeout;
        let drain = server.drain;
        let auth = Authenticator::new(&config.auth);
        tasks.spawn("auth-failure-cleanup", auth.failures().run_cleanup());
        let lease = Arc::new(Lease(bridge));
        let email = Arc::new(email);
        let admin = Admin::new(
            config.admin,
            &instance,
            shared_redis,
            crate::admin::figures::Sources {
                hub: hub.clone(),
                broker: broker.clone(),
                metrics: metrics.clone(),
                lease: lease.clone(),
                presence: presence.clone(),
                email: email.clone(),
            },
        );
        let admin_on = admin.enabled();
        crate::admin::figures::start(&admin, &tasks);
        let description = routes::describe::Description::new(
            &config.parse,
            admin_on.then(crate::admin::description),
        );
        // Each part is its own app data, and each handler extracts only the parts it uses.
        let data = AppData {
            auth: web::Data::new(auth),
            broker: web::Data::from(broker),
            hub: web::Data::from(hub.clone()),
            lease: web::Data::from(lease),
            limits: web::Data::from(limits),
            bounds: web::Data::new(config.limits.bounds),
            tracer: web::Data::from(metrics.trace.clone()),
            metrics: web::Data::from(metrics),
            presence: web::Data::from(presence),
            deliveries: web::Data::from(email.deliveries.clone()),
            email: web::Data::from(email),
            sse: web::Data::new(config.sse),
            poll: web::Data::new(config.poll),
            parse: web::Data::new(config.parse),
            description: web::Data::new(description),
            admin: web::Data::from(admin),
        };
        let server = HttpServer::new(move || {
            App::new()
                // Every route in demo mode, so a proxy or a rebinding page can reach none of them.
                .wrap(actix_web::middleware::Condition::new(
                    demo,
                    from_fn(routes::demo::guard),
                ))
                .wrap(from_fn(limits::bound_request))
                // Outermost: the request id and span cover everything below.
                .wrap(from_fn(telemetry::request_span))
                .configure(|cfg| data.register(cfg))
                .configure(|cfg| routes::configure(cfg, demo, &cors_origins))
                .configure(|cfg| crate::admin::configure(cfg, admin_on))
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(ApiError::NotFound)
                }))
        })
        .on_connect(move |conn, _| tune_socket(conn, write_timeout))
        .workers(server.workers)
        .keep_alive(server.http_keepalive)
        // Notice a peer that closed its side at once, so its stream and queue are freed.
        .h1_allow_half_closed(false)
        // Streams end over the drain; what is still open 5 s after it is closed.
        .shutdown_timeout(drain.as_secs() + 5)
        .disable_signals()
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: ([0, 0, 0, 0], port).into(),
            source,
        })?
        .run();
        let stopper = Stopper {
            hub,
            server: server.handle(),
            drain,
            tasks,
        };
        Ok(Self {
            port,
            server,
            stopper,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle that stops the relay gracefully.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Serves until stopped through a [`Stopper`].
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Serves until SIGTERM or SIGINT, then stops gracefully; returns once the server and
    /// every background task have ended.
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        let stopper = self.stopper();
        let server = self.server;
        tokio::pin!(server);
        tokio::select! {
            served = &mut server => return served,
            () = on_signal() => {}
        }
        tracing::info!("signal received: draining streams and polls, then stopping");
        // The server must go on being polled for the stop to complete.
        let (served, _) = tokio::join!(server, stopper.stop());
        served
    }
}
