//! `/metrics` through HTTP after sandbox runs, and the shipped dashboard
//! and alert rules checked against the metrics arsgate exports.
//!
//! The recorder is process-global and the tests of this binary run in
//! parallel: assertions are on series labelled with a merchant unique to
//! the test, or on deltas that other tests can only make larger.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};

use arsgate::domain::VerificationId;
use common::app::TestApp;
use common::repo;
use common::store::TestDb;
use reqwest::Method;
use serde_json::{Value, json};

on_every_store!(
    a_sandbox_run_shows_in_the_metrics,
    known_counters_start_at_zero,
    plan_refusals_are_counted,
    queued_calls_show_in_depth_and_wait,
);

/// A name unique to this test run on this backend.
fn unique(db: &TestDb, what: &str) -> String {
    let backend = match db {
        TestDb::Sqlite { .. } => "sqlite",
        TestDb::Postgres(_) => "postgres",
    };
    format!("metrics-{what}-{backend}")
}

/// One sample: its name, labels and value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of a Prometheus text exposition (comments skipped).
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a value");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut map = BTreeMap::new();
        let mut rest = labels;
        while let Some((key, after)) = rest.split_once("=\"") {
            let end = after.find('"').expect("a closing quote");
            map.insert(
                key.trim_start_matches(',').to_owned(),
                after[..end].to_owned(),
            );
            rest = &after[end + 1..];
        }
        samples.push(Sample {
            name: name.to_owned(),
            labels: map,
            value: value.parse().expect("a number"),
        });
    }
    samples
}

/// The samples `/metrics` shows now.
async fn scrape(app: &TestApp) -> (String, Vec<Sample>) {
    let response = app
        .request(Method::GET, "/metrics", None, None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    let samples = parse(&text);
    (text, samples)
}

/// The sum of `name`'s samples whose labels include all of `labels`.
fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

fn has(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> bool {
    samples.iter().any(|s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

/// Runs `scenario` on `phone` with a callback; the finished view.
async fn run(app: &TestApp, key: &str, scenario: &str, phone: &str, extra: Value) -> Value {
    let mut body = json!({ "phone": phone, "scenario": scenario, "callback_url": app.hooks.url() });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let created = app.create(key, &body).await;
    app.finished(key, created["id"].as_str().unwrap()).await
}

/// Checks one histogram series: cumulative buckets ending in `+Inf`
/// equal to `_count`, with every configured bound present.
fn check_histogram(samples: &[Sample], name: &str, labels: &[(&str, &str)]) {
    let metric = arsgate::metrics::CATALOG
        .iter()
        .find(|m| m.name == name)
        .expect("a catalogued histogram");
    let bucket = format!("{name}_bucket");
    let mut buckets: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.name == bucket)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| {
            let le = &s.labels["le"];
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            (bound, s.value)
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let bounds: Vec<f64> = buckets.iter().map(|b| b.0).collect();
    let mut wanted = metric.buckets.to_vec();
    wanted.push(f64::INFINITY);
    assert_eq!(bounds, wanted, "{name}{labels:?}: the configured buckets");
    assert!(
        buckets.windows(2).all(|w| w[0].1 <= w[1].1),
        "{name}{labels:?}: cumulative buckets {buckets:?}"
    );
    let count = sum(samples, &format!("{name}_count"), labels);
    assert_eq!(
        buckets.last().unwrap().1,
        count,
        "{name}{labels:?}: +Inf = count"
    );
    assert!(count > 0.0, "{name}{labels:?}: observed");
    assert!(has(samples, &format!("{name}_sum"), labels), "{name}_sum");
}

async fn a_sandbox_run_shows_in_the_metrics(db: &TestDb) {
    let app = TestApp::start(db).await;
    let merchant = unique(db, "run");
    let m = app.merchant(&merchant).await;
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/customers/cust-1/pin",
            Some(&m.test),
            Some(&json!({ "pin": "2580" })),
        )
        .await;
    assert_eq!(status, 204);
    let (_, before) = scrape(&app).await;
    let cases = [
        ("enter_code", "010-0000-0004", json!({}), "verified"),
        ("enter_code", "010-0000-0004", json!({}), "verified"),
        ("enter_code", "010-0000-0004", json!({}), "verified"),
        ("enter_code", "010-0000-0013", json!({}), "wrong_input"),
        ("read_code", "010-0000-0001", json!({}), "completed"),
        ("read_code", "010-0000-0007", json!({}), "busy"),
        (
            "enter_pin",
            "010-0000-0014",
            json!({ "customer_ref": "cust-1" }),
            "verified",
        ),
    ];
    let runs = cases
        .iter()
        .map(|(scenario, phone, extra, _)| run(&app, &m.test, scenario, phone, extra.clone()));
    let views = futures_util::future::join_all(runs).await;
    for ((scenario, phone, _, outcome), view) in cases.iter().zip(&views) {
        assert_eq!(view["outcome"], *outcome, "{scenario} on {phone}: {view}");
    }
    // Every webhook is delivered before the scrape that counts them.
    for view in &views {
        app.hooks.finished(view["id"].as_str().unwrap()).await;
    }
    let (text, after) = scrape(&app).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        sum(&after, name, labels) - sum(&before, name, labels)
    };
    let mine = |scenario: &'static str, outcome: &'static str| {
        [
            ("merchant", merchant.as_str()),
            ("scenario", scenario),
            ("mode", "test"),
            ("outcome", outcome),
        ]
    };

    // Verifications, exactly: the merchant is this test's own.
    let started = |scenario| {
        delta(
            "arsgate_verifications_started_total",
            &[("merchant", merchant.as_str()), ("scenario", scenario)],
        )
    };
    assert_eq!(started("enter_code"), 4.0);
    assert_eq!(started("read_code"), 2.0);
    assert_eq!(started("enter_pin"), 1.0);
    let finished = "arsgate_verifications_finished_total";
    assert_eq!(delta(finished, &mine("enter_code", "verified")), 3.0);
    assert_eq!(delta(finished, &mine("enter_code", "wrong_input")), 1.0);
    assert_eq!(delta(finished, &mine("read_code", "completed")), 1.0);
    assert_eq!(delta(finished, &mine("read_code", "busy")), 1.0);
    assert_eq!(delta(finished, &mine("enter_pin", "verified")), 1.0);
    assert_eq!(
        delta(finished, &[("merchant", merchant.as_str())]),
        cases.len() as f64
    );

    // Calls on the sandbox node (other tests may add to these).
    let sandbox = [("node", "sandbox")];
    assert!(delta("arsgate_calls_originated_total", &sandbox) >= 7.0);
    assert!(delta("arsgate_calls_answered_total", &sandbox) >= 6.0);
    assert!(delta("arsgate_calls_failed_total", &sandbox) >= 1.0);
    assert!(
        delta(
            "arsgate_hangups_total",
            &[("node", "sandbox"), ("cause", "USER_BUSY")]
        ) >= 1.0
    );
    assert!(delta("arsgate_hangups_total", &sandbox) >= 7.0);
    check_histogram(&after, "arsgate_post_dial_delay_seconds", &sandbox);
    check_histogram(&after, "arsgate_time_to_answer_seconds", &sandbox);
    check_histogram(&after, "arsgate_call_duration_seconds", &sandbox);
    // Every answered phone rang first; the busy one never rang.
    assert!(delta("arsgate_post_dial_delay_seconds_count", &sandbox) >= 6.0);
    assert!(delta("arsgate_time_to_answer_seconds_count", &sandbox) >= 6.0);
    // Answered, or busy (the customer's side): all reached the phone.
    assert!(delta("arsgate_calls_effective_total", &sandbox) >= 7.0);

    // Channels: all given back, capacity known, sandbox calls apart from
    // the live plan.
    let merchant_label = [("merchant", merchant.as_str()), ("mode", "test")];
    assert_eq!(
        sum(&after, "arsgate_merchant_live_channels", &merchant_label),
        0.0
    );
    assert!(sum(&after, "arsgate_merchant_max_channels", &merchant_label) >= 1.0);
    assert!(!has(
        &after,
        "arsgate_merchant_live_channels",
        &[("merchant", merchant.as_str()), ("mode", "live")]
    ));
    assert!(has(&after, "arsgate_node_live_channels", &sandbox));
    assert!(has(&after, "arsgate_node_max_channels", &[("node", "fs1")]));

    // The API by route template, never by concrete path.
    let get_one = [
        ("method", "GET"),
        ("route", "/v1/verifications/{id}"),
        ("status", "200"),
    ];
    check_histogram(&after, "arsgate_http_request_duration_seconds", &get_one);
    let created = [
        ("method", "POST"),
        ("route", "/v1/verifications"),
        ("status", "201"),
    ];
    // Other tests' requests share these series.
    assert!(delta("arsgate_http_request_duration_seconds_count", &created) >= cases.len() as f64);

    // The event sockets.
    assert_eq!(sum(&after, "arsgate_esl_connected", &sandbox), 1.0);
    assert_eq!(
        sum(&after, "arsgate_esl_connected", &[("node", "fs1")]),
        1.0
    );
    assert!(
        delta(
            "arsgate_esl_events_received_total",
            &[("node", "sandbox"), ("type", "CHANNEL_ANSWER")]
        ) >= 6.0
    );
    for name in [
        "arsgate_esl_reconnects_total",
        "arsgate_esl_events_dropped_total",
        "arsgate_esl_event_queue_depth",
    ] {
        assert!(has(&after, name, &sandbox), "{name}");
    }

    // Webhooks and the store.
    assert!(
        delta(
            "arsgate_webhook_deliveries_total",
            &[("result", "delivered")]
        ) >= cases.len() as f64
    );
    assert!(has(&after, "arsgate_webhook_outbox_backlog", &[]));
    assert_eq!(sum(&after, "arsgate_store_up", &[]), 1.0);
    // A verification is stored with its admission, in one write.
    let create = [("operation", "admit_call")];
    assert!(delta("arsgate_store_operation_duration_seconds_count", &create) >= 7.0);
    check_histogram(&after, "arsgate_store_operation_duration_seconds", &create);

    // Every series is one arsgate catalogues, with the catalogued labels.
    for sample in &after {
        let base = histogram_base(&sample.name);
        let metric = arsgate::metrics::CATALOG
            .iter()
            .find(|m| m.name == base)
            .unwrap_or_else(|| panic!("{} is not catalogued", sample.name));
        let labels: BTreeSet<&str> = sample
            .labels
            .keys()
            .map(String::as_str)
            .filter(|l| *l != "le")
            .collect();
        let wanted: BTreeSet<&str> = metric.labels.iter().copied().collect();
        assert_eq!(labels, wanted, "{}", sample.name);
    }

    // No label holds a number, an id or a secret.
    let mut secrets: Vec<String> = vec!["123456".into(), "2580".into()];
    for (view, (_, phone, _, _)) in views.iter().zip(&cases) {
        secrets.push(view["id"].as_str().unwrap().to_owned());
        secrets.push(phone.to_string());
        secrets.push(phone.replace('-', ""));
        secrets.push(format!("+82{}", &phone.replace('-', "")[1..]));
        let id = VerificationId::parse(view["id"].as_str().unwrap()).unwrap();
        let stored = app.store.verification_by_id(id).await.unwrap().unwrap();
        let call = stored.call_id.expect("a placed call");
        secrets.push(call.clone());
        // The UUID inside, however it is spelt.
        secrets.push(call.replace('-', ""));
    }
    for sample in &after {
        for value in sample.labels.values() {
            for secret in &secrets {
                assert!(
                    !value.contains(secret.as_str()),
                    "{secret:?} in a label of {}: {value}",
                    sample.name
                );
            }
            assert!(!value.starts_with("vrf_"), "an id in {}", sample.name);
        }
    }
    assert!(!text.contains("vrf_"), "no verification id anywhere");
}

/// Counters whose label values are known from the start are exported at
/// zero before anything happened, so that a rate or an alert on them sees
/// a series: the live node `fs1` has placed no call in this app.
async fn known_counters_start_at_zero(db: &TestDb) {
    let app = TestApp::start(db).await;
    let (_, samples) = scrape(&app).await;
    let fs1 = [("node", "fs1")];
    for name in [
        "arsgate_calls_originated_total",
        "arsgate_calls_answered_total",
        "arsgate_calls_failed_total",
        "arsgate_calls_effective_total",
        "arsgate_failovers_total",
        "arsgate_esl_reconnects_total",
        "arsgate_esl_events_dropped_total",
        "arsgate_orphan_channels_hung_up_total",
    ] {
        assert!(has(&samples, name, &fs1), "{name} for fs1");
        assert!(
            has(&samples, name, &[("node", "sandbox")]),
            "{name} for the sandbox"
        );
    }
    for reason in ["full", "draining", "disconnected"] {
        assert!(
            has(&samples, "arsgate_no_capacity_total", &[("reason", reason)]),
            "{reason}"
        );
    }
    for result in ["delivered", "failed", "dead"] {
        assert!(
            has(
                &samples,
                "arsgate_webhook_deliveries_total",
                &[("result", result)]
            ),
            "{result}"
        );
    }
}

async fn plan_refusals_are_counted(db: &TestDb) {
    let section: arsgate::config::LimitsConfig =
        serde_norway::from_str("plans:\n  default:\n    max_channels: 1\n    at_limit: reject\n")
            .expect("a limits section");
    let app = TestApp::start_with(db, |config| {
        config.limits = section;
        config.calls.ring_timeout = std::time::Duration::from_secs(600);
    })
    .await;
    let merchant = unique(db, "limits");
    let m = app.merchant(&merchant).await;
    // Rings until canceled: holds the plan's one channel.
    let ringing = app
        .create(
            &m.test,
            &json!({ "phone": "010-0000-0006", "scenario": "read_code" }),
        )
        .await;
    let (status, body) = app
        .post(
            "/v1/verifications",
            &m.test,
            &json!({ "phone": "010-0000-0001", "scenario": "read_code" }),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    let (_, samples) = scrape(&app).await;
    let labels = [("merchant", merchant.as_str()), ("limit", "channel_limit")];
    assert_eq!(sum(&samples, "arsgate_limit_hits_total", &labels), 1.0);
    assert_eq!(
        sum(
            &samples,
            "arsgate_merchant_live_channels",
            &[("merchant", merchant.as_str()), ("mode", "test")]
        ),
        1.0,
        "the ringing call holds its sandbox channel"
    );
    let id = ringing["id"].as_str().unwrap();
    app.cancel(&m.test, id).await;
    app.finished(&m.test, id).await;
    let (_, samples) = scrape(&app).await;
    assert_eq!(
        sum(
            &samples,
            "arsgate_merchant_live_channels",
            &[("merchant", merchant.as_str())]
        ),
        0.0,
        "given back"
    );
}

/// An app whose merchants are all on the plan `yaml` describes, with
/// phones ringing for ten (simulated) minutes.
async fn app_on_plan(db: &TestDb, yaml: &str) -> TestApp {
    let section: arsgate::config::LimitsConfig =
        serde_norway::from_str(&format!("plans:\n  default:\n{yaml}")).expect("a limits section");
    TestApp::start_with(db, |config| {
        config.limits = section;
        config.calls.ring_timeout = std::time::Duration::from_secs(600);
    })
    .await
}

async fn queued_calls_show_in_depth_and_wait(db: &TestDb) {
    let app = app_on_plan(
        db,
        "    max_channels: 1\n    at_limit: queue\n    queue_timeout: 30s\n",
    )
    .await;
    let merchant = unique(db, "queue");
    let m = app.merchant(&merchant).await;
    let mine = [("merchant", merchant.as_str())];
    // Rings until canceled: holds the plan's one channel.
    let ringing = app
        .create(
            &m.test,
            &json!({ "phone": "010-0000-0006", "scenario": "read_code" }),
        )
        .await;
    let ringing = ringing["id"].as_str().unwrap();
    app.wait_for(&m.test, ringing, |v| v["status"] == "calling")
        .await;
    let queued = app
        .create(
            &m.test,
            &json!({ "phone": "010-0000-0001", "scenario": "read_code" }),
        )
        .await;
    let queued = queued["id"].as_str().unwrap();
    let (_, samples) = scrape(&app).await;
    // Other tests' queues can only add to the process-wide depth.
    assert!(sum(&samples, "arsgate_queue_depth", &[]) >= 1.0);
    assert_eq!(
        sum(&samples, "arsgate_queue_wait_seconds_count", &mine),
        0.0
    );
    app.cancel(&m.test, ringing).await;
    let view = app.finished(&m.test, queued).await;
    assert_eq!(view["outcome"], "completed", "{view}");
    let (_, samples) = scrape(&app).await;
    check_histogram(&samples, "arsgate_queue_wait_seconds", &mine);
    assert_eq!(
        sum(&samples, "arsgate_queue_wait_seconds_count", &mine),
        1.0
    );
    // The call's task gives its channel back just after it records the
    // outcome the API already shows.
    let mut samples = samples;
    for _ in 0..100 {
        if sum(&samples, "arsgate_merchant_live_channels", &mine) == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        samples = scrape(&app).await.1;
    }
    assert_eq!(sum(&samples, "arsgate_merchant_live_channels", &mine), 0.0);
    let finished = |outcome| {
        sum(
            &samples,
            "arsgate_verifications_finished_total",
            &[("merchant", merchant.as_str()), ("outcome", outcome)],
        )
    };
    assert_eq!(finished("canceled"), 1.0);
    assert_eq!(finished("completed"), 1.0);
}

/// The metric a series belongs to: a histogram's `_bucket`, `_sum` and
/// `_count` series are its own.
fn histogram_base(series: &str) -> &str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = series.strip_suffix(suffix)
            && arsgate::metrics::CATALOG
                .iter()
                .any(|m| m.name == base && m.kind == arsgate::metrics::Kind::Histogram)
        {
            return base;
        }
    }
    series
}

/// Every `arsgate_...` metric a PromQL expression names.
fn metrics_named(expr: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"arsgate_[a-z0-9_]+").unwrap();
    re.find_iter(expr)
        .map(|m| histogram_base(m.as_str()).to_owned())
        .collect()
}

/// Fails listing every metric in `named` arsgate does not export.
fn assert_exported(named: &BTreeSet<String>, what: &str) {
    let exported: BTreeSet<&str> = arsgate::metrics::CATALOG.iter().map(|m| m.name).collect();
    let unknown: Vec<&String> = named
        .iter()
        .filter(|n| !exported.contains(n.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "{what} names metrics arsgate does not export: {unknown:?}"
    );
}

/// Every panel of a dashboard, rows' nested panels included.
fn panels(value: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in value["panels"].as_array().into_iter().flatten() {
        all.push(panel);
        all.extend(panels(panel));
    }
    all
}

#[test]
fn the_dashboard_queries_only_exported_metrics() {
    let text = std::fs::read_to_string(repo("docker/grafana/dashboards/arsgate.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    assert!(
        variables
            .iter()
            .any(|v| v["type"] == "datasource" && v["query"] == "prometheus"),
        "a Prometheus datasource variable"
    );
    let mut named = BTreeSet::new();
    let mut queries = 0;
    for panel in panels(&dashboard) {
        if panel["type"] == "row" {
            continue;
        }
        assert!(
            panel["datasource"]["uid"]
                .as_str()
                .is_some_and(|uid| uid.contains("datasource")),
            "panel {} uses the datasource variable",
            panel["title"]
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {} queries", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().expect("a PromQL expression");
            let in_expr = metrics_named(expr);
            assert!(!in_expr.is_empty(), "{expr} names an arsgate metric");
            named.extend(in_expr);
            queries += 1;
        }
    }
    assert!(queries >= 12, "{queries} queries");
    assert_exported(&named, "the dashboard");
    // A misspelt name is caught.
    let wrong = metrics_named("rate(arsgate_calls_originatd_total[1m])");
    let exported: BTreeSet<&str> = arsgate::metrics::CATALOG.iter().map(|m| m.name).collect();
    assert!(!wrong.iter().all(|n| exported.contains(n.as_str())));
}

/// The rules of the shipped rule file, as YAML values.
fn rules() -> Vec<Value> {
    let text = std::fs::read_to_string(repo("docker/prometheus/rules/arsgate.yml")).unwrap();
    let file: Value = serde_norway::from_str(&text).expect("the rules are YAML");
    file["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|group| group["rules"].as_array().expect("rules").clone())
        .collect()
}

#[test]
fn the_alert_rules_query_only_exported_metrics() {
    let mut named = BTreeSet::new();
    let mut alerts = BTreeSet::new();
    let mut recorded = BTreeSet::new();
    for rule in rules() {
        let expr = rule["expr"].as_str().expect("expr");
        let in_expr = metrics_named(expr);
        if let Some(record) = rule["record"].as_str() {
            assert!(!in_expr.is_empty(), "{record} names an arsgate metric");
            named.extend(in_expr);
            recorded.insert(record.to_owned());
            continue;
        }
        let alert = rule["alert"]
            .as_str()
            .expect("an alerting or recording rule");
        assert!(rule["for"].is_string(), "{alert}: for");
        assert!(
            ["critical", "warning"].contains(&rule["labels"]["severity"].as_str().unwrap_or("")),
            "{alert}: severity"
        );
        for annotation in ["summary", "description", "runbook_url"] {
            assert!(
                rule["annotations"][annotation].is_string(),
                "{alert}: {annotation}"
            );
        }
        // Only the alert on arsgate itself being down asks Prometheus's own
        // `up` instead.
        assert!(
            !in_expr.is_empty() || expr.contains(r#"up{job="arsgate"}"#),
            "{alert} names an arsgate metric"
        );
        named.extend(in_expr);
        alerts.insert(alert.to_owned());
    }
    assert!(alerts.len() >= 17, "{alerts:?}");
    assert!(recorded.len() >= 3, "{recorded:?}");
    assert_exported(&named, "the alert rules");
}

/// GitHub's anchor of a Markdown heading: lower case, spaces as `-`,
/// punctuation other than `-` and `_` dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of every heading in `markdown` (outside code blocks).
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut found = BTreeSet::new();
    for line in markdown.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            found.insert(anchor(line.trim_start_matches('#')));
        }
    }
    found
}

#[test]
fn every_runbook_url_points_at_a_readme_section() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let sections = anchors(&readme);
    assert!(sections.contains("operations-metrics-dashboard-and-alerts"));
    assert!(
        !sections.contains("arsgatenosuchalert"),
        "a missing one is missed"
    );
    let mut runbooks = 0;
    for rule in rules() {
        let Some(alert) = rule["alert"].as_str() else {
            continue;
        };
        let url = rule["annotations"]["runbook_url"].as_str().unwrap_or("");
        let Some(("README.md", section)) = url.split_once('#') else {
            panic!("{alert}: runbook_url {url:?} is not README.md#section");
        };
        assert!(
            sections.contains(section),
            "{alert}: README.md has no section #{section}"
        );
        assert_eq!(section, alert.to_lowercase(), "{alert}: its own runbook");
        runbooks += 1;
    }
    assert!(runbooks >= 17);
}

#[test]
fn the_readme_lists_every_metric() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    for metric in arsgate::metrics::CATALOG {
        assert!(
            readme.contains(&format!("`{}`", metric.name)),
            "README.md lists {}",
            metric.name
        );
    }
}
