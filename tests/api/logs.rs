//! Logs: JSON or text lines, request ids in and out, SSE open/close lines, and never a secret.

use notify_relay::config::{LogFormat, Settings};
use reqwest::header::{AUTHORIZATION, COOKIE};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, JWT_SECRET, PUBLISH_KEY, Relay, SseClient, TestApp, logged_run, now_secs, token,
    token_with,
};

const REQUEST_ID: &str = "x-request-id";

/// How the log format is chosen: the flag or the environment variable.
enum Format {
    Flag(LogFormat),
    Env(&'static str),
}

/// Runs the real binary with trace logs, makes `requests`, stops it, returns its log.
async fn run_logged(format: Format, requests: impl AsyncFnOnce(&Relay)) -> String {
    let (flag, envs): (Option<LogFormat>, Vec<(&str, &str)>) = match format {
        Format::Flag(f) => (Some(f), vec![("RUST_LOG", "trace")]),
        Format::Env(f) => (None, vec![("RUST_LOG", "trace"), ("NOTIFY_LOG_FORMAT", f)]),
    };
    let tweak = |s: &mut Settings| {
        if let Some(f) = flag {
            s.log_format = f;
        }
    };
    logged_run(None, tweak, &envs, requests).await
}

#[tokio::test]
async fn no_token_key_or_secret_ever_appears_in_the_logs() {
    let query_token = token("log-query");
    let cookie_token = token("log-cookie");
    let bearer_token = token("log-bearer");
    let forged = token_with(
        json!({"sub": "log-forged", "exp": now_secs() + 3600}),
        "not-the-secret-3141",
    );
    let bad = "garbage-token-2718";
    let wrong_key = "wrong-publish-key-1618";
    let secrets = [
        JWT_SECRET,
        PUBLISH_KEY,
        query_token.as_str(),
        cookie_token.as_str(),
        bearer_token.as_str(),
        forged.as_str(),
        bad,
        wrong_key,
    ];
    let log = run_logged(Format::Flag(LogFormat::Json), async |relay: &Relay| {
        let http = &relay.http;
        let get = |path: String| http.get(relay.url(&path));
        // Valid tokens in each place a subscriber can put one.
        let res = get(format!("/events?token={query_token}"))
            .send()
            .await
            .expect("events");
        assert_eq!(res.status().as_u16(), 200);
        let mut sse = SseClient::new(res);
        sse.next_frame().await.expect("opening frame");
        drop(sse);
        let res = get("/poll".into())
            .header(COOKIE, format!("notify_token={cookie_token}"))
            .send()
            .await
            .expect("poll");
        assert_eq!(res.status().as_u16(), 200);
        let res = get("/poll".into())
            .bearer_auth(&bearer_token)
            .send()
            .await
            .expect("poll");
        assert_eq!(res.status().as_u16(), 200);
        // Bad ones in each place.
        for t in [bad, forged.as_str()] {
            for req in [
                get(format!("/poll?token={t}")),
                get("/events".into()).header(COOKIE, format!("notify_token={t}")),
                get("/poll".into()).header(AUTHORIZATION, format!("Bearer {t}")),
                get(format!("/events?token={t}&last_event_id=nope")),
            ] {
                let res = req.send().await.expect("request");
                assert!(res.status().is_client_error(), "{}", res.status());
            }
        }
        for key in [PUBLISH_KEY, wrong_key] {
            let res = http
                .post(relay.url("/publish"))
                .bearer_auth(key)
                .json(&json!({"user_id": "log-query", "n": 1}))
                .send()
                .await
                .expect("publish");
            assert!(res.status().as_u16() == 202 || res.status().as_u16() == 401);
        }
    })
    .await;
    assert!(
        log.contains("sse stream opened"),
        "debug logs were written:\n{log}"
    );
    for secret in secrets {
        assert!(!log.contains(secret), "{secret} appears in the log:\n{log}");
    }
}

#[tokio::test]
async fn json_logs_are_one_object_a_line_with_request_ids_and_sse_close_lines() {
    let log = run_logged(Format::Env("json"), async |relay: &Relay| {
        let res = relay
            .http
            .get(relay.url("/events"))
            .bearer_auth(token("log-json"))
            .header(REQUEST_ID, "trace-me-42")
            .send()
            .await
            .expect("events");
        assert_eq!(res.headers()[REQUEST_ID], "trace-me-42");
        let mut sse = SseClient::new(res);
        sse.next_frame().await.expect("opening frame");
    })
    .await;
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let closed = lines
        .iter()
        .find(|l| l["fields"]["message"] == "sse stream closed")
        .unwrap_or_else(|| panic!("no close line:\n{log}"));
    assert_eq!(closed["fields"]["user"], "log-json");
    assert_eq!(closed["fields"]["events_sent"], 0);
    assert!(closed["fields"]["duration_ms"].is_u64());
    assert_eq!(closed["span"]["request_id"], "trace-me-42", "{closed}");
}

#[tokio::test]
async fn text_logs_are_plain_lines() {
    let log = run_logged(Format::Env("text"), async |_: &Relay| {}).await;
    let line = log
        .lines()
        .find(|l| l.contains("notify-relay listening"))
        .unwrap_or_else(|| panic!("no start line:\n{log}"));
    assert!(serde_json::from_str::<Value>(line).is_err(), "{line}");
}

#[tokio::test]
async fn a_request_id_is_echoed_when_usable_and_generated_otherwise() {
    let app = TestApp::spawn(Backend::Memory).await;
    let get = |id: Option<&str>| {
        let mut req = app.http.get(app.url("/no-such-route"));
        if let Some(id) = id {
            req = req.header(REQUEST_ID, id);
        }
        req.send()
    };
    let res = get(Some("abc-123")).await.expect("request");
    assert_eq!(res.status().as_u16(), 404);
    assert_eq!(res.headers()[REQUEST_ID], "abc-123");
    for id in [None, Some("two words"), Some(&*"x".repeat(65))] {
        let res = get(id).await.expect("request");
        let echoed = res.headers()[REQUEST_ID].to_str().expect("ascii");
        assert_eq!(echoed.len(), 32, "{id:?} -> {echoed}");
        assert!(echoed.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
