//! The Grafana dashboard and the Prometheus alert rules under deploy/ name only metrics a running
//! relay exports, and every dashboard expression is valid PromQL (checked by promtool, which
//! Debian's `prometheus` package ships; test.sh installs it).

use std::{collections::BTreeSet, path::PathBuf, process::Command};

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Every dashboard under deploy/grafana/, with its file name.
fn dashboards() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo("deploy/grafana")).expect("deploy/grafana") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("dashboard");
            let json = serde_json::from_str(&text).expect("dashboard is JSON");
            out.push((path.display().to_string(), json));
        }
    }
    assert!(!out.is_empty(), "no dashboard in deploy/grafana");
    out
}

/// Every `expr` of every panel target, however deeply nested (rows hold panels too).
fn expressions(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    _ => expressions(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| expressions(v, out)),
        _ => {}
    }
}

/// The relay's metric names as named in a text: every `notify_…` word.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            if word.starts_with("notify_") {
                names.insert(word.clone());
            }
            word.clear();
        }
    }
    names
}

/// Grafana's variables replaced by values Prometheus accepts.
fn as_promql(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
        .replace("${instance}", ".*")
        .replace("$instance", ".*")
}

#[tokio::test]
async fn the_dashboard_and_the_alert_rules_name_only_metrics_the_relay_exports() {
    let app = TestApp::spawn(Backend::Memory).await;
    // Labelled series appear once counted: one rejected message makes that one show.
    let res = app.publish(json!({"img_url": "/no-recipient.jpg"})).await;
    assert_eq!(res.status().as_u16(), 400);
    let scrape = app.get("/metrics").await.text().await.expect("metrics");
    let exported: BTreeSet<String> = scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect();
    assert!(exported.contains("notify_connections"), "{scrape}");

    let mut named = BTreeSet::new();
    for (file, dashboard) in dashboards() {
        let text = dashboard.to_string();
        let names = metric_names(&text);
        assert!(!names.is_empty(), "{file} names no relay metric");
        named.extend(names);
    }
    let alerts = std::fs::read_to_string(repo("deploy/prometheus/alerts.yml")).expect("alerts");
    named.extend(metric_names(&alerts));
    let missing: Vec<_> = named.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "named in deploy/ but not exported by the relay: {missing:?}"
    );
}

#[test]
fn every_dashboard_expression_is_valid_promql() {
    let mut exprs = Vec::new();
    for (_, dashboard) in dashboards() {
        expressions(&dashboard, &mut exprs);
    }
    assert!(exprs.len() >= 10, "only {} expressions found", exprs.len());
    // promtool checks rule files; each expression becomes a recording rule (JSON is YAML).
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| json!({ "record": format!("dashboard:expr_{i}"), "expr": as_promql(e) }))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("dashboard-rules.yml");
    let doc = json!({ "groups": [{ "name": "dashboard", "rules": rules }] });
    std::fs::write(&file, doc.to_string()).expect("rules file");
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("promtool must be installed (apt-get install prometheus; test.sh does)");
    assert!(
        out.status.success(),
        "promtool refused a dashboard expression:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_misspelt_expression_is_caught_by_the_check() {
    // The check above is only worth something if promtool refuses bad PromQL.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.yml");
    let doc = json!({ "groups": [{ "name": "bad", "rules": [
        { "record": "bad:expr", "expr": "sum by (le (rate(notify_connections[5m]))" }
    ]}]});
    std::fs::write(&file, doc.to_string()).expect("rules file");
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("promtool");
    assert!(!out.status.success());
}
