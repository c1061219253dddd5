//! The citizen's Logout keys (`--ui html`): an unguessable handle per
//! accepted result with a `session_url`, which the Logout form posts
//! instead of the token or the URL.
//!
//! Kept apart from the journal on purpose: a flood of garbage results
//! (no keys needed) pushes entries out of the journal, and must not end a
//! citizen's ability to log out. A key is valid until the result's `exp`
//! plus the leeway whatever else arrives, and works once. Only accepted
//! results create keys; at most `CAP` are kept (when full, expired keys
//! go first, then the one expiring soonest, and among equals the oldest).

use std::collections::{BTreeSet, HashMap};

/// What a key unlocks: the journal entry it came from and where to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub for_event: u64,
    pub session_url: String,
}

pub struct LogoutKeys {
    keys: HashMap<String, (Session, u64, u64)>,
    /// (valid until, arrival, key): the eviction order.
    order: BTreeSet<(u64, u64, String)>,
    arrivals: u64,
    cap: usize,
}

impl LogoutKeys {
    pub const CAP: usize = 10_000;

    pub fn new(cap: usize) -> Self {
        LogoutKeys {
            keys: HashMap::new(),
            order: BTreeSet::new(),
            arrivals: 0,
            cap: cap.max(1),
        }
    }

    /// Keeps `key` for `session` until `until` (Unix seconds).
    pub fn insert(&mut self, key: String, session: Session, until: u64, now: u64) {
        while self.keys.len() >= self.cap || self.order.first().is_some_and(|(t, _, _)| *t <= now) {
            let Some((_, _, k)) = self.order.pop_first() else {
                break;
            };
            self.keys.remove(&k);
        }
        self.arrivals += 1;
        self.order.insert((until, self.arrivals, key.clone()));
        self.keys.insert(key, (session, until, self.arrivals));
    }

    /// The session `key` unlocks, once: the key is gone after this. An
    /// expired key unlocks nothing.
    pub fn take(&mut self, key: &str, now: u64) -> Option<Session> {
        let (session, until, arrival) = self.keys.remove(key)?;
        self.order.remove(&(until, arrival, key.to_owned()));
        (until > now).then_some(session)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// 128 random bits, hex: the handle of one citizen's Logout form.
pub fn new_key() -> Option<String> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut b).ok()?;
    Some(b.iter().map(|x| format!("{x:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: u64) -> Session {
        Session {
            for_event: id,
            session_url: format!("http://a/{id}"),
        }
    }

    #[test]
    fn a_key_works_once_and_not_after_it_expires() {
        let mut k = LogoutKeys::new(10);
        k.insert("a".into(), s(1), 100, 0);
        k.insert("b".into(), s(2), 100, 0);
        assert_eq!(k.take("a", 50), Some(s(1)));
        assert_eq!(k.take("a", 50), None, "a second post sends nothing");
        assert_eq!(k.take("b", 100), None, "expired");
        assert!(k.is_empty());
    }

    #[test]
    fn when_full_the_soonest_to_expire_goes_first() {
        let mut k = LogoutKeys::new(2);
        k.insert("late".into(), s(1), 900, 0);
        k.insert("soon".into(), s(2), 200, 0);
        k.insert("new".into(), s(3), 500, 0);
        assert_eq!(k.len(), 2);
        assert_eq!(k.take("soon", 0), None);
        assert_eq!(k.take("late", 0), Some(s(1)));
        assert_eq!(k.take("new", 0), Some(s(3)));
    }
}
