//! A fault as a tester writes it, from the network (`POST /api/faults`)
//! or the command line (`--fault`): any input is a fault that can be met,
//! or a refusal naming a field, never a panic; and a fault, shown as the
//! API shows it, reads back as itself.
#![no_main]

use comm_test::faults;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let json = faults::from_json(data);
    let spec = std::str::from_utf8(data).map(faults::parse);
    for f in [json.ok(), spec.ok().and_then(Result::ok)].into_iter().flatten() {
        assert!(f.delay_ms <= faults::MAX_DELAY_MS);
        assert_ne!(f.times, Some(0));
        let shown = f.to_json().to_string();
        assert_eq!(faults::from_json(shown.as_bytes()).as_ref(), Ok(&f));
    }
    if let Err(e) = faults::from_json(data) {
        assert!(!e.field.is_empty() && e.field.chars().count() <= 40);
    }
});
