//! `Mcp-Session-Id` sessions of the MCP servers this gateway serves itself (a proxied
//! server keeps its own): made by `initialize`, bound to the MCP server and the application
//! that made them, ended by `DELETE` or after an hour unused. Kept in this gateway's memory
//! (a client must reach the same gateway for a session's life); the MCP path alone takes
//! the lock, never a REST request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A session unused this long is gone.
const IDLE: Duration = Duration::from_secs(3600);

/// At most this many sessions are held; beyond, the least recently used one is dropped.
const CAPACITY: usize = 100_000;

/// Who a session belongs to.
struct Session {
    api_id: Arc<str>,
    /// The application that made it (`""` for an anonymous caller).
    owner: Arc<str>,
    last_used: Instant,
}

/// What a request's session id says.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A live session of this server and caller.
    Live,
    /// No such session (never made, ended, expired, or another caller's or server's).
    Unknown,
}

/// The sessions of one gateway.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<Box<str>, Session>>,
}

impl Sessions {
    /// A new session of `api_id` for `owner`; its id (128 random bits, hex).
    pub fn open(&self, api_id: &Arc<str>, owner: &Arc<str>) -> Option<String> {
        let mut random = [0u8; 16];
        aws_lc_rs::rand::fill(&mut random).ok()?;
        let id: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.len() >= CAPACITY {
            live.retain(|_, s| now.duration_since(s.last_used) < IDLE);
            if live.len() >= CAPACITY
                && let Some(oldest) = live
                    .iter()
                    .min_by_key(|(_, s)| s.last_used)
                    .map(|(k, _)| k.clone())
            {
                live.remove(&oldest);
            }
        }
        live.insert(
            id.as_str().into(),
            Session {
                api_id: api_id.clone(),
                owner: owner.clone(),
                last_used: now,
            },
        );
        Some(id)
    }

    /// Whether `id` is a live session of `api_id` for `owner` (and marks it used).
    pub fn touch(&self, id: &str, api_id: &str, owner: &str) -> Lookup {
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        match live.get_mut(id) {
            Some(s) if now.duration_since(s.last_used) >= IDLE => {
                live.remove(id);
                Lookup::Unknown
            }
            Some(s) if &*s.api_id == api_id && &*s.owner == owner => {
                s.last_used = now;
                Lookup::Live
            }
            _ => Lookup::Unknown,
        }
    }

    /// Ends `id` if it is `owner`'s session of `api_id`; whether it was.
    pub fn end(&self, id: &str, api_id: &str, owner: &str) -> bool {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let mine = live
            .get(id)
            .is_some_and(|s| &*s.api_id == api_id && &*s.owner == owner);
        if mine {
            live.remove(id);
        }
        mine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_belong_to_one_server_and_caller_until_ended() {
        let sessions = Sessions::default();
        let (api, app): (Arc<str>, Arc<str>) = (Arc::from("api-1"), Arc::from("app-1"));
        let id = sessions.open(&api, &app).unwrap();
        assert_eq!(id.len(), 32);
        assert_eq!(sessions.touch(&id, "api-1", "app-1"), Lookup::Live);
        assert_eq!(sessions.touch(&id, "api-1", "app-2"), Lookup::Unknown);
        assert_eq!(sessions.touch(&id, "api-2", "app-1"), Lookup::Unknown);
        assert!(!sessions.end(&id, "api-1", "app-2"));
        assert!(sessions.end(&id, "api-1", "app-1"));
        assert_eq!(sessions.touch(&id, "api-1", "app-1"), Lookup::Unknown);
        assert_ne!(sessions.open(&api, &app).unwrap(), id);
    }
}
