//! The files the repository ships load as their consumers will load them.

mod common;

use std::path::PathBuf;

use arsgate::config::Config;
use arsgate::sim::dialplan::Dialplan;
use arsgate::sim::phone::PhoneBook;
use common::repo;
use serde_json::Value;

#[test]
fn the_example_configuration_loads() {
    let config =
        Config::load(repo("config/arsgate.yaml"), Vec::<(String, String)>::new()).expect("loads");
    assert!(!config.nodes.is_empty());
}

#[test]
fn the_cluster_example_is_three_nodes_and_two_replicas_on_postgresql() {
    // Each replica's environment, as the file's header lists it.
    let env = [
        ("ARSGATE_SECRET", "0123456789abcdef0123456789abcdef"),
        (
            "ARSGATE_STORE__URL",
            "postgres://arsgate:pw@db.internal:5432/arsgate?sslmode=verify-full&sslrootcert=/etc/arsgate/db-ca.pem",
        ),
        ("ARSGATE_ADMIN__TOKEN", "an operators' token, long enough"),
        ("ARSGATE_XML_CURL__PASSWORD", "xml curl password"),
        ("ARSGATE_NODES__FS1__PASSWORD", "one"),
        ("ARSGATE_NODES__FS2__PASSWORD", "two"),
        ("ARSGATE_NODES__FS3__PASSWORD", "three"),
    ]
    .map(|(name, value)| (name.to_owned(), value.to_owned()));
    let config = Config::load(repo("config/cluster.yaml"), env).expect("loads");
    let names: Vec<&str> = config.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["fs1", "fs2", "fs3"]);
    for (node, password) in config.nodes.iter().zip(["one", "two", "three"]) {
        assert_eq!(node.password.expose(), password, "{}", node.name);
    }
    // Replicas share what they enforce through PostgreSQL, over TLS that
    // checks the server.
    let url = config
        .store
        .url
        .as_ref()
        .expect("a store URL")
        .expose()
        .to_owned();
    let (_, tls) = arsgate::store::tls::TlsSettings::split(&url).expect("a valid URL");
    assert!(url.starts_with("postgres://"));
    assert_eq!(tls.mode, arsgate::store::tls::SslMode::VerifyFull);
    assert!(config.store.startup_wait >= std::time::Duration::from_secs(60));
    assert!(
        config.listen.ip().is_unspecified(),
        "the load balancer reaches it"
    );
    assert!(config.admin.token.is_some());
    assert!(config.xml_curl.enabled && config.xml_curl.password.is_some());
    assert_eq!(
        config.calls.recordings.switch_dir, config.calls.recordings.local_dir,
        "one shared recordings folder"
    );
    // Without the environment the placeholders would be the passwords:
    // they say where the real ones come from.
    let text = std::fs::read_to_string(repo("config/cluster.yaml")).unwrap();
    for var in [
        "ARSGATE_SECRET",
        "ARSGATE_STORE__URL",
        "ARSGATE_ADMIN__TOKEN",
        "ARSGATE_XML_CURL__PASSWORD",
        "ARSGATE_NODES__FS1__PASSWORD",
    ] {
        assert!(text.contains(var), "the header names {var}");
    }
}

#[test]
fn the_systemd_unit_is_hardened_and_verifies() {
    let unit = std::fs::read_to_string(repo("dist/systemd/arsgate.service")).unwrap();
    let settings: Vec<(&str, &str)> = unit
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .collect();
    let value = |key: &str| {
        settings
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no {key}="))
    };
    for (key, expected) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("DynamicUser", "yes"),
        ("CapabilityBoundingSet", ""),
        ("StateDirectory", "arsgate"),
        ("ReadWritePaths", "/var/lib/arsgate"),
        ("KillSignal", "SIGTERM"),
    ] {
        assert_eq!(value(key), expected, "{key}");
    }
    assert!(value("ExecStart").ends_with(" serve --config /etc/arsgate/arsgate.yaml"));
    // Live calls get shutdown.grace (30 s by default) after SIGTERM.
    let stop: std::time::Duration = humantime::parse_duration(value("TimeoutStopSec")).unwrap();
    assert!(stop > std::time::Duration::from_secs(30));

    // systemd's own check, where systemd is installed, on a copy that
    // starts the binary under test (verify wants an executable there).
    let Ok(analyze) = which("systemd-analyze") else {
        eprintln!("systemd-analyze is not installed: the unit's own check is skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("arsgate.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/arsgate", env!("CARGO_BIN_EXE_arsgate")),
    )
    .unwrap();
    let output = std::process::Command::new(analyze)
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The path of `program` on `PATH`.
fn which(program: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .ok_or(())
}

#[test]
fn the_sandbox_phone_book_loads() {
    PhoneBook::load(repo("config/sim-phones.yaml")).expect("loads");
}

#[test]
fn the_dialplan_directory_loads_in_the_simulator() {
    Dialplan::load_dir(&repo("dialplan")).expect("loads");
}

#[test]
fn freeswitch_configuration_files_are_well_formed_xml() {
    let mut checked = 0;
    let mut dirs = vec![repo("docker")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "xml") {
                let text = std::fs::read_to_string(&path).unwrap();
                roxmltree::Document::parse(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                checked += 1;
            }
        }
    }
    assert!(checked >= 5, "docker/ ships FreeSWITCH configuration");
}

/// A YAML file of the repository as JSON.
fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(repo(path)).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The compose file's services.
fn services() -> serde_json::Map<String, Value> {
    yaml("docker/docker-compose.yml")["services"]
        .as_object()
        .expect("services")
        .clone()
}

/// A service's volume entries as (source, target).
fn mounts(service: &Value) -> Vec<(String, String)> {
    service["volumes"]
        .as_array()
        .map(|volumes| {
            volumes
                .iter()
                .map(|v| {
                    let mut parts = v.as_str().expect("short volume syntax").split(':');
                    let source = parts.next().unwrap().to_owned();
                    let target = parts.next().expect("a target").to_owned();
                    (source, target)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Where `service` mounts the repository path `docker/<relative>`
/// (relative to the compose file, as compose resolves it).
fn target_of(service: &str, relative: &str) -> String {
    mounts(&services()[service])
        .into_iter()
        .find(|(source, _)| source == relative)
        .unwrap_or_else(|| panic!("{service} does not mount {relative}"))
        .1
}

/// The FreeSWITCH configuration file `docker/freeswitch/<path>`.
fn freeswitch_xml(path: &str) -> String {
    std::fs::read_to_string(repo("docker/freeswitch").join(path)).unwrap()
}

/// The value of `<param name="name" value="..."/>` in `xml`.
fn param(xml: &str, name: &str) -> String {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants()
        .find(|n| n.has_tag_name("param") && n.attribute("name") == Some(name))
        .and_then(|n| n.attribute("value"))
        .unwrap_or_else(|| panic!("no param {name}"))
        .to_owned()
}

/// `docker/arsgate.yaml` as arsgate loads it in the stack.
fn docker_config() -> Config {
    let compose = services();
    let env: Vec<(String, String)> = compose["arsgate"]["environment"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| name.starts_with("ARSGATE_"))
        .map(|(name, value)| {
            // Compose interpolates these from the shell: a secret, and the
            // default PostgreSQL password.
            let value = match name.as_str() {
                "ARSGATE_SECRET" => "0123456789abcdef0123456789abcdef".to_owned(),
                _ => value
                    .as_str()
                    .unwrap()
                    .replace("${POSTGRES_PASSWORD:-arsgate}", "arsgate"),
            };
            (name.clone(), value)
        })
        .collect();
    assert_eq!(env.len(), 2, "ARSGATE_SECRET and ARSGATE_STORE__URL");
    Config::load(repo("docker/arsgate.yaml"), env).expect("docker/arsgate.yaml loads")
}

#[test]
fn the_compose_file_mounts_and_builds_only_what_the_repository_has() {
    let compose = yaml("docker/docker-compose.yml");
    let services = services();
    for name in ["freeswitch", "postgres", "arsgate", "prometheus", "grafana"] {
        assert!(services.contains_key(name), "service {name}");
    }
    let docker = repo("docker");
    let declared = compose["volumes"].as_object().expect("named volumes");
    let mut checked = 0;
    for (name, service) in &services {
        for (source, _) in mounts(service) {
            if source.starts_with('.') || source.starts_with('/') {
                let path: PathBuf = docker.join(&source);
                assert!(
                    path.exists(),
                    "{name} mounts {source}, which does not exist"
                );
                checked += 1;
            } else {
                assert!(declared.contains_key(&source), "{name}: volume {source}");
            }
        }
        if let Some(build) = service.get("build") {
            let context = docker.join(build["context"].as_str().unwrap());
            assert!(
                context.join("Cargo.toml").is_file(),
                "{name} builds the repository"
            );
            let dockerfile = context.join(build["dockerfile"].as_str().unwrap());
            assert!(dockerfile.is_file(), "{}", dockerfile.display());
            checked += 1;
        }
    }
    assert!(checked >= 8, "{checked} host paths");
    let entrypoint = services["freeswitch"]["entrypoint"][0].as_str().unwrap();
    let mounted = target_of("freeswitch", "./freeswitch");
    let script = entrypoint.strip_prefix(&format!("{mounted}/")).unwrap();
    assert!(repo("docker/freeswitch").join(script).is_file());
}

#[test]
fn the_docker_configuration_loads_and_agrees_with_the_stack() {
    let config = docker_config();
    let services = services();
    assert_eq!(
        target_of("arsgate", "./arsgate.yaml"),
        "/app/config/arsgate.yaml",
        "where the image's `serve` reads its configuration"
    );
    assert!(config.secret.is_some());
    let url = config
        .store
        .url
        .as_ref()
        .expect("the store from the environment");
    assert!(
        url.expose()
            .starts_with("postgres://arsgate:arsgate@postgres:5432/")
    );
    assert_eq!(config.listen.port(), 8080);
    assert!(config.listen.ip().is_unspecified());
    // FreeSWITCH runs on the host's network, which arsgate reaches by the
    // name compose maps to the host.
    let node = &config.nodes[0];
    assert_eq!(services["freeswitch"]["network_mode"], "host");
    assert!(
        services["freeswitch"].get("ports").is_none(),
        "host networking publishes nothing"
    );
    assert_eq!(node.host, "host.docker.internal");
    assert!(
        services["arsgate"]["extra_hosts"]
            .as_array()
            .unwrap()
            .contains(&Value::from("host.docker.internal:host-gateway"))
    );
    let socket = freeswitch_xml("autoload_configs/event_socket.conf.xml");
    assert_eq!(param(&socket, "password"), node.password.expose());
    assert_eq!(param(&socket, "listen-port"), node.port.to_string());
    // The dial string's gateway is the sample carrier's.
    let carrier = freeswitch_xml("sip_profiles/external/carrier.xml");
    let doc = roxmltree::Document::parse(&carrier).unwrap();
    let gateway = doc
        .descendants()
        .find(|n| n.has_tag_name("gateway"))
        .and_then(|n| n.attribute("name"))
        .unwrap();
    assert_eq!(
        node.dial_string.render("N"),
        format!("sofia/gateway/{gateway}/N")
    );
    // FreeSWITCH finds the prompts where arsgate tells it they are, and
    // both see the same recordings.
    assert_eq!(target_of("freeswitch", "../sounds"), config.calls.sounds);
    assert_eq!(
        target_of("freeswitch", "recordings"),
        config.calls.recordings.switch_dir
    );
    assert_eq!(
        PathBuf::from(target_of("arsgate", "recordings")),
        config.calls.recordings.local_dir
    );
}

#[test]
fn freeswitch_fetches_its_dialplan_from_arsgate() {
    let config = docker_config();
    let xml_curl = freeswitch_xml("autoload_configs/xml_curl.conf.xml");
    let doc = roxmltree::Document::parse(&xml_curl).unwrap();
    let url = doc
        .descendants()
        .find(|n| n.attribute("name") == Some("gateway-url"))
        .unwrap();
    assert_eq!(url.attribute("bindings"), Some("dialplan"));
    // FreeSWITCH, on the host's network, reaches arsgate's published port.
    let published = format!("{0}:{0}", config.listen.port());
    assert!(
        services()["arsgate"]["ports"]
            .as_array()
            .unwrap()
            .contains(&Value::from(published.as_str())),
        "arsgate publishes {published}"
    );
    assert_eq!(
        url.attribute("value"),
        Some(
            format!(
                "http://127.0.0.1:{}/freeswitch/dialplan",
                config.listen.port()
            )
            .as_str()
        )
    );
    assert!(config.xml_curl.enabled);
    let password = config.xml_curl.password.as_ref().unwrap().expose();
    assert_eq!(
        param(&xml_curl, "gateway-credentials"),
        format!("{}:{password}", config.xml_curl.username)
    );
    assert_eq!(param(&xml_curl, "auth-scheme"), "basic");
    let modules = freeswitch_xml("autoload_configs/modules.conf.xml");
    let doc = roxmltree::Document::parse(&modules).unwrap();
    let loaded: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("load"))
        .filter_map(|n| n.attribute("module"))
        .collect();
    for module in [
        "mod_xml_curl",
        "mod_event_socket",
        "mod_sofia",
        "mod_dialplan_xml",
    ] {
        assert!(loaded.contains(&module), "{module} is loaded");
    }
    let position = |m: &str| loaded.iter().position(|l| *l == m).unwrap();
    assert!(position("mod_xml_curl") < position("mod_sofia"));
    // Every module arsgate checks the node for at its connection.
    let needs = arsgate::switch::Needs {
        xml_curl: config.xml_curl.enabled,
        tts_engine: Some(config.calls.tts.engine.clone()),
    };
    for module in needs.of_node(config.nodes[0].dial_string.as_str()) {
        assert!(loaded.contains(&module.as_str()), "{module} is loaded");
    }
}

#[test]
fn every_image_is_pinned_to_a_version() {
    let pinned = |image: &str| {
        let (_, tag) = image.rsplit_once(':').unwrap_or((image, ""));
        !tag.is_empty() && tag != "latest" && tag.chars().any(|c| c.is_ascii_digit())
    };
    for (name, service) in services() {
        let image = service["image"].as_str().unwrap_or_default();
        if service.get("build").is_none() {
            assert!(pinned(image), "{name}: {image:?} is not pinned");
        }
    }
    let dockerfile = std::fs::read_to_string(repo("docker/Dockerfile")).unwrap();
    let bases: Vec<&str> = dockerfile
        .lines()
        .filter_map(|line| line.strip_prefix("FROM "))
        .map(|from| from.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(bases.len(), 2, "a build and a run stage");
    for base in bases {
        assert!(pinned(base), "docker/Dockerfile: {base:?} is not pinned");
    }
}

#[test]
fn prometheus_scrapes_arsgate_and_grafana_reads_prometheus() {
    let prometheus = yaml("docker/prometheus/prometheus.yml");
    let jobs = prometheus["scrape_configs"].as_array().unwrap();
    let arsgate = jobs.iter().find(|j| j["job_name"] == "arsgate").unwrap();
    assert_eq!(arsgate["metrics_path"], "/metrics");
    let targets = &arsgate["static_configs"][0]["targets"];
    assert_eq!(targets[0], "arsgate:8080");
    // Every rule file is in the folder compose mounts, and is YAML.
    let rules_target = target_of("prometheus", "./prometheus/rules");
    for file in prometheus["rule_files"].as_array().unwrap() {
        let inside = file.as_str().unwrap();
        let relative = inside
            .strip_prefix(&format!("{rules_target}/"))
            .unwrap_or_else(|| panic!("{inside} is not under {rules_target}"));
        let rules = yaml(&format!("docker/prometheus/rules/{relative}"));
        assert!(rules["groups"].is_array());
    }
    let datasources = yaml("docker/grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(
        datasources["datasources"][0]["url"],
        "http://prometheus:9090"
    );
    let provider = yaml("docker/grafana/provisioning/dashboards/provider.yml");
    assert_eq!(
        provider["providers"][0]["options"]["path"]
            .as_str()
            .unwrap(),
        target_of("grafana", "./grafana/dashboards")
    );
    assert_eq!(
        target_of("grafana", "./grafana/provisioning"),
        "/etc/grafana/provisioning"
    );
}
