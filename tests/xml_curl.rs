//! The dialplan served to FreeSWITCH's mod_xml_curl, over HTTP against the
//! whole app, with the form FreeSWITCH posts when it routes a call.

#[macro_use]
mod common;

use arsgate::config::XmlCurlConfig;
use arsgate::sim::dialplan::{Dialplan, HuntChannel, HuntError, PlannedAction};
use common::app::{TestApp, XML_CURL_PASSWORD, XML_CURL_USER};
use common::repo;
use common::store::TestDb;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, WWW_AUTHENTICATE};

/// What mod_xml_curl POSTs when FreeSWITCH routes an answered originate
/// into `destination` in `context`: its own five fields, then the headers
/// of the channel's REQUEST_PARAMS event in order (event, channel,
/// `Caller-*` profile, `Hunt-*` profile). Names go unencoded; values are
/// percent-encoded as `switch_url_encode` does (space as `%20`, `:` as
/// `%3A`, `/` and `,` left alone).
fn fetch_body(section: &str, context: &str, destination: &str) -> String {
    let uuid = "8a3c7f0e-1b2d-4e5f-9a6b-7c8d9e0f1a2b";
    let mut fields = vec![
        "hostname=fs1".to_owned(),
        format!("section={section}"),
        "tag_name=".to_owned(),
        "key_name=".to_owned(),
        "key_value=".to_owned(),
        "Event-Name=REQUEST_PARAMS".to_owned(),
        "Core-UUID=5e0d9b52-7a61-4c1e-8f0a-3b2c1d0e9f87".to_owned(),
        "FreeSWITCH-Hostname=fs1".to_owned(),
        "FreeSWITCH-Switchname=fs1".to_owned(),
        "FreeSWITCH-IPv4=172.18.0.3".to_owned(),
        "FreeSWITCH-IPv6=%3A%3A1".to_owned(),
        "Event-Date-Local=2026-11-29%2018%3A30%3A01".to_owned(),
        "Event-Date-GMT=Sun,%2029%20Nov%202026%2009%3A30%3A01%20GMT".to_owned(),
        "Event-Date-Timestamp=1795771801123456".to_owned(),
        "Event-Calling-File=mod_dialplan_xml.c".to_owned(),
        "Event-Calling-Function=dialplan_xml_locate".to_owned(),
        "Event-Calling-Line-Number=641".to_owned(),
        "Event-Sequence=10422".to_owned(),
        "Channel-State=CS_ROUTING".to_owned(),
        "Channel-Call-State=ACTIVE".to_owned(),
        "Channel-State-Number=2".to_owned(),
        "Channel-Name=sofia/external/01012345678".to_owned(),
        format!("Unique-ID={uuid}"),
        "Call-Direction=outbound".to_owned(),
        "Presence-Call-Direction=outbound".to_owned(),
        "Channel-HIT-Dialplan=true".to_owned(),
        format!("Channel-Call-UUID={uuid}"),
        "Answer-State=answered".to_owned(),
        "Channel-Read-Codec-Name=PCMA".to_owned(),
        "Channel-Read-Codec-Rate=8000".to_owned(),
        "Channel-Read-Codec-Bit-Rate=64000".to_owned(),
        "Channel-Write-Codec-Name=PCMA".to_owned(),
        "Channel-Write-Codec-Rate=8000".to_owned(),
        "Channel-Write-Codec-Bit-Rate=64000".to_owned(),
    ];
    for prefix in ["Caller", "Hunt"] {
        for (name, value) in [
            ("Direction", "outbound"),
            ("Logical-Direction", "outbound"),
            ("Username", ""),
            ("Dialplan", "XML"),
            ("Caller-ID-Name", "Innopay"),
            ("Caller-ID-Number", "0215880000"),
            ("Orig-Caller-ID-Name", "Innopay"),
            ("Orig-Caller-ID-Number", "0215880000"),
            ("Callee-ID-Name", "Outbound%20Call"),
            ("Callee-ID-Number", "01012345678"),
            ("Network-Addr", "203.0.113.10"),
            ("ANI", "0215880000"),
            ("Destination-Number", destination),
            ("Unique-ID", uuid),
            ("Source", "src/switch_ivr_originate.c"),
            ("Context", context),
            ("Channel-Name", "sofia/external/01012345678"),
            ("Profile-Index", "2"),
            ("Profile-Created-Time", "1795771801120012"),
            ("Channel-Created-Time", "1795771795410220"),
            ("Channel-Answered-Time", "1795771801118731"),
            ("Channel-Progress-Time", "1795771797002114"),
            ("Channel-Progress-Media-Time", "1795771797002114"),
            ("Channel-Hangup-Time", "0"),
            ("Channel-Transfer-Time", "0"),
            ("Channel-Resurrect-Time", "0"),
            ("Channel-Bridged-Time", "0"),
            ("Channel-Last-Hold", "0"),
            ("Channel-Hold-Accum", "0"),
            ("Screen-Bit", "true"),
            ("Privacy-Hide-Name", "false"),
            ("Privacy-Hide-Number", "false"),
        ] {
            fields.push(format!("{prefix}-{name}={value}"));
        }
    }
    fields.join("&")
}

/// POSTs `body` to the route as mod_xml_curl does, with basic auth as
/// `credentials` (none when `None`).
async fn fetch(
    app: &TestApp,
    credentials: Option<(&str, &str)>,
    body: String,
) -> reqwest::Response {
    let mut request = app
        .http
        .post(format!("{}/freeswitch/dialplan", app.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("User-Agent", "freeswitch-xml/1.0")
        .body(body);
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    request.send().await.unwrap()
}

/// The served text of a fetch that must succeed with `text/xml`.
async fn served(app: &TestApp, body: String) -> String {
    let response = fetch(app, Some((XML_CURL_USER, XML_CURL_PASSWORD)), body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/xml");
    response.text().await.unwrap()
}

/// An extension reduced to what FreeSWITCH acts on: its name, its
/// condition and its actions.
#[derive(Debug, PartialEq, Eq)]
struct Extension {
    name: String,
    condition: (String, String),
    actions: Vec<(String, String)>,
}

fn extensions_in(node: roxmltree::Node) -> Vec<Extension> {
    node.children()
        .filter(|n| n.has_tag_name("extension"))
        .map(|extension| {
            let condition = extension
                .children()
                .find(|n| n.has_tag_name("condition"))
                .expect("a condition");
            Extension {
                name: extension.attribute("name").unwrap().to_owned(),
                condition: (
                    condition.attribute("field").unwrap().to_owned(),
                    condition.attribute("expression").unwrap().to_owned(),
                ),
                actions: condition
                    .children()
                    .filter(|n| n.has_tag_name("action"))
                    .map(|a| {
                        let app = a.attribute("application").unwrap().to_owned();
                        (app, a.attribute("data").unwrap_or("").to_owned())
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The extensions of the committed `dialplan/arsgate/*.xml`, in file order
/// (as `arsgate.xml` includes them).
fn committed_extensions() -> Vec<Extension> {
    let mut files: Vec<_> = std::fs::read_dir(repo("dialplan/arsgate"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    let mut all = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        all.extend(extensions_in(doc.root_element()));
    }
    all
}

/// A channel routed to `destination`, as the hunter sees it.
struct Routed(String);

impl HuntChannel for Routed {
    fn profile_field(&self, name: &str) -> Option<String> {
        (name == "destination_number").then(|| self.0.clone())
    }

    fn variable(&self, name: &str) -> Option<String> {
        self.profile_field(name)
    }

    fn execute_inline(&mut self, _application: &str, _data: &str) -> bool {
        false
    }
}

fn route(dialplan: &Dialplan, destination: &str) -> Result<Vec<PlannedAction>, HuntError> {
    dialplan.hunt("arsgate", &mut Routed(destination.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeswitch_gets_the_context_the_files_hold() {
    let app = TestApp::start(&TestDb::sqlite()).await;
    let text = served(&app, fetch_body("dialplan", "arsgate", "read_code__start")).await;
    // FreeSWITCH preprocesses the reply as a file: lines holding these
    // would be dropped or run.
    for line in text.lines() {
        assert!(
            !line.contains("<include>") && !line.contains("X-PRE-PROCESS"),
            "{line}"
        );
    }
    let doc = roxmltree::Document::parse(&text).unwrap();
    let root = doc.root_element();
    assert_eq!(
        (root.tag_name().name(), root.attribute("type")),
        ("document", Some("freeswitch/xml"))
    );
    let sections: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(sections.len(), 1);
    assert_eq!(sections[0].attribute("name"), Some("dialplan"));
    let contexts: Vec<_> = sections[0].children().filter(|n| n.is_element()).collect();
    assert_eq!(contexts.len(), 1);
    assert_eq!(contexts[0].attribute("name"), Some("arsgate"));
    let served = extensions_in(contexts[0]);
    let committed = committed_extensions();
    assert!(committed.len() >= 6, "every scenario has extensions");
    assert_eq!(served, committed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_dialplan_routes_calls_in_the_simulator_as_the_files_do() {
    let app = TestApp::start(&TestDb::sqlite()).await;
    let text = served(&app, fetch_body("dialplan", "arsgate", "enter_pin__start")).await;
    let live = Dialplan::parse_str(&text, "mod_xml_curl reply").expect("the simulator loads it");
    let files = Dialplan::load_dir(&repo("dialplan")).unwrap();
    assert!(live.has_context("arsgate"));
    for extension in committed_extensions() {
        let actions = route(&live, &extension.name).expect("routed");
        assert!(!actions.is_empty(), "{}", extension.name);
        assert!(actions.iter().all(|a| a.extension == extension.name));
        assert_eq!(actions, route(&files, &extension.name).unwrap());
    }
    assert!(matches!(
        route(&live, "no_such__start"),
        Err(HuntError::NoRoute)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_required() {
    let app = TestApp::start(&TestDb::sqlite()).await;
    let body = || fetch_body("dialplan", "arsgate", "read_code__start");
    for credentials in [
        None,
        Some((XML_CURL_USER, "wrong password")),
        Some(("someone", XML_CURL_PASSWORD)),
        Some((XML_CURL_USER, "")),
    ] {
        let response = fetch(&app, credentials, body()).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{credentials:?}"
        );
        let challenge = response.headers()[WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Basic realm="), "{challenge}");
        let text = response.text().await.unwrap();
        assert!(!text.contains("<extension"), "{text}");
    }
    // An API key is not a way in either.
    let merchant = app.merchant("m").await;
    let response = app
        .http
        .post(format!("{}/freeswitch/dialplan", app.base))
        .bearer_auth(&merchant.live)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_contexts_and_sections_are_not_found_so_freeswitch_uses_its_files() {
    let app = TestApp::start(&TestDb::sqlite()).await;
    for body in [
        fetch_body("dialplan", "default", "1000"),
        fetch_body("dialplan", "public", "read_code__start"),
        fetch_body("directory", "arsgate", "read_code__start"),
        "hostname=fs1&section=dialplan&tag_name=&key_name=&key_value=".to_owned(),
    ] {
        let text = served(&app, body.clone()).await;
        let doc = roxmltree::Document::parse(&text).unwrap();
        let result = doc
            .descendants()
            .find(|n| n.has_tag_name("result"))
            .unwrap_or_else(|| panic!("no result in {text}"));
        assert_eq!(result.attribute("status"), Some("not found"), "{body}");
        assert_eq!(
            result.parent().unwrap().attribute("name"),
            Some("result"),
            "{text}"
        );
        assert!(!text.contains("<extension"));
    }
    // Contexts are found regardless of case, as FreeSWITCH finds them.
    let text = served(&app, fetch_body("dialplan", "ARSGATE", "read_code__start")).await;
    assert!(text.contains("<context name=\"arsgate\">"));
    // Not a mod_xml_curl form at all.
    let response = fetch(
        &app,
        Some((XML_CURL_USER, XML_CURL_PASSWORD)),
        "Hunt-Context=arsgate".to_owned(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

/// What mod_xml_curl POSTs for `fs_cli -x "xml_locate dialplan [context
/// name <value>]"`: its own five fields (`tag_name`, `key_name`,
/// `key_value` from the command), then the REQUEST_PARAMS event that
/// `xml_locate_function` (mod_commands.c) fills with `section` and, with
/// four arguments, `tag`, `tag_attr_name` and `tag_attr_val`: `section`
/// comes twice.
fn xml_locate_body(context: Option<&str>) -> String {
    let (tag, key, value) = match context {
        Some(name) => ("context", "name", name),
        None => ("", "", ""),
    };
    let mut fields = vec![
        "hostname=fs1".to_owned(),
        "section=dialplan".to_owned(),
        format!("tag_name={tag}"),
        format!("key_name={key}"),
        format!("key_value={value}"),
        "Event-Name=REQUEST_PARAMS".to_owned(),
        "Core-UUID=5e0d9b52-7a61-4c1e-8f0a-3b2c1d0e9f87".to_owned(),
        "FreeSWITCH-Hostname=fs1".to_owned(),
        "FreeSWITCH-Switchname=fs1".to_owned(),
        "FreeSWITCH-IPv4=172.18.0.3".to_owned(),
        "FreeSWITCH-IPv6=%3A%3A1".to_owned(),
        "Event-Date-Local=2026-11-29%2018%3A30%3A01".to_owned(),
        "Event-Date-GMT=Sun,%2029%20Nov%202026%2009%3A30%3A01%20GMT".to_owned(),
        "Event-Date-Timestamp=1795771801123456".to_owned(),
        "Event-Calling-File=mod_commands.c".to_owned(),
        "Event-Calling-Function=xml_locate_function".to_owned(),
        "Event-Calling-Line-Number=2740".to_owned(),
        "Event-Sequence=10430".to_owned(),
        "section=dialplan".to_owned(),
    ];
    if context.is_some() {
        fields.push(format!("tag={tag}"));
        fields.push(format!("tag_attr_name={key}"));
        fields.push(format!("tag_attr_val={value}"));
    }
    fields.join("&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_locate_posts_section_twice_and_is_answered() {
    let app = TestApp::start(&TestDb::sqlite()).await;
    // No context named: FreeSWITCH is sent on to its own files.
    let text = served(&app, xml_locate_body(None)).await;
    assert!(text.contains("<result status=\"not found\"/>"), "{text}");
    // `xml_locate dialplan context name arsgate` shows arsgate's context.
    let text = served(&app, xml_locate_body(Some("arsgate"))).await;
    assert!(text.contains("<context name=\"arsgate\">"), "{text}");
    let text = served(&app, xml_locate_body(Some("default"))).await;
    assert!(text.contains("<result status=\"not found\"/>"), "{text}");
    // The first value is mod_xml_curl's own and wins over the event's.
    let body = fetch_body("directory", "arsgate", "read_code__start") + "&section=dialplan";
    let text = served(&app, body).await;
    assert!(text.contains("<result status=\"not found\"/>"), "{text}");
    let body = fetch_body("dialplan", "arsgate", "read_code__start") + "&section=directory";
    let text = served(&app, body).await;
    assert!(text.contains("<context name=\"arsgate\">"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dialplan_is_the_one_loaded_at_start() {
    let scenarios = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo("config/scenarios")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, scenarios.path().join(path.file_name().unwrap())).unwrap();
    }
    let dir = scenarios.path().to_owned();
    let app = TestApp::start_with(&TestDb::sqlite(), |c| c.calls.scenarios_dir = dir).await;
    let before = served(&app, fetch_body("dialplan", "arsgate", "read_code__start")).await;
    std::fs::remove_file(scenarios.path().join("read_code.yaml")).unwrap();
    let after = served(&app, fetch_body("dialplan", "arsgate", "read_code__start")).await;
    assert_eq!(before, after);
    assert!(after.contains("<extension name=\"read_code__start\">"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_is_off_unless_enabled() {
    let app = TestApp::start_with(&TestDb::sqlite(), |c| {
        c.xml_curl = XmlCurlConfig::default();
    })
    .await;
    let body = fetch_body("dialplan", "arsgate", "read_code__start");
    let response = fetch(&app, Some((XML_CURL_USER, XML_CURL_PASSWORD)), body).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
