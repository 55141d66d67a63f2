//! Stream ingest under crashes: 1,000 entries XADDed while relays (the real binary) are
//! SIGKILLed and restarted at random points, once with every relay down at the same time.
//! Every entry must reach its connected user exactly once, in stream order.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use notify_relay::config::Settings;
use serde_json::Value;

use crate::helpers::{Frame, RedisServer, RelayProcess, SseClient, token};

const USERS: u64 = 10;
const ENTRIES: u64 = 1_000;
const RELAYS: usize = 3;

/// Quick lease and claim hand-over, so that killed relays are replaced within the test.
fn quick_takeover(s: &mut Settings) {
    s.bridge_lease_ms = 400;
    s.ingest_claim_secs = 1;
}

/// A random number below `n`.
fn below(n: u64) -> u64 {
    rand::random::<u64>() % n
}

/// The bases of the relays now running.
type Live = Arc<Mutex<Vec<String>>>;

/// Opens `/events` for `user` on some live relay, resuming after `last`; None if none answers.
async fn connect(live: &Live, user: &str, last: &str) -> Option<SseClient> {
    let base = {
        let bases = live.lock().unwrap();
        if bases.is_empty() {
            return None;
        }
        bases[below(bases.len() as u64) as usize].clone()
    };
    let res = reqwest::Client::new()
        .get(format!("{base}/events"))
        .bearer_auth(token(user))
        .header("Last-Event-ID", last)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .ok()?;
    (res.status().as_u16() == 200).then(|| SseClient::new(res))
}

/// Follows `user` across relays until `want` events arrived or `deadline`; returns each
/// event's `n` in arrival order (duplicates included, so the test can see them).
async fn collect(live: Live, user: u64, want: usize, deadline: Instant) -> Vec<u64> {
    let user = user.to_string();
    let mut last = "0-0".to_owned();
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        let Some(mut sse) = connect(&live, &user, &last).await else {
            // A client's reconnect delay, not a wait for something: every relay may be down.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        while got.len() < want {
            let frame = tokio::time::timeout(Duration::from_secs(3), sse.next_frame()).await;
            let Ok(Some(frame)) = frame else { break };
            if let Frame::Message {
                id: Some(id),
                data: Some(data),
                ..
            } = frame
            {
                let data: Value = serde_json::from_str(&data).expect("json data");
                got.push(data["n"].as_u64().expect("n"));
                last = id;
            }
        }
        if got.len() >= want {
            // A late copy would show up here.
            let window = tokio::time::Instant::now() + Duration::from_millis(1_500);
            while let Ok(Some(frame)) = tokio::time::timeout_at(window, sse.next_frame()).await {
                if let Frame::Message {
                    data: Some(data), ..
                } = frame
                {
                    let data: Value = serde_json::from_str(&data).expect("json data");
                    got.push(data["n"].as_u64().expect("n"));
                }
            }
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_xadded_while_relays_are_killed_reach_each_user_once_in_stream_order() {
    let redis = RedisServer::start().await;
    let url = redis.url();
    let mut relays: Vec<Option<RelayProcess>> = Vec::new();
    for _ in 0..RELAYS {
        relays.push(Some(RelayProcess::start(Some(&url), quick_takeover).await));
    }
    let live: Live = Arc::new(Mutex::new(
        relays.iter().flatten().map(|r| r.base.clone()).collect(),
    ));
    let deadline = Instant::now() + Duration::from_secs(45);
    let collectors: Vec<_> = (0..USERS)
        .map(|u| {
            tokio::spawn(collect(
                live.clone(),
                u,
                (ENTRIES / USERS) as usize,
                deadline,
            ))
        })
        .collect();

    // The app: 1,000 entries at about 100/s.
    let writer = {
        let redis_url = url.clone();
        tokio::spawn(async move {
            let mut c = redis::Client::open(redis_url)
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap();
            for n in 0..ENTRIES {
                let data = format!(r#"{{"user_id":{},"n":{n}}}"#, n % USERS);
                let _: String = redis::cmd("XADD")
                    .arg("notify:ingest")
                    .arg("*")
                    .arg("data")
                    .arg(data)
                    .query_async(&mut c)
                    .await
                    .unwrap();
                // Paced on purpose: the entries spread over the kill rounds below.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    // Chaos: kill a random relay and start a new one, at random points; once, all of them.
    let mut round = 0;
    while !writer.is_finished() {
        // Random points in time are the chaos itself, not a wait for something.
        tokio::time::sleep(Duration::from_millis(300 + below(900))).await;
        round += 1;
        let victims: Vec<usize> = if round == 4 {
            (0..RELAYS).collect()
        } else {
            vec![below(RELAYS as u64) as usize]
        };
        for &i in &victims {
            if let Some(mut relay) = relays[i].take() {
                live.lock().unwrap().retain(|b| *b != relay.base);
                relay.kill();
            }
        }
        // A random downtime before the replacements start.
        tokio::time::sleep(Duration::from_millis(below(600))).await;
        for &i in &victims {
            let relay = RelayProcess::start(Some(&url), quick_takeover).await;
            live.lock().unwrap().push(relay.base.clone());
            relays[i] = Some(relay);
        }
    }
    writer.await.expect("writer");

    for (user, task) in collectors.into_iter().enumerate() {
        let got = task.await.expect("collector");
        let want: Vec<u64> = (0..ENTRIES).filter(|n| n % USERS == user as u64).collect();
        assert_eq!(
            got, want,
            "user {user}: every entry once, in stream order ({round} kill rounds)"
        );
    }
}
