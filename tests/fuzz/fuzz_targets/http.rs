//! The HTTP side: any bytes a client sends are answered (or awaited) and
//! every answer is a well-formed response, never a panic.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use comm_test::config::Config;
use comm_test::http::{self, Limits, Outcome};
use comm_test::routes::{App, Listener, Listening};
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
        let listener = if data.first().is_some_and(|b| b & 1 == 1) { Listener::Inbox } else { Listener::Public };
        match http::respond(input, app(), &limits, None, listener) {
            Outcome::NeedMore { .. } => break,
            Outcome::Answered { consumed, response, close, .. } => {
                assert!(response.starts_with(b"HTTP/1."));
                assert!(consumed > 0 && consumed <= input.len());
                input = &input[consumed..];
                if close {
                    break;
                }
            }
        }
    }
});
