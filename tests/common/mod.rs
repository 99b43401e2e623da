//! The harness every integration test shares: recorded FreeSWITCH sessions,
//! a raw protocol peer, helpers to start the simulator on a free port,
//! fresh stores, and the whole app with a webhook endpoint.
#![allow(dead_code)] // each test binary uses its own part of the harness

/// Instantiates each test `f(&TestDb)` once per store backend, as
/// `sqlite::f` and `postgres::f` (the test file imports `TestDb`).
#[allow(unused_macros)]
macro_rules! on_every_store {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    crate::$test(&crate::TestDb::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    crate::$test(&crate::TestDb::postgres().await).await;
                }
            )*
        }
    };
}

pub mod app;
pub mod capture;
pub mod hooks;
pub mod private_pg;
pub mod raw;
pub mod serve;
pub mod sim;
pub mod store;

use arsgate::sim::{SimConfig, SimHandle, Simulator};

/// A path in the repository (the tests may run from anywhere).
pub fn repo(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Polls `check` every 10 ms until it holds; fails the test, naming
/// `what`, after ten seconds.
pub async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..1000 {
        if check() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("never: {what}");
}

/// Starts a simulator on a free port with test defaults adjusted by `tune`.
pub async fn start_sim(tune: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut config = SimConfig::for_tests();
    tune(&mut config);
    Simulator::start(config).await.expect("simulator starts")
}
