//! Reloading the configuration of a running arsgate (`POST /admin/reload`,
//! what SIGHUP does too) with calls under way on simulated nodes: nodes
//! removed drain and leave, nodes added take calls, plans change for new
//! calls, scenarios change for new verifications, and no live call is
//! dropped. A file or a scenario that does not validate changes nothing.
//! The configuration is a real file, rewritten as an operator would.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arsgate::config::Config;
use arsgate::sim::phone::{Answer, PhoneScript};
use common::app::{TestApp, XML_CURL_PASSWORD, XML_CURL_USER, config_yaml};
use common::repo;
use common::store::TestDb;
use reqwest::Method;
use serde_json::{Value, json};

/// The admin token the tests configure.
const TOKEN: &str = "admin token for the reload tests";

const SECRET: &str = "test server secret, at least 32 bytes long";

/// A phone that rings for 120 s (simulated: 3 s at the tests' speed)
/// before it answers and listens: a call that is live for a while.
const SLOW: &str = "01099990001";

fn slow_phone() -> PhoneScript {
    PhoneScript::Answer(Answer {
        after: Duration::from_secs(120),
        early_media: None,
        hangup_after: None,
        dtmf: Vec::new(),
    })
}

/// The configuration file: the test app's own on the nodes listening on
/// `ports`, with the admin token, `scenarios` as the scenarios' folder, a
/// ring timeout the slow phone stays within, and `limits` (YAML, possibly
/// empty) appended.
fn file_text(ports: &[u16], data: &Path, scenarios: &Path, limits: &str) -> String {
    let text = config_yaml(ports, data)
        .replace(
            &format!("scenarios_dir: {}", repo("config/scenarios").display()),
            &format!("scenarios_dir: {}", scenarios.display()),
        )
        .replace("\ncalls:\n", "\ncalls:\n  ring_timeout: 300s\n");
    format!("{text}admin:\n  token: {TOKEN}\n{limits}")
}

/// A running app whose configuration is `file`, with `nodes` simulators of
/// which the first `configured` are in the file.
struct Rig {
    app: TestApp,
    file: PathBuf,
    ports: Vec<u16>,
    scenarios: PathBuf,
}

impl Rig {
    async fn start(db: &TestDb, nodes: usize, configured: usize, limits: &str) -> Rig {
        let folder = tempfile::tempdir().unwrap().keep();
        let scenarios = folder.join("scenarios");
        std::fs::create_dir_all(&scenarios).unwrap();
        for entry in std::fs::read_dir(repo("config/scenarios")).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, scenarios.join(path.file_name().unwrap())).unwrap();
        }
        let file = folder.join("arsgate.yaml");
        let url = db.url();
        let (f, s, limits) = (file.clone(), scenarios.clone(), limits.to_owned());
        let app = TestApp::start_cluster(
            db,
            nodes,
            |_, _| {},
            move |config| {
                let ports: Vec<u16> = config.nodes.iter().map(|n| n.port).collect();
                let text = file_text(&ports[..configured], &config.data_dir, &s, &limits);
                std::fs::write(&f, text).unwrap();
                *config = load(&f, &url).expect("the test's file loads");
            },
        )
        .await;
        let ports = app.nodes.iter().map(|sim| sim.addr().port()).collect();
        let (f, url) = (file.clone(), db.url());
        app.server().reload_from(Arc::new(move || load(&f, &url)));
        for sim in &app.nodes {
            sim.set_phone(SLOW, slow_phone());
        }
        app.sandbox().set_phone(SLOW, slow_phone());
        Rig {
            app,
            file,
            ports,
            scenarios,
        }
    }

    /// Rewrites the file with the nodes `nodes` (by index) and `limits`.
    fn write(&self, nodes: &[usize], limits: &str) {
        let ports: Vec<u16> = nodes.iter().map(|&i| self.ports[i]).collect();
        let mut text = file_text(&ports, self.app.data_dir(), &self.scenarios, limits);
        // Nodes keep their names whatever their place in the list.
        for (place, &index) in nodes.iter().enumerate().rev() {
            text = text.replace(
                &format!("name: fs{}\n", place + 1),
                &format!("name: fs{}\n", index + 1),
            );
        }
        std::fs::write(&self.file, text).unwrap();
    }

    async fn reload(&self) -> (u16, Value) {
        self.app
            .call(Method::POST, "/admin/reload", Some(TOKEN), None)
            .await
    }

    /// The admin API's nodes.
    async fn nodes(&self) -> Vec<Value> {
        let (status, body) = self
            .app
            .call(Method::GET, "/admin/nodes", Some(TOKEN), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body["nodes"].as_array().unwrap().clone()
    }
}

/// The configuration in `file`, with the store and secret from the
/// environment as a process would have them.
fn load(file: &Path, url: &str) -> Result<Config, arsgate::config::ConfigError> {
    Config::load(
        file,
        [
            ("ARSGATE_SECRET", SECRET.to_owned()),
            ("ARSGATE_STORE__URL", url.to_owned()),
        ],
    )
}

/// Waits until `done` holds of the admin API's nodes.
async fn nodes_until(rig: &Rig, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let nodes = rig.nodes().await;
        if done(&nodes) {
            return nodes;
        }
        assert!(tokio::time::Instant::now() < deadline, "{nodes:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn named<'a>(nodes: &'a [Value], name: &str) -> Option<&'a Value> {
    nodes.iter().find(|n| n["name"] == name)
}

/// Creates a `read_code` verification to `phone` with `key`.
async fn create(app: &TestApp, key: &str, scenario: &str, phone: &str) -> (u16, Value) {
    app.post(
        "/v1/verifications",
        key,
        &json!({ "phone": phone, "scenario": scenario }),
    )
    .await
}

const TWO_CHANNELS: &str = "limits:\n  plans:\n    default: { max_channels: 2 }\n";
const FIVE_CHANNELS: &str = "limits:\n  plans:\n    default: { max_channels: 5 }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_calls_finish_while_nodes_and_plans_change() {
    let db = TestDb::sqlite();
    let rig = Rig::start(&db, 3, 2, TWO_CHANNELS).await;
    let app = &rig.app;
    let m = app.merchant("acme").await;

    // Two live calls, one a node (round robin), every channel of the plan.
    let mut live = Vec::new();
    for _ in 0..2 {
        let (status, body) = create(app, &m.live, "read_code", SLOW).await;
        assert_eq!(status, 201, "{body}");
        live.push(body["id"].as_str().unwrap().to_owned());
    }
    let nodes = nodes_until(&rig, |nodes| {
        nodes
            .iter()
            .map(|n| n["live_channels"].as_u64().unwrap())
            .sum::<u64>()
            == 2
    })
    .await;
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    let (status, body) = create(app, &m.live, "read_code", SLOW).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("channel_limit")),
        "{body}"
    );

    // fs2 leaves, fs3 joins, the plan grows to five channels.
    rig.write(&[0, 2], FIVE_CHANNELS);
    let (status, report) = rig.reload().await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["nodes"]["added"], json!(["fs3"]), "{report}");
    assert_eq!(report["nodes"]["removed"], json!(["fs2"]), "{report}");
    assert_eq!(report["plans"]["changed"], json!(["default"]), "{report}");
    assert_eq!(report["needs_restart"], json!([]), "{report}");

    let nodes = nodes_until(&rig, |nodes| {
        named(nodes, "fs3").is_some_and(|n| n["connected"] == true)
    })
    .await;
    let fs2 = named(&nodes, "fs2").expect("fs2 stays while its call lives");
    assert_eq!(
        (&fs2["draining"], &fs2["live_channels"]),
        (&json!(true), &json!(1))
    );
    assert!(
        metrics(app)
            .await
            .contains("arsgate_esl_connected{node=\"fs2\"} 1")
    );

    // The plan's new channels, on the nodes still in the file.
    let fs2_dialled = app.nodes[1].dialled().len();
    let mut later = Vec::new();
    for _ in 0..2 {
        let (status, body) = create(app, &m.live, "read_code", SLOW).await;
        assert_eq!(status, 201, "{body}");
        later.push(body["id"].as_str().unwrap().to_owned());
    }
    // A drain recorded by nobody does not bring fs2 back.
    app.server().service().sync_drains().await.unwrap();

    for id in live.iter().chain(&later) {
        let view = app.finished(&m.live, id).await;
        assert_eq!(view["outcome"], "completed", "{view}");
    }
    assert_eq!(
        app.nodes[1].dialled().len(),
        fs2_dialled,
        "nothing new on fs2"
    );
    assert!(!app.nodes[2].dialled().is_empty(), "fs3 took calls");
    // With its call over, fs2 leaves the pool.
    let nodes = nodes_until(&rig, |nodes| named(nodes, "fs2").is_none()).await;
    let names: Vec<&str> = nodes.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["fs1", "fs3"]);
    // Gone from the metrics as far as alerts go: no value any more.
    let text = metrics(app).await;
    assert!(
        text.contains("arsgate_esl_connected{node=\"fs2\"} NaN"),
        "{text}"
    );
    assert!(
        text.contains("arsgate_esl_connected{node=\"fs3\"} 1"),
        "{text}"
    );
}

/// The `/metrics` page.
async fn metrics(app: &TestApp) -> String {
    let response = app
        .request(Method::GET, "/metrics", None, None)
        .send()
        .await
        .unwrap();
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_file_or_scenario_changes_nothing() {
    let db = TestDb::sqlite();
    let rig = Rig::start(&db, 1, 1, "").await;
    let limits_of = |nodes: Vec<Value>| -> Vec<(Value, Value)> {
        nodes
            .into_iter()
            .map(|n| (n["name"].clone(), n["max_channels"].clone()))
            .collect()
    };
    let before = limits_of(rig.nodes().await);

    std::fs::write(
        &rig.file,
        std::fs::read_to_string(&rig.file)
            .unwrap()
            .replace("max_channels: 1000", "max_chanels: 1000"),
    )
    .unwrap();
    let (status, problem) = rig.reload().await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "invalid_configuration");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("max_chanels") && detail.contains("nothing changed"),
        "{detail}"
    );

    // A good file with a broken scenario: still nothing.
    rig.write(&[0], FIVE_CHANNELS);
    std::fs::write(
        rig.scenarios.join("broken.yaml"),
        "name: broken\nsteps: []\n",
    )
    .unwrap();
    let (status, problem) = rig.reload().await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("broken.yaml"),
        "{problem}"
    );
    let m = rig.app.merchant("acme").await;
    let (_, limits) = rig.app.get("/v1/limits", &m.live).await;
    assert_eq!(
        limits["max_channels"], 100,
        "the plan is as it was: {limits}"
    );
    assert_eq!(limits_of(rig.nodes().await), before);

    // Without a token, as the other admin routes.
    let (status, _) = rig
        .app
        .call(Method::POST, "/admin/reload", None, None)
        .await;
    assert_eq!(status, 401);
}

/// The dialplan the app serves to mod_xml_curl for `destination`.
async fn served(app: &TestApp, destination: &str) -> String {
    let form = [
        ("section", "dialplan"),
        ("Hunt-Context", "arsgate"),
        ("Hunt-Destination-Number", destination),
    ];
    let response = app
        .http
        .post(format!("{}/freeswitch/dialplan", app.base))
        .basic_auth(XML_CURL_USER, Some(XML_CURL_PASSWORD))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_verifications_use_the_new_scenarios_and_live_ones_keep_theirs() {
    let db = TestDb::sqlite();
    let rig = Rig::start(&db, 1, 1, "").await;
    let app = &rig.app;
    let m = app.merchant("acme").await;
    let copy = rig.scenarios.join("read_code_copy.yaml");
    let original = std::fs::read_to_string(rig.scenarios.join("read_code.yaml")).unwrap();
    std::fs::write(
        &copy,
        original.replace("name: read_code\n", "name: read_code_copy\n"),
    )
    .unwrap();
    let (status, report) = rig.reload().await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["scenarios"]["added"],
        json!(["read_code_copy"]),
        "{report}"
    );
    assert!(
        served(app, "read_code_copy__start")
            .await
            .contains("read_code_copy__start")
    );

    // A sandbox call of the new scenario, live across its removal.
    let (status, body) = create(app, &m.test, "read_code_copy", SLOW).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    app.wait_for(&m.test, &id, |v| v["status"] == "calling")
        .await;
    std::fs::remove_file(&copy).unwrap();
    let (status, report) = rig.reload().await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["scenarios"]["removed"],
        json!(["read_code_copy"]),
        "{report}"
    );
    let (status, problem) = create(app, &m.test, "read_code_copy", SLOW).await;
    assert_eq!(status, 422, "no new verification of it: {problem}");
    let view = app.finished(&m.test, &id).await;
    assert_eq!(
        view["outcome"], "completed",
        "the live call kept it: {view}"
    );
    // Its dialplan stays served for calls under way.
    assert!(
        served(app, "read_code_copy__start")
            .await
            .contains("read_code_copy__start")
    );
}
