//! Whether the database answers, known without asking it on the request path: a monitor
//! pings PostgreSQL on a connection of its own, twice a second while it answers and four
//! times a second while it does not, and callers that saw a query fail for want of the
//! database ask it to look again at once. A refused or broken connection makes the state
//! down at once; a database that stops answering, after two pings of a second each. The control plane answers 503 at once while the
//! state is down instead of letting each request wait for a pool connection.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::Connection as _;
use tokio::sync::{Notify, watch};

use crate::{Backend, Store};

/// How often the monitor pings while the database answers.
const CHECK_WHILE_UP: Duration = Duration::from_millis(500);
/// How often it tries again while the database does not answer.
const CHECK_WHILE_DOWN: Duration = Duration::from_millis(250);
/// A ping (connect included) slower than this counts as no answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// Unanswered pings in a row that make the state down (a refused or broken connection
/// does at once): one slow answer on a loaded machine is not an outage.
const TIMEOUTS_FOR_DOWN: u32 = 2;

/// The database's health as last seen; shared by every clone of a [`Store`].
#[derive(Debug)]
pub struct DbHealth {
    up: watch::Sender<bool>,
    check_now: Notify,
    /// Why it is down, and since when.
    outage: Mutex<Option<(String, Instant)>>,
}

impl Default for DbHealth {
    fn default() -> Self {
        Self {
            up: watch::channel(true).0,
            check_now: Notify::new(),
            outage: Mutex::new(None),
        }
    }
}

impl DbHealth {
    /// Whether the database answered the last check.
    pub fn is_up(&self) -> bool {
        *self.up.borrow()
    }

    /// Follows the state: `true` while up.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.up.subscribe()
    }

    /// Why the database is down (the last error), while it is.
    pub fn outage(&self) -> Option<String> {
        self.outage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|(why, _)| why.clone())
    }

    /// A query failed for want of the database: check now rather than at the next tick.
    pub fn report_unavailable(&self) {
        self.check_now.notify_one();
    }

    /// Resolves once the state is down (at once if it is).
    pub async fn down(&self) {
        let mut rx = self.up.subscribe();
        let _ = rx.wait_for(|up| !*up).await;
    }

    fn set_down(&self, why: String) {
        let mut outage = self
            .outage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if outage.is_none() {
            tracing::warn!(error = %why, "database unreachable; answering 503 until it is back");
        }
        let since = outage.as_ref().map_or_else(Instant::now, |(_, at)| *at);
        *outage = Some((why, since));
        drop(outage);
        self.up.send_if_modified(|up| std::mem::replace(up, false));
    }

    fn set_up(&self) {
        let ended = self
            .outage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some((_, since)) = ended {
            tracing::info!(
                down_ms = since.elapsed().as_millis() as u64,
                "database reachable again"
            );
        }
        self.up.send_if_modified(|up| !std::mem::replace(up, true));
    }
}

impl Store {
    /// The database's health state.
    pub fn health(&self) -> &DbHealth {
        &self.health
    }

    /// Keeps [`Store::health`] current until dropped (PostgreSQL; SQLite is a file this
    /// process opens, so it returns at once and the state stays up). Spawn it beside the
    /// server and cancel it on shutdown.
    pub async fn monitor_health(&self) {
        if self.backend != Backend::Postgres {
            return;
        }
        let mut connection: Option<sqlx::AnyConnection> = None;
        let mut timeouts = 0;
        loop {
            let checked = tokio::time::timeout(CHECK_TIMEOUT, async {
                if connection.is_none() {
                    connection = Some(sqlx::AnyConnection::connect(&self.url).await?);
                }
                match connection.as_mut() {
                    Some(c) => c.ping().await,
                    None => Ok(()),
                }
            })
            .await;
            match checked {
                Ok(Ok(())) => {
                    timeouts = 0;
                    self.health.set_up();
                }
                Ok(Err(error)) => {
                    connection = None;
                    self.health.set_down(error.to_string());
                }
                Err(_) => {
                    connection = None;
                    timeouts += 1;
                    if timeouts < TIMEOUTS_FOR_DOWN {
                        // Look again at once, on a new connection.
                        continue;
                    }
                    self.health.set_down(format!(
                        "no answer within {} ms, {TIMEOUTS_FOR_DOWN} times in a row",
                        CHECK_TIMEOUT.as_millis()
                    ));
                }
            }
            let pause = if self.health.is_up() {
                CHECK_WHILE_UP
            } else {
                CHECK_WHILE_DOWN
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = self.health.check_now.notified() => {}
            }
        }
    }
}
