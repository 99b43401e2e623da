//! The files the repository ships load as their consumers will load them.

use std::path::Path;

use arsgate::config::Config;
use arsgate::sim::dialplan::Dialplan;
use arsgate::sim::phone::PhoneBook;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn the_example_configuration_loads() {
    let config =
        Config::load(repo("config/arsgate.yaml"), Vec::<(String, String)>::new()).expect("loads");
    assert!(!config.nodes.is_empty());
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
    assert!(checked >= 1, "docker/ ships FreeSWITCH configuration");
}
