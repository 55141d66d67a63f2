//! The floor under the relay's memory per idle SSE connection: a bare actix-web server whose
//! `/events` answers a `text/event-stream` that sends one `retry:` frame and then waits forever,
//! like an idle relay stream. `bench/actix-floor.sh` opens thousands of these and compares the
//! RSS per connection with the relay's.
//!
//! `FLOOR` adds one piece of the relay's per-stream state at a time (comma-separated):
//! - `queue`: the stream waits on a bounded tokio channel of 256 (the hub's queue), kept in a
//!   shared map like the hub's registry;
//! - `tracing`: the relay's middleware stack: tracing-actix-web's request span (at `info`,
//!   written nowhere) and two `from_fn` middlewares.
//!
//! ```sh
//! cargo run --release --example actix_floor -- 127.0.0.1:18300
//! ```

use std::{
    collections::HashMap,
    convert::Infallible,
    pin::Pin,
    sync::Mutex,
    task::{Context, Poll},
};

use actix_web::{
    App, HttpResponse, HttpServer,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::{Next, from_fn},
    web,
};
use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;

/// The per-connection queues, as the hub keeps them.
type Registry = Mutex<HashMap<u64, mpsc::Sender<Bytes>>>;

/// An idle stream: the opening frame, then nothing (or whatever arrives on its queue).
struct Idle {
    first: Option<Bytes>,
    rx: Option<mpsc::Receiver<Bytes>>,
}

impl Stream for Idle {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        match self.rx.as_mut() {
            Some(rx) => rx.poll_recv(cx).map(|m| m.map(Ok)),
            None => Poll::Pending,
        }
    }
}

async fn events(registry: web::Data<Registry>, queue: web::Data<bool>) -> HttpResponse {
    let rx = if **queue {
        let (tx, rx) = mpsc::channel(256);
        let mut map = registry.lock().unwrap_or_else(|p| p.into_inner());
        let id = map.len() as u64;
        map.insert(id, tx);
        Some(rx)
    } else {
        None
    };
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(Idle {
            first: Some(Bytes::from_static(b"retry: 3000\n\n")),
            rx,
        })
}

async fn pass(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    next.call(req).await
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18300".into());
    let layers = std::env::var("FLOOR").unwrap_or_default();
    let queue = layers.split(',').any(|l| l == "queue");
    let tracing_on = layers.split(',').any(|l| l == "tracing");
    if tracing_on {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_writer(std::io::sink)
            .init();
    }
    let registry = web::Data::new(Registry::default());
    let queue = web::Data::new(queue);
    HttpServer::new(move || {
        let app = App::new()
            .app_data(registry.clone())
            .app_data(queue.clone())
            .route("/events", web::get().to(events));
        // Same service either way; the layers differ only when `tracing` is asked for.
        app.wrap(actix_web::middleware::Condition::new(
            tracing_on,
            tracing_actix_web::TracingLogger::default(),
        ))
        .wrap(actix_web::middleware::Condition::new(
            tracing_on,
            from_fn(pass),
        ))
    })
    .workers(2)
    .shutdown_timeout(1)
    .bind(listen)?
    .run()
    .await
}
