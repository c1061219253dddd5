//! The replay cache.

use std::collections::{BTreeSet, HashMap};

/// Accepted results until they expire, so a second delivery is seen. Keyed
/// on what the issuer signed (the inner JWS), so the same result
/// re-encrypted is still a replay. Bounded: when full, expired entries go
/// first, then the one expiring soonest, and among equals the first seen.
pub struct ReplayCache {
    seen: HashMap<[u8; 32], (u64, u64)>,
    /// (valid until, arrival number, id): the eviction order.
    order: BTreeSet<(u64, u64, [u8; 32])>,
    /// The journal entry that first accepted each remembered token.
    first_event: HashMap<[u8; 32], u64>,
    arrivals: u64,
    cap: usize,
}

impl ReplayCache {
    pub const DEFAULT_CAP: usize = 10_000;

    pub fn new(cap: usize) -> Self {
        ReplayCache {
            seen: HashMap::new(),
            order: BTreeSet::new(),
            first_event: HashMap::new(),
            arrivals: 0,
            cap: cap.max(1),
        }
    }

    /// Records `id` valid until `until`; true if it was already recorded.
    pub fn seen_before(&mut self, id: [u8; 32], until: u64, now: u64) -> bool {
        if let Some(&(t, _)) = self.seen.get(&id) {
            if t > now {
                return true;
            }
        }
        self.first_event.remove(&id);
        self.forget(&id);
        while self.seen.len() >= self.cap || self.order.first().is_some_and(|&(t, _, _)| t <= now) {
            let Some((_, _, oldest)) = self.order.pop_first() else {
                break;
            };
            self.seen.remove(&oldest);
            self.first_event.remove(&oldest);
        }
        self.arrivals += 1;
        self.seen.insert(id, (until, self.arrivals));
        self.order.insert((until, self.arrivals, id));
        false
    }

    fn forget(&mut self, id: &[u8; 32]) {
        if let Some((t, n)) = self.seen.remove(id) {
            self.order.remove(&(t, n, *id));
        }
        self.first_event.remove(id);
    }

    /// Notes the journal entry that first accepted `id` (once).
    pub fn note_event(&mut self, id: [u8; 32], event: u64) {
        if self.seen.contains_key(&id) {
            self.first_event.entry(id).or_insert(event);
        }
    }

    /// The journal entry that first accepted `id`, while it is remembered.
    pub fn first_event(&self, id: &[u8; 32]) -> Option<u64> {
        self.first_event.get(id).copied()
    }

    pub fn contains(&self, id: &[u8; 32]) -> bool {
        self.seen.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_cache_is_bounded_and_forgets_expired_tokens() {
        let mut c = ReplayCache::new(3);
        assert!(!c.seen_before([1; 32], 100, 10));
        assert!(c.seen_before([1; 32], 100, 50));
        assert!(
            !c.seen_before([1; 32], 100, 100),
            "expired entries do not count"
        );
        for i in 2..10u8 {
            c.seen_before([i; 32], 100 + u64::from(i), 10);
            assert!(c.len() <= 3);
        }
        assert!(c.seen_before([9; 32], 200, 10), "newest kept");
        assert!(!c.seen_before([2; 32], 200, 10), "oldest evicted");
    }

    /// Regression: after 10 500 tokens of one `exp`, the evicted ones
    /// were #14, #38, … while #0 stayed.
    #[test]
    fn replay_cache_evicted_arbitrary_entries_among_equal_exp() {
        let id = |i: u32| {
            let mut a = [0u8; 32];
            a[..4].copy_from_slice(&i.to_be_bytes());
            a
        };
        let mut c = ReplayCache::new(ReplayCache::DEFAULT_CAP);
        for i in 0..10_500 {
            assert!(!c.seen_before(id(i), 1_000, 10));
        }
        assert_eq!(c.len(), ReplayCache::DEFAULT_CAP);
        assert!(
            (0..500).all(|i| !c.contains(&id(i))),
            "the first 500 evicted"
        );
        assert!((500..10_500).all(|i| c.contains(&id(i))), "the rest kept");
        // Sooner expiry goes first, whatever the arrival order.
        let mut c = ReplayCache::new(2);
        c.seen_before(id(1), 300, 10);
        c.seen_before(id(2), 200, 10);
        c.seen_before(id(3), 400, 10);
        assert!(c.contains(&id(1)) && !c.contains(&id(2)) && c.contains(&id(3)));
    }
}
