//! Clients for any relay by its base URL (several instances, separate processes), and its
//! metrics.

use serde_json::Value;

use super::{PUBLISH_KEY, SseClient, eventually, token};

/// Just enough of a client to wait for a status on any base URL.
pub struct TestAppProbe {
    pub base: String,
}

impl TestAppProbe {
    pub async fn wait_status(&self, path: &str, status: u16) {
        let url = format!("{}{path}", self.base);
        eventually(format!("{url} never answered {status}"), || async {
            let r = reqwest::get(&url).await.ok()?;
            (r.status().as_u16() == status).then_some(())
        })
        .await;
    }
}

/// Opens `/events` on any relay for `user`.
pub async fn sse_at(base: &str, user: &str, last_event_id: Option<&str>) -> SseClient {
    let mut req = reqwest::Client::new()
        .get(format!("{base}/events"))
        .bearer_auth(token(user));
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id);
    }
    let res = req.send().await.expect("events request");
    assert_eq!(res.status().as_u16(), 200);
    SseClient::new(res)
}

/// Publishes over HTTP to any relay and returns the id.
pub async fn publish_at(base: &str, body: Value) -> String {
    let res = reqwest::Client::new()
        .post(format!("{base}/publish"))
        .bearer_auth(PUBLISH_KEY)
        .json(&body)
        .send()
        .await
        .expect("publish");
    assert_eq!(res.status().as_u16(), 202);
    let v: Value = res.json().await.expect("json");
    v["id"].as_str().expect("id").to_owned()
}

/// Scrapes `/metrics` from any relay.
pub async fn scrape(base: &str) -> String {
    let res = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics");
    assert_eq!(res.status().as_u16(), 200);
    res.text().await.expect("metrics text")
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

/// Scrapes until `series` reaches at least `value` (the thing counted happens after the
/// response that caused it); panics after [`WAIT`].
pub async fn wait_sample(base: &str, series: &str, value: f64) -> String {
    eventually(format!("{series} never reached {value}"), || async {
        let text = scrape(base).await;
        (sample(&text, series) >= value).then_some(text)
    })
    .await
}
