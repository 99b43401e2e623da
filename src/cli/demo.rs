//! `arsgate demo`: everything in one process, nothing else needed. The
//! sandbox simulator stands in for FreeSWITCH and the phones, SQLite in a
//! data directory for the database; a demo merchant gets a sandbox key; one
//! verification of each scenario A–F runs through the real HTTP API while
//! each step is printed as it happens, and signed webhooks are received and
//! checked. Then the API keeps serving so a newcomer can try it.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use ipnet::IpNet;
use serde_json::{Value, json};

use super::sim::shutdown_signal;
use crate::config::{
    AdminConfig, CallsConfig, Config, EslConfig, HttpConfig, SandboxConfig, Secret, ShutdownConfig,
    StoreConfig, WebhooksConfig, XmlCurlConfig,
};
use crate::domain::Mode;
use crate::server::Server;
use crate::service::keys;
use crate::store;

/// Options of `arsgate demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where the API listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Walk through the scenarios and exit: non-zero if any did not reach
    /// its expected outcome.
    #[arg(long)]
    pub once: bool,
    /// How much faster than real time the simulated calls run.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Keep the database and recordings here (default: a temporary
    /// directory, removed on exit).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// One step of the walk: a scenario, the sandbox number that plays the
/// customer, and what should come of it.
struct Walk {
    label: &'static str,
    scenario: &'static str,
    phone: &'static str,
    /// What the customer does, in words.
    story: &'static str,
    expected: &'static str,
    /// The code typed into the merchant's page afterwards (A and B).
    check: Option<&'static str>,
    fields: Value,
    customer: Option<&'static str>,
    /// The birth date the request gives (`enter_birthdate`).
    birthdate: Option<&'static str>,
}

fn walks() -> Vec<Walk> {
    vec![
        Walk {
            label: "A",
            scenario: "read_code",
            phone: "010-0000-0001",
            story: "answers and listens to the code",
            expected: "completed",
            check: Some(crate::service::create::SANDBOX_CODE),
            fields: json!({}),
            customer: None,
            birthdate: None,
        },
        Walk {
            label: "B",
            scenario: "press_then_read",
            phone: "010-0000-0005",
            story: "presses 5, then hears the code",
            expected: "completed",
            check: Some(crate::service::create::SANDBOX_CODE),
            fields: json!({}),
            customer: None,
            birthdate: None,
        },
        Walk {
            label: "C",
            scenario: "enter_code",
            phone: "010-0000-0004",
            story: "keys in the code shown on the page",
            expected: "verified",
            check: None,
            fields: json!({}),
            customer: None,
            birthdate: None,
        },
        Walk {
            label: "D",
            scenario: "enter_pin",
            phone: "010-0000-0014",
            story: "keys in the registered PIN 2580",
            expected: "verified",
            check: None,
            fields: json!({}),
            customer: Some("demo-customer-1"),
            birthdate: None,
        },
        Walk {
            label: "D",
            scenario: "enter_birthdate",
            phone: "010-0000-0020",
            story: "keys in the birth date 1990-01-01 as 900101",
            expected: "verified",
            check: None,
            fields: json!({}),
            customer: None,
            birthdate: Some("1990-01-01"),
        },
        Walk {
            label: "E",
            scenario: "consent_record",
            phone: "010-0000-0015",
            story: "hears the consent text and presses 1",
            expected: "consented",
            check: None,
            fields: json!({
                "bank": "이노은행",
                "holder_name": "홍길동",
                "account_masked": "000-1111-**-22",
                "purpose": "자동이체 출금"
            }),
            customer: None,
            birthdate: None,
        },
        Walk {
            label: "F",
            scenario: "event_optin",
            phone: "010-0000-0017",
            story: "presses 1 to join the event",
            expected: "consented",
            check: None,
            fields: json!({}),
            customer: None,
            birthdate: None,
        },
    ]
}

/// Prints lines whole, from concurrent tasks.
#[derive(Clone)]
pub(super) struct Printer {
    started: Instant,
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl Printer {
    pub(super) fn line(&self, text: impl AsRef<str>) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{elapsed:7.1}s  {}", text.as_ref());
        let _ = out.flush();
    }

    fn plain(&self, text: impl AsRef<str>) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{}", text.as_ref());
        let _ = out.flush();
    }
}

/// Runs `arsgate demo`.
pub async fn run(args: DemoArgs, out: Box<dyn Write + Send>) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.speed.is_finite() && (0.1..=1000.0).contains(&args.speed),
        "--speed must be 0.1 to 1000"
    );
    let temp = match &args.data {
        Some(_) => None,
        None => Some(tempfile::tempdir().context("creating a temporary directory")?),
    };
    let data_dir = args
        .data
        .clone()
        .or_else(|| temp.as_ref().map(|t| t.path().to_path_buf()))
        .context("no data directory")?;
    let config = demo_config(&args, data_dir.clone());
    let store = store::open(&format!("sqlite:{}", data_dir.join("arsgate.db").display()))
        .await
        .context("opening the demo database")?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {} (pick another with --listen)", args.listen))?;
    let server = Server::start(&config, Arc::clone(&store), listener).await?;
    let printer = Printer {
        started: Instant::now(),
        out: Arc::new(Mutex::new(out)),
    };
    let (merchant, _) = keys::merchant_named(&*store, "demo").await?;
    let key = keys::issue(&*store, &merchant, Mode::Test).await?;
    let base = format!("http://{}", server.addr());
    let receiver =
        super::demo_webhooks::Receiver::start(merchant.webhook_secret.clone(), printer.clone())
            .await?;
    printer.plain(format!(
        "arsgate demo: API on {base}, sandbox simulator in-process, SQLite in {}\n",
        data_dir.display()
    ));
    if !server.assets().builtin.is_empty() {
        printer.plain(format!(
            "built-in {} (files under config/ and sounds/ would override them)",
            server.assets().builtin.join(", ")
        ));
    }
    printer.plain(format!(
        "merchant  demo ({})\nAPI key   {}\nwebhooks  {} (secret {})\n",
        merchant.id,
        key.text,
        receiver.url(),
        merchant.webhook_secret
    ));
    printer.plain("Walking through one verification of each scenario:\n");
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for walk in walks() {
        let context = WalkContext {
            client: client.clone(),
            base: base.clone(),
            key: key.text.clone(),
            callback: receiver.url(),
            printer: printer.clone(),
        };
        tasks.push(tokio::spawn(async move {
            let result = run_walk(&context, &walk).await;
            (walk, result)
        }));
    }
    let mut failures = Vec::new();
    let mut ids = Vec::new();
    for task in tasks {
        let (walk, result) = task.await.context("a walk panicked")?;
        match result {
            Ok(id) => ids.push(id),
            Err(error) => failures.push(format!("{} {}: {error:#}", walk.label, walk.scenario)),
        }
    }
    let webhooks = receiver.wait_for(&ids, Duration::from_secs(10)).await;
    printer.plain("");
    if failures.is_empty() {
        printer.plain(format!(
            "All seven scenarios reached their expected outcome; {webhooks} of {} signed webhooks received and verified.",
            ids.len()
        ));
    } else {
        for failure in &failures {
            printer.plain(format!("FAILED {failure}"));
        }
    }
    if args.once {
        server.shutdown().await;
        anyhow::ensure!(failures.is_empty(), "{} scenario(s) failed", failures.len());
        anyhow::ensure!(
            webhooks == ids.len(),
            "{} of {} webhooks arrived",
            webhooks,
            ids.len()
        );
        return Ok(());
    }
    printer.plain(format!(
        "\nStill serving on {base}; try a verification of your own (Ctrl-C to stop):\n\n  curl -s {base}/v1/verifications \\\n    -H 'Authorization: Bearer {}' \\\n    -H 'Content-Type: application/json' \\\n    -d '{{\"phone\": \"010-0000-0004\", \"scenario\": \"enter_code\"}}'\n\nOpenAPI document: {base}/openapi.json",
        key.text
    ));
    shutdown_signal().await;
    server.shutdown().await;
    Ok(())
}

fn demo_config(args: &DemoArgs, data_dir: PathBuf) -> Config {
    let mut calls = CallsConfig::default();
    calls.recordings.local_dir = data_dir.join("recordings");
    calls.caller_id_number = Some("0215880000".to_owned());
    Config {
        listen: args.listen,
        http: HttpConfig::default(),
        esl: EslConfig::default(),
        nodes: Vec::new(),
        calls,
        store: StoreConfig::default(),
        secret: Some(Secret::new(hex::encode(rand::random::<[u8; 32]>()))),
        sandbox: SandboxConfig {
            enabled: true,
            speed: args.speed,
            ..SandboxConfig::default()
        },
        // The demo's own webhook receiver listens on loopback, and nothing
        // else is reached: whatever `callback_url` a visitor (or CI's API
        // fuzzer) sends, the demo posts nothing off the machine.
        webhooks: WebhooksConfig {
            allow_networks: vec![
                IpNet::from(IpAddr::from(Ipv4Addr::LOCALHOST)),
                IpNet::from(IpAddr::from(Ipv6Addr::LOCALHOST)),
            ],
            allow_public: false,
            ..WebhooksConfig::default()
        },
        shutdown: ShutdownConfig {
            grace: Duration::from_secs(5),
        },
        limits: crate::config::LimitsConfig::default(),
        admin: AdminConfig::default(),
        data_dir,
        xml_curl: XmlCurlConfig::default(),
    }
}

struct WalkContext {
    client: reqwest::Client,
    base: String,
    key: String,
    callback: String,
    printer: Printer,
}

impl WalkContext {
    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
        let response = request
            .bearer_auth(&self.key)
            .send()
            .await
            .context("calling the API")?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }
}

/// Runs one scenario through the API; the verification's id on success.
async fn run_walk(context: &WalkContext, walk: &Walk) -> anyhow::Result<String> {
    let say = |text: String| {
        context
            .printer
            .line(format!("{} {:<16} {text}", walk.label, walk.scenario))
    };
    if let Some(customer) = walk.customer {
        let (status, _) = context
            .send(
                context
                    .client
                    .put(format!("{}/v1/customers/{customer}/pin", context.base))
                    .json(&json!({ "pin": "2580" })),
            )
            .await?;
        anyhow::ensure!(status == 204, "registering the PIN answered {status}");
        say(format!(
            "PUT /v1/customers/{customer}/pin -> 204 (PIN 2580 registered)"
        ));
    }
    let mut request = json!({
        "phone": walk.phone,
        "scenario": walk.scenario,
        "callback_url": context.callback,
        "fields": walk.fields,
    });
    if let Some(customer) = walk.customer {
        request["customer_ref"] = json!(customer);
    }
    if let Some(birthdate) = walk.birthdate {
        request["birthdate"] = json!(birthdate);
    }
    let (status, created) = context
        .send(
            context
                .client
                .post(format!("{}/v1/verifications", context.base))
                .json(&request),
        )
        .await?;
    anyhow::ensure!(
        status == 201,
        "POST /v1/verifications answered {status}: {created}"
    );
    let id = created["id"].as_str().context("no id")?.to_owned();
    let shown = created["code"]
        .as_str()
        .map(|code| format!(", page shows code {code}"))
        .unwrap_or_default();
    say(format!(
        "POST /v1/verifications -> 201 {id}{shown}; calling {} who {}",
        walk.phone, walk.story
    ));
    let mut seen = 0;
    let finished = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (status, body) = context
            .send(
                context
                    .client
                    .get(format!("{}/v1/verifications/{id}", context.base)),
            )
            .await?;
        anyhow::ensure!(status == 200, "GET answered {status}");
        let timeline = body["timeline"].as_array().cloned().unwrap_or_default();
        for entry in timeline.iter().skip(seen) {
            say(describe(entry));
        }
        seen = timeline.len();
        if body["status"] == "finished" {
            break body;
        }
    };
    let outcome = finished["outcome"].as_str().unwrap_or("none").to_owned();
    anyhow::ensure!(
        outcome == walk.expected,
        "outcome {outcome} ({}), expected {}",
        finished["reason"].as_str().unwrap_or(""),
        walk.expected
    );
    if let Some(code) = walk.check {
        let (status, body) = context
            .send(
                context
                    .client
                    .post(format!("{}/v1/verifications/{id}/check", context.base))
                    .json(&json!({ "code": code })),
            )
            .await?;
        let verdict = body["status"].as_str().unwrap_or("?").to_owned();
        say(format!(
            "POST /v1/verifications/{id}/check {{\"code\": \"{code}\"}} -> {status} {verdict}"
        ));
        anyhow::ensure!(verdict == "approved", "the check was {verdict}");
    }
    if walk.scenario == "consent_record" {
        let (status, bundle) = context
            .send(
                context
                    .client
                    .get(format!("{}/v1/verifications/{id}/evidence", context.base)),
            )
            .await?;
        anyhow::ensure!(status == 200, "evidence answered {status}");
        say(format!(
            "evidence: key {} pressed, recording sha256 {}, bundle sha256 {}",
            bundle["key"].as_str().unwrap_or("-"),
            short(bundle["recording"]["sha256"].as_str()),
            short(bundle["bundle_sha256"].as_str()),
        ));
    }
    say(format!("outcome {outcome} (as expected)"));
    Ok(id)
}

fn short(hash: Option<&str>) -> String {
    hash.map_or_else(|| "-".to_owned(), |h| format!("{}…", &h[..h.len().min(12)]))
}

/// One timeline entry in words.
fn describe(entry: &Value) -> String {
    let text = |key: &str| entry[key].as_str().unwrap_or("").to_owned();
    match entry["event"].as_str().unwrap_or("") {
        "originated" => "originate sent to the switch".to_owned(),
        "ringing" => "ringing".to_owned(),
        "early_media" => "early media".to_owned(),
        "answered" => "answered".to_owned(),
        "segment" => format!("playing segment `{}`", text("name")),
        "input" => format!(
            "customer keyed {} digits (attempt {}): {}",
            entry["digits"],
            entry["attempt"],
            text("result")
        ),
        "key" => format!("menu: {}", entry["key"].as_str().unwrap_or("no valid key")),
        "recorded" => format!("recording saved ({} ms)", entry["millis"]),
        "hung_up" => format!("hung up ({})", text("cause")),
        "decided" => format!("decided: {} ({})", text("outcome"), text("reason")),
        other => other.to_owned(),
    }
}
