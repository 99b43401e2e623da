//! Simulator-side helpers for client tests: a relay in front of a simulator
//! that counts connections and can be pointed at another simulator, to
//! observe retries and to change what a reconnecting client finds.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP relay on a free port; every accepted connection is piped to the
/// current target. Stops when dropped (piped connections live on until
/// either end closes).
pub struct Relay {
    addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Starts relaying to `target`.
    pub async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay address");
        let target = Arc::new(Mutex::new(target));
        let accepted = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let (target, accepted) = (Arc::clone(&target), Arc::clone(&accepted));
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let to = *target.lock().unwrap();
                    tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(to).await {
                            let _ = copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                }
            }
        });
        Relay {
            addr,
            target,
            accepted,
            task,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends later connections to `target`.
    pub fn retarget(&self, target: SocketAddr) {
        *self.target.lock().unwrap() = target;
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
