//! The whole application for HTTP tests: arsgate started on a free port
//! with a fresh store, its in-process sandbox, simulators standing in for
//! the live FreeSWITCH nodes `fs1`, `fs2`, ... (one unless a test asks for
//! a cluster), and a real HTTP listener receiving the webhooks.
//!
//! The live simulator and the webhook listener belong to the test, not to
//! the app, so they outlive [`TestApp::crash`] and [`TestApp::restart`] the
//! way a FreeSWITCH node and a merchant's backend outlive an arsgate
//! restart.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arsgate::config::{Config, Secret, StoreConfig};
use arsgate::domain::{Merchant, MerchantSettings, Mode};
use arsgate::server::Server;
use arsgate::service::keys;
use arsgate::sim::phone::PhoneBook;
use arsgate::sim::{SimConfig, SimHandle};
use arsgate::store::Store;
use serde_json::Value;

use super::hooks::Hooks;
use super::repo;
use super::start_sim;
use super::store::TestDb;

/// How much faster than real time both simulators run.
pub const SPEED: f64 = 40.0;

/// The basic-auth user name mod_xml_curl sends to the test app.
pub const XML_CURL_USER: &str = "freeswitch";

/// The basic-auth password mod_xml_curl sends to the test app.
pub const XML_CURL_PASSWORD: &str = "xml curl test password";

/// A merchant with its keys.
pub struct TestMerchant {
    /// The merchant.
    pub merchant: Merchant,
    /// A live key.
    pub live: String,
    /// A sandbox key.
    pub test: String,
}

/// A running arsgate and everything around it.
pub struct TestApp {
    server: Option<Server>,
    /// The API's base URL (`http://127.0.0.1:PORT`).
    pub base: String,
    /// An HTTP client.
    pub http: reqwest::Client,
    /// The simulator behind the live node `fs1`.
    pub live: SimHandle,
    /// The simulators behind every live node, `fs1` first.
    pub nodes: Vec<SimHandle>,
    /// The merchant's webhook endpoint.
    pub hooks: Hooks,
    /// The store, as the app uses it.
    pub store: Arc<dyn Store>,
    /// The configuration the app runs with.
    pub config: Config,
    data: tempfile::TempDir,
    url: String,
}

/// The configuration file of a test arsgate: live nodes on the simulators
/// listening on `ports` (`fs1`, `fs2`, ...), the repository's scenarios,
/// prompts and sandbox phones, its files under `data`, quick reconnects,
/// webhook retries and shutdown, webhooks allowed to loopback (where the
/// test's endpoint listens), xml_curl on. The store and the secret are
/// left to the caller (the environment for a process: `ARSGATE_STORE__URL`,
/// `ARSGATE_SECRET`).
pub fn config_yaml(ports: &[u16], data: &Path) -> String {
    let nodes: String = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            format!(
                r#"
  - name: fs{n}
    host: 127.0.0.1
    port: {port}
    password: ClueCon
    max_channels: 1000
    cps: 1000
    dial_string: "sofia/gateway/kt/{{number}}""#,
                n = i + 1,
            )
        })
        .collect();
    format!(
        r#"
listen: 127.0.0.1:0
esl:
  reconnect: {{ initial: 50ms, max: 500ms }}
nodes:{nodes}
calls:
  scenarios_dir: {scenarios}
  prompts_dir: {sounds}
  sounds: {sounds}
  caller_id_number: "0215880000"
  recordings:
    switch_dir: /recordings
    local_dir: {live_recordings}
data_dir: {data}
sandbox:
  phones: {phones}
  speed: {SPEED}
webhooks:
  first_retry: 100ms
  max_delay: 400ms
  poll_interval: 50ms
  timeout: 2s
  # The test's webhook endpoint listens on loopback.
  allow_networks: ["127.0.0.0/8", "::1/128"]
shutdown:
  grace: 2s
xml_curl:
  enabled: true
  username: {XML_CURL_USER}
  password: {XML_CURL_PASSWORD}
"#,
        scenarios = repo("config/scenarios").display(),
        sounds = repo("sounds").display(),
        phones = repo("config/sim-phones.yaml").display(),
        live_recordings = data.join("live/recordings").display(),
        data = data.display(),
    )
}

/// The configuration of a test app on the simulators `nodes`, keeping its
/// files in `data` and its records at `url`.
fn config(nodes: &[SimHandle], data: &Path, url: &str) -> Config {
    let ports: Vec<u16> = nodes.iter().map(|sim| sim.addr().port()).collect();
    let yaml = config_yaml(&ports, data);
    let mut config = Config::from_yaml_str(&yaml, "test config", Vec::<(String, String)>::new())
        .expect("the test configuration is valid");
    config.secret = Some(Secret::new("test server secret, at least 32 bytes long"));
    config.store = StoreConfig {
        url: Some(Secret::new(url)),
        ..StoreConfig::default()
    };
    config
}

impl TestApp {
    /// Starts an app on `db` with the default test configuration.
    pub async fn start(db: &TestDb) -> TestApp {
        TestApp::start_with(db, |_| {}).await
    }

    /// Starts an app on `db`, with `tune` adjusting the configuration.
    pub async fn start_with(db: &TestDb, tune: impl FnOnce(&mut Config)) -> TestApp {
        TestApp::start_cluster(db, 1, |_, _| {}, tune).await
    }

    /// Starts an app on `db` with `count` live nodes; `tune_node` adjusts
    /// each node's simulator (by index from 0), `tune` the configuration.
    pub async fn start_cluster(
        db: &TestDb,
        count: usize,
        tune_node: impl Fn(usize, &mut SimConfig),
        tune: impl FnOnce(&mut Config),
    ) -> TestApp {
        let data = tempfile::tempdir().expect("data directory");
        let live_dir = data.path().join("live");
        let phones = PhoneBook::load(repo("config/sim-phones.yaml")).expect("phones load");
        let mut nodes = Vec::with_capacity(count);
        for index in 0..count {
            nodes.push(
                start_sim(|c| {
                    c.speed = SPEED;
                    c.dialplan_dir = Some(repo("dialplan"));
                    c.phones = phones.clone();
                    c.recordings_dir = Some(live_dir.clone());
                    c.sessions_per_second = 1000;
                    tune_node(index, c);
                })
                .await,
            );
        }
        let live = nodes[0].clone();
        let url = db.url();
        let mut config = config(&nodes, data.path(), &url);
        tune(&mut config);
        let hooks = Hooks::start().await;
        let store = db.open().await;
        let mut app = TestApp {
            server: None,
            base: String::new(),
            http: reqwest::Client::new(),
            live,
            nodes,
            hooks,
            store,
            config,
            data,
            url,
        };
        app.boot().await;
        app
    }

    async fn boot(&mut self) {
        let store = arsgate::store::open(&self.url).await.expect("store opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Server::start(&self.config, store, listener)
            .await
            .expect("arsgate starts");
        self.base = format!("http://{}", server.addr());
        // The nodes connect in the background; a test's first call should
        // find them all there (a node the test keeps down is given up on
        // after a while).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !server
            .service()
            .pool(Mode::Live)
            .nodes()
            .iter()
            .all(|node| node.is_up())
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.server = Some(server);
    }

    /// The running server.
    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("the app is running")
    }

    /// The sandbox's simulator.
    pub fn sandbox(&self) -> &SimHandle {
        self.server().sandbox().expect("the sandbox is on")
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// Stops the app as a crash would (calls abandoned mid-way).
    pub async fn crash(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort().await;
        }
    }

    /// Stops the app gracefully.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    /// Starts the app again on the same store, data and live node.
    pub async fn restart(&mut self) {
        self.crash().await;
        self.boot().await;
    }

    /// A merchant named `name` with default settings and a key of each mode.
    pub async fn merchant(&self, name: &str) -> TestMerchant {
        self.merchant_with(name, MerchantSettings::default()).await
    }

    /// A merchant with `settings` and a key of each mode.
    pub async fn merchant_with(&self, name: &str, settings: MerchantSettings) -> TestMerchant {
        let secret = format!("whsec_{name}_test_secret");
        let merchant = self
            .store
            .create_merchant(name, &secret, &settings)
            .await
            .expect("merchant created");
        let live = keys::issue(&*self.store, &merchant, Mode::Live)
            .await
            .expect("live key");
        let test = keys::issue(&*self.store, &merchant, Mode::Test)
            .await
            .expect("test key");
        self.hooks.trust(&merchant.webhook_secret);
        TestMerchant {
            merchant,
            live: live.text,
            test: test.text,
        }
    }

    /// `method path` with `key` and an optional JSON body; the status and
    /// the parsed body (`Null` if none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let response = self.request(method, path, key, body).send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    /// A request builder for `method path` with `key` and a JSON body.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request
    }

    /// `GET path`.
    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, Some(key), None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(key), Some(body))
            .await
    }

    /// Creates a verification; panics unless `201`.
    pub async fn create(&self, key: &str, body: &Value) -> Value {
        let (status, created) = self.post("/v1/verifications", key, body).await;
        assert_eq!(status, 201, "{created}");
        created
    }

    /// Polls a verification until it is finished (at most 20 s).
    pub async fn finished(&self, key: &str, id: &str) -> Value {
        self.wait_for(key, id, |v| v["status"] == "finished").await
    }

    /// Cancels verification `id` (it must be accepted); the record after.
    pub async fn cancel(&self, key: &str, id: &str) -> Value {
        let path = format!("/v1/verifications/{id}/cancel");
        let (status, view) = self
            .call(reqwest::Method::POST, &path, Some(key), None)
            .await;
        assert_eq!(status, 200, "{view}");
        view
    }

    /// Waits until the live simulator carries `count` channels.
    pub async fn live_channels(&self, count: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.live.channels() != count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the live node carries {} channels, not {count}",
                self.live.channels()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls a verification until `done` holds (at most 20 s).
    pub async fn wait_for(&self, key: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = self.get(&format!("/v1/verifications/{id}"), key).await;
            assert_eq!(status, 200, "{body}");
            if done(&body) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "verification {id} stuck: {body}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Whether a verification's timeline (as the API shows it) says a
/// restarted arsgate took its call over.
pub fn taken_over(view: &Value) -> bool {
    view["timeline"]
        .as_array()
        .is_some_and(|entries| entries.iter().any(|e| e["event"] == "taken_over"))
}
