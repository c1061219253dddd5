//! The token parser, outer and inner: any input is a verified result or a
//! named rejection, never a panic.
#![no_main]

use std::sync::OnceLock;

use comm_test::config::Config;
use comm_test::jose::{self, hazmat, KeySet, Policy};
use libfuzzer_sys::fuzz_target;

fn keys() -> &'static (KeySet, Policy) {
    static KEYS: OnceLock<(KeySet, Policy)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let c = Config::from_args(&[], &|_| None).expect("defaults");
        let p = Policy::for_keys(&c.keys, 60);
        (c.keys, p)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let (keys, policy) = keys();
    // The whole path, at the sample's time and far in the future.
    for now in [1_615_879_800, u64::MAX] {
        if let Err(r) = jose::decode(token, keys, policy, now) {
            // A reason of the vocabulary, and a one-line detail after it.
            let line = r.to_string();
            assert!(line.starts_with(r.reason().as_str()) && !line.contains('\n'));
            assert_ne!(r.reason(), jose::Reason::Replay, "the decoder never says replay");
        }
    }
    // The inner layer on its own, as if it had been decrypted.
    let _ = hazmat::verify(token, policy.signature(), &keys.verification);
});
