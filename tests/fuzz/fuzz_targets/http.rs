//! The HTTP side: any bytes a client sends are answered (or awaited) and
//! every answer is a well-formed response, never a panic.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use comm_test::config::Config;
use comm_test::http::{self, Limits, Outcome, Then};
use comm_test::app::{App, Listening};
use libfuzzer_sys::fuzz_target;

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let args = ["--clock".to_string(), "1615879800".to_string()];
        // The inbox on 127.0.0.1:8001, so that inputs with that `Host`
        // reach past its Host rule (seeds: tests/fuzz/seeds/http).
        let listening = Listening {
            public: vec!["127.0.0.1:8000".parse().expect("addr")],
            inbox: Some("127.0.0.1:8001".parse().expect("addr")),
        };
        App::new(Config::from_args(&args, &|_| None).expect("config"), &listening)
    })
}

/// Bytes consumed and whether the connection ends, once every answer
/// is checked to be a response.
fn answer<S, P>(outcome: Outcome<S, P>) -> Option<(usize, bool)> {
    let Outcome::Answered { consumed, then } = outcome else {
        return None;
    };
    let close = match then {
        Then::Send { bytes, connection } | Then::SendAt { bytes, connection, .. } => {
            assert!(bytes.starts_with(b"HTTP/1."));
            connection == http::Connection::Close
        }
        Then::Stream { head, .. } => {
            assert!(head.starts_with(b"HTTP/1."));
            true
        }
        Then::Park(_) | Then::Close => true,
    };
    Some((consumed, close))
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(10),
        max_connections: 8,
        max_body: 64 * 1024,
    };
    let mut input = data;
    // Pipelined requests, as the loop would take them.
    while !input.is_empty() {
        // Both listeners' routes, by the first byte.
        let step = if data.first().is_some_and(|b| b & 1 == 1) {
            answer(http::respond(input, &app().inbox(), &limits, http::Arrival::default()))
        } else {
            answer(http::respond(input, &app().public(), &limits, http::Arrival::default()))
        };
        match step {
            None => break,
            Some((consumed, close)) => {
                assert!(consumed > 0 && consumed <= input.len());
                input = &input[consumed..];
                if close {
                    break;
                }
            }
        }
    }
});
