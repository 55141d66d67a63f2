//! The one client for a relay, whichever way it runs: in the test's process ([`super::TestApp`]),
//! as the binary ([`super::RelayProcess`]), or known only by its base URL ([`Relay::at`]).

use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use super::{PUBLISH_KEY, SseClient, eventually, eventually_ok, token};

/// A relay's base URL and an HTTP client to talk to it; every request a test makes goes here.
#[derive(Clone)]
pub struct Relay {
    pub base: String,
    pub http: reqwest::Client,
}

impl Relay {
    /// A client for the relay at `base` (`http://127.0.0.1:port`).
    pub fn at(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            http: reqwest::Client::new(),
        }
    }

    /// The full URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        self.wait_status("/readyz", 200).await;
    }

    /// Polls a path until it answers `status` (connection refused counts as not yet). Each
    /// probe opens its own connection, so a pooled one from before a restart cannot answer.
    pub async fn wait_status(&self, path: &str, status: u16) {
        let url = self.url(path);
        eventually(format!("{url} never answered {status}"), || async {
            let r = reqwest::get(&url).await.ok()?;
            (r.status().as_u16() == status).then_some(())
        })
        .await;
    }

    /// The relay's /readyz JSON, on a connection of its own (as [`Self::wait_status`]).
    pub async fn ready_json(&self) -> Value {
        reqwest::get(self.url("/readyz"))
            .await
            .expect("readyz")
            .json()
            .await
            .expect("readyz json")
    }

    /// Waits until /readyz counts `n` open connections (streams and waiting polls).
    pub async fn wait_connections(&self, n: u64) {
        eventually_ok(format!("never {n} connections"), || async {
            let ready = self.ready_json().await;
            if ready["connections"] == n {
                Ok(())
            } else {
                Err(ready)
            }
        })
        .await;
    }

    /// `POST /publish` with the publish key; the response as it came.
    pub async fn publish(&self, body: Value) -> reqwest::Response {
        self.http
            .post(self.url("/publish"))
            .bearer_auth(PUBLISH_KEY)
            .json(&body)
            .send()
            .await
            .expect("publish request")
    }

    /// Publishes `body` as a failover test does: the status, or 0 when the request failed or
    /// took over 15 s (a request caught in a failover may hang until the broker is back).
    pub async fn publish_status(&self, body: &Value) -> u16 {
        self.http
            .post(self.url("/publish"))
            .bearer_auth(PUBLISH_KEY)
            .json(body)
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .map_or(0, |r| r.status().as_u16())
    }

    /// Publishes, expects 202, and returns the assigned id.
    pub async fn publish_ok(&self, body: Value) -> String {
        let res = self.publish(body).await;
        assert_eq!(res.status().as_u16(), 202);
        let v: Value = res.json().await.expect("publish json");
        v["id"].as_str().expect("id").to_owned()
    }

    /// Opens `/events` for `user`.
    pub async fn sse(&self, user: &str) -> SseClient {
        self.sse_from(user, None).await
    }

    /// Opens `/events` for `user`, resuming from `last_event_id` if given.
    pub async fn sse_from(&self, user: &str, last_event_id: Option<&str>) -> SseClient {
        let mut req = self.http.get(self.url("/events")).bearer_auth(token(user));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let res = req.send().await.expect("events request");
        assert_eq!(res.status().as_u16(), 200);
        SseClient::new(res)
    }

    /// The current position for `user`: a poll without cursor, which answers at once.
    pub async fn cursor_now(&self, user: &str) -> String {
        let poll = self.poll(user, None, 0).await;
        poll["cursor"].as_str().expect("cursor").to_owned()
    }

    /// `GET /poll` as `user`; expects 200 and returns the JSON.
    pub async fn poll(&self, user: &str, cursor: Option<&str>, timeout: u64) -> Value {
        let mut path = format!("/poll?timeout={timeout}");
        if let Some(c) = cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let res = self.get_as(user, &path).await;
        assert_eq!(res.status().as_u16(), 200);
        res.json().await.expect("poll json")
    }

    /// `GET path` as `user` (a bearer token).
    pub async fn get_as(&self, user: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token(user))
            .send()
            .await
            .expect("request")
    }

    /// `GET path` without credentials.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }

    /// `PUT /topics/{topic}/subscribers`: the topic's members become `users`; expects 200.
    pub async fn replace_subscribers<U: Serialize>(&self, topic: &str, users: &[U]) {
        let res = self
            .http
            .put(self.url(&format!("/topics/{topic}/subscribers")))
            .bearer_auth(PUBLISH_KEY)
            .json(&json!({ "subscribers": users }))
            .send()
            .await
            .expect("replace subscribers");
        assert_eq!(res.status().as_u16(), 200);
    }

    /// Adds `user` to `topic` (`PUT`) or removes them (`DELETE`); expects 200.
    pub async fn set_subscriber(&self, topic: &str, user: &str, member: bool) {
        let url = self.url(&format!("/topics/{topic}/subscribers/{user}"));
        let req = if member {
            self.http.put(url)
        } else {
            self.http.delete(url)
        };
        let res = req
            .bearer_auth(PUBLISH_KEY)
            .send()
            .await
            .expect("subscriber");
        assert_eq!(res.status().as_u16(), 200);
    }

    /// Any request with the publish key and an optional JSON body: the status and the JSON
    /// answer (`null` if it has none).
    pub async fn keyed(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(PUBLISH_KEY);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Scrapes `/metrics` on a connection of its own, so the scrape adds no pooled connection.
    pub async fn scrape(&self) -> String {
        let res = reqwest::get(self.url("/metrics")).await.expect("metrics");
        assert_eq!(res.status().as_u16(), 200);
        res.text().await.expect("metrics text")
    }

    /// Scrapes until `series` reaches at least `value` (the thing counted happens after the
    /// response that caused it); panics after [`super::WAIT`].
    pub async fn wait_sample(&self, series: &str, value: f64) -> String {
        eventually(format!("{series} never reached {value}"), || async {
            let text = self.scrape().await;
            (sample(&text, series) >= value).then_some(text)
        })
        .await
    }
}

/// The value of one sample, `name{labels}` exactly as exposed (labels sorted by name), or
/// `name` alone; 0 when absent.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}
