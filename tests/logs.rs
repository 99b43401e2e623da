//! arsgate's log of a full sandbox flow, every scenario, captured as JSON
//! at the most detailed level (with the binary's own filter, on
//! PostgreSQL): no secret appears in it (the code, the PIN, the API keys,
//! the webhook secret), and every line written about a call carries the
//! verification, the merchant, the call and the node.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::app::TestApp;
use common::store::TestDb;
use serde_json::{Value, json};
use tracing_subscriber::fmt::MakeWriter;

/// The sandbox's code, keyed (enter_code) and checked (read_code, press_then_read).
const CODE: &str = "123456";
/// The PIN registered for the customer and keyed by the sandbox phone.
const PIN: &str = "2580";
/// The birth date the sandbox phone 01000000019 keys (as 19900101).
const BIRTHDATE: &str = "1990-01-01";

/// Every log line written, in order.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.lock()).into_owned()
    }

    fn clear(&self) {
        self.lock().clear();
    }
}

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

/// The lines of `log` in which `secret` stands as a value of its own (not
/// inside a longer run of letters and digits, such as an id or a time).
fn leaks<'a>(log: &'a str, secret: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|line| {
            line.match_indices(secret).any(|(at, _)| {
                let before = line[..at].chars().next_back();
                let after = line[at + secret.len()..].chars().next();
                !before.is_some_and(|c| c.is_ascii_alphanumeric())
                    && !after.is_some_and(|c| c.is_ascii_alphanumeric())
            })
        })
        .collect()
}

/// The `call` span a JSON log line was written in, if any.
fn call_span(line: &Value) -> Option<&Value> {
    line["spans"]
        .as_array()?
        .iter()
        .rev()
        .find(|span| span["name"] == "call")
}

/// Runs one scenario through the API to its end; checks the code when the
/// scenario reads one out.
async fn walk(app: &TestApp, key: &str, body: Value, expected: &str, check: bool) {
    let created = app.create(key, &body).await;
    let id = created["id"].as_str().unwrap();
    let finished = app.finished(key, id).await;
    assert_eq!(finished["outcome"], expected, "{finished}");
    if check {
        let (status, verdict) = app
            .post(
                &format!("/v1/verifications/{id}/check"),
                key,
                &json!({ "code": CODE }),
            )
            .await;
        assert_eq!(
            (status, verdict["status"].as_str()),
            (200, Some("approved"))
        );
    }
    app.hooks.finished(id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_flow_logs_no_secret_and_every_call_line_names_its_call() {
    let capture = Capture::default();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(arsgate::cli::logging::filter("trace"))
        .with_writer(capture.clone())
        .try_init()
        .expect("the capturing subscriber is the only one");

    // The capture sees what is logged, and a leak would be caught.
    tracing::info!(pin = PIN, "a deliberate leak");
    assert_eq!(leaks(&capture.text(), PIN).len(), 1, "{}", capture.text());
    capture.clear();

    let db = TestDb::postgres().await;
    let app = TestApp::start(&db).await;
    let m = app.merchant("acme").await;
    let webhook_secret = m.merchant.webhook_secret.clone();
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            "/v1/customers/customer-1/pin",
            Some(&m.test),
            Some(&json!({ "pin": PIN })),
        )
        .await;
    assert_eq!(status, 204);
    let hooks = app.hooks.url();
    let request = |scenario: &str, phone: &str| json!({ "phone": phone, "scenario": scenario, "callback_url": hooks });
    let mut pin = request("enter_pin", "01000000014");
    pin["customer_ref"] = json!("customer-1");
    let mut birthdate = request("enter_birthdate", "01000000019");
    birthdate["birthdate"] = json!(BIRTHDATE);
    let mut consent = request("consent_record", "01000000015");
    consent["fields"] = json!({
        "bank": "이노은행",
        "holder_name": "홍길동",
        "account_masked": "000-1111-**-22",
        "purpose": "자동이체 출금"
    });
    tokio::join!(
        walk(
            &app,
            &m.test,
            request("read_code", "01000000001"),
            "completed",
            true
        ),
        walk(
            &app,
            &m.test,
            request("press_then_read", "01000000005"),
            "completed",
            true
        ),
        walk(
            &app,
            &m.test,
            request("enter_code", "01000000004"),
            "verified",
            false
        ),
        walk(&app, &m.test, pin, "verified", false),
        walk(&app, &m.test, birthdate, "verified", false),
        walk(&app, &m.test, consent, "consented", false),
        walk(
            &app,
            &m.test,
            request("event_optin", "01000000017"),
            "consented",
            false
        ),
    );

    // The API and the merchant's endpoint see each outcome a moment before
    // arsgate logs it: wait for the last lines.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while ["\"verification finished\"", "\"webhook delivered\""]
        .iter()
        .any(|message| capture.text().matches(message).count() < 7)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let log = capture.text();
    for (what, secret) in [
        ("the code", CODE),
        ("the PIN", PIN),
        ("the birth date", BIRTHDATE),
        ("the birth date as keyed", "19900101"),
        ("the sandbox API key", m.test.as_str()),
        ("the live API key", m.live.as_str()),
        ("the webhook secret", webhook_secret.as_str()),
    ] {
        let leaked = leaks(&log, secret);
        assert!(leaked.is_empty(), "{what} is in the log: {leaked:#?}");
    }

    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is JSON"))
        .collect();
    let in_calls: Vec<&Value> = lines.iter().filter(|l| call_span(l).is_some()).collect();
    for line in &in_calls {
        let span = call_span(line).unwrap();
        for field in ["verification", "merchant", "call", "node"] {
            assert!(
                span[field].as_str().is_some_and(|v| !v.is_empty()),
                "a line in a call's span lacks {field}: {line}"
            );
        }
        assert_eq!(span["merchant"], "acme", "{line}");
    }
    let decided = in_calls
        .iter()
        .filter(|l| l["fields"]["message"] == "verification decided")
        .count();
    let finished = in_calls
        .iter()
        .filter(|l| l["fields"]["message"] == "verification finished")
        .count();
    assert_eq!(
        (decided, finished),
        (7, 7),
        "the controller's and the service's lines about each call are in its span"
    );
    let delivered: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "webhook delivered")
        .collect();
    assert_eq!(delivered.len(), 7);
    for line in delivered {
        assert!(
            line["fields"]["verification"].as_str().is_some()
                && line["fields"]["event"].as_str().is_some(),
            "{line}"
        );
    }
}
