//! Prometheus metrics: every metric arsgate exports is named, typed,
//! labelled and described here (the README, the Grafana dashboard and the
//! alert rules are checked against [`CATALOG`]), the process-global
//! recorder is installed once, and `/metrics` renders it.
//!
//! Labels stay bounded: node names, merchant names, scenario names,
//! outcomes, hangup causes, limit codes, route templates, HTTP statuses,
//! delivery results. Never a phone number, call or verification id, code
//! or PIN.
//!
//! - [`calls`]: what a call's timeline says about its node (originated,
//!   answered, failed, effective, hangup causes, post-dial delay, time to
//!   answer, duration), and the live channels held per node and per
//!   merchant and mode.
//! - [`collect`]: what is read from the running parts when `/metrics` is
//!   scraped (event socket statistics, node capacity, the outbox backlog).
//! - [`http`]: the API's request durations by route template.
//!
//! Store operation latency is recorded by [`crate::store::TimedStore`].

pub mod calls;
pub mod collect;
pub mod http;

use std::sync::OnceLock;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use collect::Collector;

/// How a metric behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (`_total`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// A histogram with the buckets named in its [`Metric`].
    Histogram,
}

impl Kind {
    /// The Prometheus type name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One exported metric.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// Its full name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Its label names.
    pub labels: &'static [&'static str],
    /// Its help text.
    pub help: &'static str,
    /// Its unit, when it has one.
    pub unit: Option<Unit>,
    /// Histogram bucket upper bounds (empty for counters and gauges).
    pub buckets: &'static [f64],
}

/// Buckets of delays a person notices: ringing, answering, queueing.
const HUMAN_SECONDS: &[f64] = &[
    0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
];
/// Buckets of call lengths.
const CALL_SECONDS: &[f64] = &[
    5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0,
];
/// Buckets of machine latencies: HTTP requests, store operations.
const MACHINE_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const fn counter(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> Metric {
    Metric {
        name,
        kind: Kind::Counter,
        labels,
        help,
        unit: None,
        buckets: &[],
    }
}

const fn gauge(
    name: &'static str,
    labels: &'static [&'static str],
    unit: Option<Unit>,
    help: &'static str,
) -> Metric {
    Metric {
        name,
        kind: Kind::Gauge,
        labels,
        help,
        unit,
        buckets: &[],
    }
}

const fn histogram(
    name: &'static str,
    labels: &'static [&'static str],
    buckets: &'static [f64],
    help: &'static str,
) -> Metric {
    Metric {
        name,
        kind: Kind::Histogram,
        labels,
        help,
        unit: Some(Unit::Seconds),
        buckets,
    }
}

/// Verifications created, by merchant, scenario and mode (`live`/`test`).
pub const VERIFICATIONS_STARTED: &str = "arsgate_verifications_started_total";
/// Verifications that reached their outcome.
pub const VERIFICATIONS_FINISHED: &str = "arsgate_verifications_finished_total";
/// Calls a node was asked to place.
pub const CALLS_ORIGINATED: &str = "arsgate_calls_originated_total";
/// Calls answered.
pub const CALLS_ANSWERED: &str = "arsgate_calls_answered_total";
/// Calls that ended without being answered.
pub const CALLS_FAILED: &str = "arsgate_calls_failed_total";
/// Calls that reached the customer's phone (the network did its part).
pub const CALLS_EFFECTIVE: &str = "arsgate_calls_effective_total";
/// Calls a node failed before they reached anyone, placed again elsewhere.
pub const FAILOVERS: &str = "arsgate_failovers_total";
/// Hangups by cause.
pub const HANGUPS: &str = "arsgate_hangups_total";
/// Originate to the first ring or early media (180/183).
pub const POST_DIAL_DELAY: &str = "arsgate_post_dial_delay_seconds";
/// Originate to answer.
pub const TIME_TO_ANSWER: &str = "arsgate_time_to_answer_seconds";
/// Answer to hangup.
pub const CALL_DURATION: &str = "arsgate_call_duration_seconds";
/// Calls a node carries now.
pub const NODE_LIVE_CHANNELS: &str = "arsgate_node_live_channels";
/// A node's channel capacity.
pub const NODE_MAX_CHANNELS: &str = "arsgate_node_max_channels";
/// Whether a node lacks a FreeSWITCH module arsgate needs.
pub const NODE_MODULE_MISSING: &str = "arsgate_node_module_missing";
/// Channels a merchant holds now.
pub const MERCHANT_LIVE_CHANNELS: &str = "arsgate_merchant_live_channels";
/// A merchant's plan's channel capacity.
pub const MERCHANT_MAX_CHANNELS: &str = "arsgate_merchant_max_channels";
/// Calls refused by a plan's limit.
pub const LIMIT_HITS: &str = "arsgate_limit_hits_total";
/// Calls waiting for a channel now.
pub const QUEUE_DEPTH: &str = "arsgate_queue_depth";
/// Time waited in the queue for a channel.
pub const QUEUE_WAIT: &str = "arsgate_queue_wait_seconds";
/// API request durations.
pub const HTTP_DURATION: &str = "arsgate_http_request_duration_seconds";
/// Whether a node's event socket is connected.
pub const ESL_CONNECTED: &str = "arsgate_esl_connected";
/// Event socket reconnects.
pub const ESL_RECONNECTS: &str = "arsgate_esl_reconnects_total";
/// Events routed, by type.
pub const ESL_EVENTS_RECEIVED: &str = "arsgate_esl_events_received_total";
/// Events dropped because arsgate fell behind.
pub const ESL_EVENTS_DROPPED: &str = "arsgate_esl_events_dropped_total";
/// Calls no node had room for, by reason.
pub const NO_CAPACITY: &str = "arsgate_no_capacity_total";
/// Channels of calls arsgate had given up, hung up when a node showed them.
pub const ORPHANS_HUNG_UP: &str = "arsgate_orphan_channels_hung_up_total";
/// Events waiting to be routed.
pub const ESL_EVENT_QUEUE_DEPTH: &str = "arsgate_esl_event_queue_depth";
/// Time since a node's last HEARTBEAT.
pub const ESL_HEARTBEAT_AGE: &str = "arsgate_esl_heartbeat_age_seconds";
/// Webhook delivery attempts by result.
pub const WEBHOOK_DELIVERIES: &str = "arsgate_webhook_deliveries_total";
/// Webhooks waiting for delivery.
pub const WEBHOOK_BACKLOG: &str = "arsgate_webhook_outbox_backlog";
/// Store operation latency.
pub const STORE_DURATION: &str = "arsgate_store_operation_duration_seconds";
/// Whether the store answered when `/metrics` was last scraped.
pub const STORE_UP: &str = "arsgate_store_up";

/// Every metric arsgate exports.
pub const CATALOG: &[Metric] = &[
    counter(
        VERIFICATIONS_STARTED,
        &["merchant", "scenario", "mode"],
        "Verifications created.",
    ),
    counter(
        VERIFICATIONS_FINISHED,
        &["merchant", "scenario", "mode", "outcome"],
        "Verifications that reached their outcome.",
    ),
    counter(
        CALLS_ORIGINATED,
        &["node"],
        "Calls a node was asked to place (one per attempt).",
    ),
    counter(CALLS_ANSWERED, &["node"], "Calls answered by the customer."),
    counter(
        CALLS_FAILED,
        &["node"],
        "Calls that ended without being answered (busy, no answer, refused, unreachable).",
    ),
    counter(
        CALLS_EFFECTIVE,
        &["node"],
        "Calls that reached the customer's phone: answered, or ended by the customer's side (busy, no answer, rejected, absent; see the README's NER).",
    ),
    counter(
        FAILOVERS,
        &["node"],
        "Calls the node failed itself before they reached anyone, placed once more on another node.",
    ),
    counter(
        HANGUPS,
        &["node", "cause"],
        "Calls hung up, by FreeSWITCH hangup cause.",
    ),
    histogram(
        POST_DIAL_DELAY,
        &["node"],
        HUMAN_SECONDS,
        "Post-dial delay: from originate to the first ringing or early media (SIP 180/183).",
    ),
    histogram(
        TIME_TO_ANSWER,
        &["node"],
        HUMAN_SECONDS,
        "Time to answer: from originate to the customer's answer.",
    ),
    histogram(
        CALL_DURATION,
        &["node"],
        CALL_SECONDS,
        "Answered calls' duration: from answer to hangup.",
    ),
    gauge(
        NODE_LIVE_CHANNELS,
        &["node"],
        None,
        "Calls arsgate carries on a node now.",
    ),
    gauge(
        NODE_MAX_CHANNELS,
        &["node"],
        None,
        "A node's channel capacity (configured max_channels).",
    ),
    gauge(
        MERCHANT_LIVE_CHANNELS,
        &["merchant", "mode"],
        None,
        "Channels a merchant's calls hold now, by mode (sandbox calls have channels of their own).",
    ),
    gauge(
        MERCHANT_MAX_CHANNELS,
        &["merchant", "mode"],
        None,
        "The channel capacity of a merchant's plan, in each mode.",
    ),
    counter(
        LIMIT_HITS,
        &["merchant", "limit"],
        "Calls refused by a plan limit (cps_limit, channel_limit, velocity_limit, daily_cap, store_unavailable).",
    ),
    gauge(
        QUEUE_DEPTH,
        &[],
        None,
        "Calls waiting in this process for a channel of their plan.",
    ),
    histogram(
        QUEUE_WAIT,
        &["merchant"],
        HUMAN_SECONDS,
        "Time a queued call waited for its channel (whether it got one or not).",
    ),
    histogram(
        HTTP_DURATION,
        &["method", "route", "status"],
        MACHINE_SECONDS,
        "API request duration, by route template and HTTP status.",
    ),
    gauge(
        ESL_CONNECTED,
        &["node"],
        None,
        "1 while the node's event socket is connected, else 0.",
    ),
    counter(
        ESL_RECONNECTS,
        &["node"],
        "Event socket reconnects after the first connection.",
    ),
    counter(
        ESL_EVENTS_RECEIVED,
        &["node", "type"],
        "Events routed from a node's event socket, by event name.",
    ),
    counter(
        ESL_EVENTS_DROPPED,
        &["node"],
        "Events dropped because arsgate's event queue was full.",
    ),
    counter(
        NO_CAPACITY,
        &["reason"],
        "Calls no FreeSWITCH node had room for (refused with 503 no_capacity, or ended after waiting), by reason: full, draining, disconnected.",
    ),
    counter(
        ORPHANS_HUNG_UP,
        &["node"],
        "Channels of calls arsgate had given up (a node frozen or unreachable at the time) hung up when the node showed them.",
    ),
    gauge(
        NODE_MODULE_MISSING,
        &["node", "module"],
        None,
        "1 when the node lacked this FreeSWITCH module arsgate needs when last checked (at its connection), else 0.",
    ),
    gauge(
        ESL_EVENT_QUEUE_DEPTH,
        &["node"],
        None,
        "Events read from a node and not yet routed.",
    ),
    gauge(
        ESL_HEARTBEAT_AGE,
        &["node"],
        Some(Unit::Seconds),
        "Time since the node's last HEARTBEAT event.",
    ),
    counter(
        WEBHOOK_DELIVERIES,
        &["result"],
        "Webhook delivery attempts by result (delivered, failed, dead).",
    ),
    gauge(
        WEBHOOK_BACKLOG,
        &[],
        None,
        "Webhooks in the outbox waiting for delivery.",
    ),
    histogram(
        STORE_DURATION,
        &["operation"],
        MACHINE_SECONDS,
        "Store operation latency, by Store method.",
    ),
    gauge(
        STORE_UP,
        &[],
        None,
        "1 if the store answered when /metrics was last scraped, else 0.",
    ),
];

/// Webhook delivery results, every one exported from the start.
const DELIVERY_RESULTS: [&str; 3] = ["delivered", "failed", "dead"];

/// Exports the counters whose label values are known from the start at
/// zero, so that a query or an alert on them sees a series before the
/// first event (a rate over an absent series is no data, not zero): the
/// per-node call and event socket counters of `nodes`, the reasons of
/// [`NO_CAPACITY`] and the results of [`WEBHOOK_DELIVERIES`]. Called at
/// start and for every node a reload adds.
pub fn zero_known(nodes: &[&str]) {
    for node in nodes {
        for name in [
            CALLS_ORIGINATED,
            CALLS_ANSWERED,
            CALLS_FAILED,
            CALLS_EFFECTIVE,
            FAILOVERS,
            ESL_RECONNECTS,
            ESL_EVENTS_DROPPED,
            ORPHANS_HUNG_UP,
        ] {
            metrics::counter!(name, "node" => (*node).to_owned()).increment(0);
        }
    }
    for none in [
        crate::switch::NoNode::NoneConnected,
        crate::switch::NoNode::AllDraining,
        crate::switch::NoNode::Full,
    ] {
        metrics::counter!(NO_CAPACITY, "reason" => none.reason()).increment(0);
    }
    for result in DELIVERY_RESULTS {
        metrics::counter!(WEBHOOK_DELIVERIES, "result" => result).increment(0);
    }
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-global recorder (once; later calls return the
/// same handle) with every metric described and every histogram's buckets.
/// If another recorder was installed first, arsgate's metrics go there and
/// the returned handle renders an empty page.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let mut builder = PrometheusBuilder::new();
        for metric in CATALOG.iter().filter(|m| m.kind == Kind::Histogram) {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(metric.name.to_owned()), metric.buckets)
                .unwrap_or_else(|_| unreachable!("every histogram names its buckets"));
        }
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
        }
        describe();
        handle
    })
}

fn describe() {
    for metric in CATALOG {
        let help = metric.help;
        match (metric.kind, metric.unit) {
            (Kind::Counter, _) => describe_counter!(metric.name, help),
            (Kind::Gauge, Some(unit)) => describe_gauge!(metric.name, unit, help),
            (Kind::Gauge, None) => describe_gauge!(metric.name, help),
            (Kind::Histogram, unit) => {
                describe_histogram!(metric.name, unit.unwrap_or(Unit::Seconds), help)
            }
        }
    }
}

/// The Prometheus text exposition of every metric recorded so far.
pub fn render() -> String {
    let handle = install();
    handle.run_upkeep();
    handle.render()
}

/// A verification was created.
pub fn verification_started(merchant: &str, scenario: &str, mode: &str) {
    metrics::counter!(VERIFICATIONS_STARTED, "merchant" => merchant.to_owned(), "scenario" => scenario.to_owned(), "mode" => mode.to_owned()).increment(1);
}

/// A verification reached `outcome`.
pub fn verification_finished(merchant: &str, scenario: &str, mode: &str, outcome: &str) {
    metrics::counter!(VERIFICATIONS_FINISHED, "merchant" => merchant.to_owned(), "scenario" => scenario.to_owned(), "mode" => mode.to_owned(), "outcome" => outcome.to_owned()).increment(1);
}

/// A plan refused a call of `merchant` at `limit` (a refusal code).
pub fn limit_hit(merchant: &str, limit: &'static str) {
    metrics::counter!(LIMIT_HITS, "merchant" => merchant.to_owned(), "limit" => limit).increment(1);
}

/// No node had room for a call, for `reason` (`full`, `draining`,
/// `disconnected`).
pub fn no_capacity(reason: &'static str) {
    metrics::counter!(NO_CAPACITY, "reason" => reason).increment(1);
}

/// A call joined (`1.0`) or left (`-1.0`) a queue for a channel.
pub fn queue_moved(by: f64) {
    metrics::gauge!(QUEUE_DEPTH).increment(by);
}

/// A queued call of `merchant` waited `waited` for its channel.
pub fn queue_waited(merchant: &str, waited: std::time::Duration) {
    metrics::histogram!(QUEUE_WAIT, "merchant" => merchant.to_owned()).record(waited.as_secs_f64());
}

/// Node `node` failed a call before it reached anyone; it is placed once
/// more on another node.
pub fn failover(node: &str) {
    metrics::counter!(FAILOVERS, "node" => node.to_owned()).increment(1);
}

/// A webhook delivery attempt ended with `result` (`delivered`, `failed`
/// or `dead`).
pub fn webhook_delivery(result: &'static str) {
    metrics::counter!(WEBHOOK_DELIVERIES, "result" => result).increment(1);
}
