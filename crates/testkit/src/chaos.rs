//! A TCP proxy for fault tests: forwards to a target until told to cut every open
//! connection and refuse new ones, then to let traffic through again; or to turn into a
//! black hole (connections stay open, nothing goes through), as a network partition does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy; stops when dropped.
pub struct ChaosProxy {
    /// The port clients connect to.
    pub port: u16,
    blocked: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    frozen: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ChaosProxy {
    /// Forwards 127.0.0.1:`port` → 127.0.0.1:`target_port`.
    pub async fn start(target_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let blocked = Arc::new(AtomicBool::new(false));
        let (cut, _) = watch::channel(0u64);
        let (frozen, _) = watch::channel(false);
        let (flag, cuts, freezes) = (blocked.clone(), cut.clone(), frozen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cut_rx = cuts.subscribe();
                let mut frozen_rx = freezes.subscribe();
                tokio::spawn(async move {
                    if *frozen_rx.borrow_and_update() {
                        // A black hole: hold the connection, answer nothing, until cut.
                        let _ = cut_rx.changed().await;
                        return;
                    }
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target_port)).await
                    else {
                        return;
                    };
                    let froze = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => false,
                        _ = cut_rx.changed() => false,
                        frozen = frozen_rx.wait_for(|f| *f) => frozen.is_ok(),
                    };
                    if froze {
                        let _ = cut_rx.changed().await;
                    }
                });
            }
        });
        Self {
            port,
            blocked,
            cut,
            frozen,
            task,
        }
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut_and_block(&self) {
        self.blocked.store(true, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.blocked.store(false, Ordering::SeqCst);
    }

    /// Forwards nothing more: open connections stay open and silent, new ones are accepted
    /// and never answered (a network partition, not a refusal).
    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    /// Ends a [`ChaosProxy::freeze`]: the silent connections are dropped (as their TCP
    /// timeouts would), new ones go through.
    pub fn thaw(&self) {
        self.frozen.send_replace(false);
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
