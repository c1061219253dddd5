//! Authentication during communication, what comes back: the core's
//! answers by ticket (and the loops to wake when one is in), and the
//! citizens' sessions the "Authenticate again" button may ask for, each at
//! most once every `AGAIN_EVERY`. Both bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::auth_only::Answered;
use crate::http::Wake;
use crate::journal;

/// Answers kept for callers still waiting; a caller that went away
/// leaves one behind, pushed out by later ones.
const KEPT: usize = 256;
/// A caller waits this much beyond the client's own deadline.
pub const GRACE: Duration = Duration::from_secs(2);
/// The citizen's button: at most one request per session in this time.
pub const AGAIN_EVERY: Duration = Duration::from_secs(10);
/// Sessions remembered for the button; the oldest go first.
const SESSIONS: usize = 1024;

/// The core's answers, by ticket, and the loops to wake when one is in.
#[derive(Default)]
pub struct Answers {
    done: Mutex<VecDeque<(Answered, u64)>>,
    wakes: Mutex<Vec<Wake>>,
}

pub fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Answers {
    /// Every answer: one journal entry and one log line, then kept for
    /// its caller and its loop woken.
    pub fn report(self: &Arc<Self>, journal: Arc<journal::Shared>) -> crate::auth_only::Report {
        let answers = self.clone();
        Arc::new(move |a: Answered| {
            let ms = u64::try_from(a.latency.as_millis()).unwrap_or(u64::MAX);
            let outcome = match &a.result {
                Ok(r) => format!("answered {}", r.status),
                Err(e) => e.clone(),
            };
            crate::log::message(&format!(
                "auth-only {} for {} via {}: {outcome} in {ms} ms",
                a.ask.auth_method, a.ask.purpose, a.url
            ));
            let id = journal.record("auth_only", Some(&a.ask.purpose), kind_of(&a, ms));
            {
                let mut done = locked(&answers.done);
                if done.len() >= KEPT {
                    done.pop_front();
                }
                done.push_back((a, id));
            }
            // Recording woke the inbox before the answer was kept: again.
            journal.poke();
            for w in locked(&answers.wakes).iter() {
                w.wake();
            }
        })
    }

    /// A public loop's waker: its parked citizens hear of answers.
    pub fn attach(&self, wake: Wake) {
        locked(&self.wakes).push(wake);
    }

    pub fn take(&self, ticket: u64) -> Option<(Answered, u64)> {
        let mut done = locked(&self.done);
        let i = done.iter().position(|(a, _)| a.ticket == ticket)?;
        done.remove(i)
    }
}

fn kind_of(a: &Answered, ms: u64) -> journal::Kind {
    let (result, said) = match &a.result {
        Ok(r) => (
            Ok(r.status),
            a.client_url().is_none().then(|| r.said.clone()),
        ),
        Err(e) => (Err(e.clone()), None),
    };
    journal::Kind::AuthOnly(journal::AuthOnly {
        auth_method: a.ask.auth_method.clone(),
        url: a.url.clone(),
        result,
        client_url: a.client_url().map(str::to_owned),
        said,
        latency_ms: ms,
        asked_by: a.ask.by,
    })
}

/// The citizens' sessions the button may ask for: the purpose each was
/// started with, and when it last asked.
#[derive(Default)]
pub struct Sessions {
    by_key: HashMap<String, (String, Option<Instant>)>,
    order: VecDeque<String>,
}

impl Sessions {
    /// A new session for `purpose`: its key, for `client_url`'s query.
    /// None for a purpose longer than the journal keeps (no purpose tag
    /// is that long): 1 024 sessions hold at most 1 MiB of purposes.
    pub fn open(&mut self, purpose: &str) -> Option<String> {
        if purpose.len() > journal::MAX_PURPOSE {
            return None;
        }
        let key = super::logout::new_key()?;
        while self.order.len() >= SESSIONS {
            if let Some(old) = self.order.pop_front() {
                self.by_key.remove(&old);
            }
        }
        self.order.push_back(key.clone());
        self.by_key.insert(key.clone(), (purpose.to_owned(), None));
        Some(key)
    }

    pub fn known(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    /// The session's purpose, if it may ask now; else how long to wait.
    pub fn claim(&mut self, key: &str, now: Instant) -> Result<String, Option<Duration>> {
        let (purpose, last) = self.by_key.get_mut(key).ok_or(None)?;
        if let Some(t) = *last {
            let since = now.saturating_duration_since(t);
            if since < AGAIN_EVERY {
                return Err(Some(AGAIN_EVERY - since));
            }
        }
        *last = Some(now);
        Ok(purpose.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From the attacker's side: anyone may start sessions, so what they
    /// hold is bounded in count and in bytes.
    #[test]
    fn sessions_are_bounded_in_count_and_in_the_purpose_they_hold() {
        let mut s = Sessions::default();
        assert_eq!(s.open(&"p".repeat(journal::MAX_PURPOSE + 1)), None);
        let first = s.open("report_move").unwrap();
        let keys: Vec<String> = (0..SESSIONS).map(|_| s.open("p").unwrap()).collect();
        assert_eq!(s.by_key.len(), SESSIONS);
        assert_eq!(s.order.len(), SESSIONS);
        assert!(!s.known(&first), "the oldest went first");
        assert!(keys.iter().all(|k| s.known(k)));
    }

    #[test]
    fn a_session_asks_at_most_once_every_10_s() {
        let mut s = Sessions::default();
        let key = s.open("report_move").unwrap();
        let t = Instant::now();
        assert_eq!(s.claim(&key, t), Ok("report_move".into()));
        let soon = s.claim(&key, t + Duration::from_secs(3));
        assert_eq!(soon, Err(Some(Duration::from_secs(7))));
        assert_eq!(s.claim(&key, t + AGAIN_EVERY), Ok("report_move".into()));
        assert_eq!(s.claim("nope", t), Err(None));
    }
}
