//! comm-test: the ID Contact test communication plugin. This is the map
//! for contributors (`cargo doc --open`); users start at the README.
//!
//! `jose` turns a token into a verified `Claims` or a named `Rejection` and
//! does no I/O; three rooms map requests to responses and hold no crypto:
//! `plugin` (the plugin API), `inbox` (the tester's) and `journal` (what
//! both record); `app` wires them; `config` reads flags, environment and
//! key files; `http` is the loop. Measured results: `tests/bench/README.md`.
//!
//! # How it is built
//!
//! ```text
//! src/main.rs      the arguments to `cli`, and nothing else
//! src/lib.rs       this map
//! src/app.rs       the wiring: the plugin, the inbox, the journal they share
//! src/cli/         the command line: which program runs, help, version, suggestions
//!   mod.rs           the command table and what the programs share
//!   serve.rs         the server: bind, say what it runs with, every loop made before any serves
//!   decode.rs mint.rs probe.rs wait.rs health.rs   one subcommand each
//! src/config/      settings, read once at start
//!   mod.rs           the options table (flag, variable, default, range, help): --help and
//!                    the README's table are both made from it; environment; key files
//!   flags.rs         the one flag reader: values, bare switches, near-miss suggestions
//!   rocket.rs        the original plugin's Rocket TOML, as a layer under ours
//!   host_name.rs     a Host name as the inbox compares it
//! src/http/        the transport: HTTP/1.1 on a readiness loop; no routes, no crypto
//!   mod.rs           the module's map, limits
//!   service.rs       the seam: Request, Response, Answer, the Service trait a loop drives
//!   event_loop.rs    one loop over one listener: mio, round-robin turns, accept and
//!                    eviction, waking parked requests and streams, deadlines, signals
//!   listen.rs        binding: the listen backlog, the descriptor table grown at start
//!   conn.rs          one connection: its state and one step of work
//!   wire.rs          a connection's socket and buffers: bounded reads and writes
//!   request.rs       bytes → one request handed to the service; what the fuzzer drives
//!   response.rs      writing an answer, framed
//!   query.rs         the one query-string parser
//!   cross_site.rs    which requests a browser may make change anything (Sec-Fetch-Site, Origin)
//! src/plugin/      room 1, the plugin API: what the core and the auth plugins talk to
//!   service.rs       the public listener's Service: routes by path, faults, the journal
//!   routes.rs        the seed's routes: start_communication, ui, auth_result
//!   token.rs         a token's one path: decode → replay cache → journal → feedback
//!   exchange.rs      one public request on its way: what the journal keeps of it
//!   citizen.rs       `--ui html`: the citizen's page, its Logout and Authenticate again
//!   logout.rs        the citizens' Logout keys, apart from the journal
//!   replay.rs        the replay cache
//!   faulted.rs       what a fault does to a route's answer
//!   again.rs         the citizen's "Authenticate again", and the queue to the core
//!   answers.rs       the core's answers and the citizens' sessions, bounded
//!   state.rs         the plugin's state, built once from Config
//! src/inbox/       room 2, the tester's inbox, on its own listener
//!   service.rs       the inbox listener's Service
//!   api.rs           its routes and JSON API: listings, one event, wait, delete, reset
//!   stream.rs        an event stream's place and its next frames
//!   guard.rs         who may reach it (Host, against DNS rebinding)
//!   page.rs          the page (server-rendered; inbox.js beside it)
//!   event_page.rs    one event's own page: copy as curl, decoded JSON, download
//!   faults.rs        /api/faults, the panel and its form
//!   session.rs       session feedback sent from the inbox
//!   auth_only.rs     asking the core from the inbox
//!   state.rs         the inbox's state: run id, names, the journal, the plugin it watches
//! src/journal/     room 3, what both record; it knows neither
//!   event.rs         one event, serialised once into its stream frame
//!   store.rs         the last N in memory, shared by every thread that records
//!   file.rs          --journal-file: locked, each line written before its answer,
//!                    rewritten, read back
//! src/html.rs      what both pages share: escaping, the document's opening, the
//!                  attribute table (html.css, the one stylesheet, beside it)
//! src/feedback.rs  session feedback: allow-list, never our own listeners, bounded
//!                  queue, sender thread
//! src/faults.rs    faults on demand: the one fault type, checked in one place from
//!                  --fault, the API's JSON and the page's form; one per route
//! src/auth_only.rs authentication during communication: the signed request to the
//!                  core, its sender thread (never our own listeners), the answer
//! src/client.rs    the one outgoing request: POST or GET, http only, one deadline, bounded
//! src/files.rs     files the CLI reads and writes in a suite directory: no links,
//!                  no FIFOs, fresh files only
//! src/probe/       a suite against another plugin
//!   mod.rs           the token suite, to an attr_url or inline to client_url?result=
//!   api.rs           `--plugin`: the plugin API's rules, before the tokens
//! src/log.rs       the log: off the loop, bounded, escaped; text or JSON
//! src/date.rs      HTTP dates and RFC 3339 timestamps from Unix time
//! src/json.rs      whether a JSON object names a member twice (headers, payload, requests)
//! src/jose/        the decoding path, no I/O; audit map in mod.rs; primitives private
//!   b64.rs header.rs keys.rs jwe.rs cbc_hmac.rs jws.rs claims.rs   in run order
//!   reason.rs        the one rejection vocabulary (`Reason`), with its wire strings
//!   rng.rs           the random source handed to RSA blinding
//!   wycheproof.rs    the Wycheproof vectors through our own wrappers (unit tests)
//! src/mint/        the producing side, which decoding never calls
//!   mod.rs           sign, encrypt, a whole result; `bent` for what no producer writes
//!   keys.rs          signing and encryption keys, bound to their algorithms
//!   suite.rs         the conformance suite: a table of cases
//!   manifest.rs      a suite written to a directory and read back
//! tests/           end-to-end tests against the real binary, shared vectors,
//!                  mutation, soak, bench (tests/bench, with its README of results),
//!                  fuzz targets (tests/fuzz)
//! ```
//!
//! The dependencies run one way, between modules and between files
//! (`tests/layout.rs` fails on a circle of imports anywhere in `src/`, on a
//! folder over 22% of the code or 12 files, on `http` naming anything but
//! `log` and `date`, and on `jose` naming anything that does I/O): `cli` →
//! `app` → `inbox` → `plugin` → `journal`; `cli` → `mint`, `probe` →
//! `config` → `feedback`, `auth_only` → `client` (`auth_only` signs with
//! `mint`); `config` → `faults`, `mint`; the rooms → `http`, `jose`,
//! `faults`, `html`; `mint` → `jose`; and everything → `log`, `date`,
//! `json`, `files`. The inbox watches and steers the plugin through its
//! methods; the plugin never names the inbox; the journal names neither.
//! Every file opens with a comment naming its one concern (the same test
//! checks that it does). `http` names no route: a loop is generic over a
//! `Service`, and the rooms give it two (`PublicService`, which only answers at once, its stream and
//! parked types uninhabited; `InboxService`, which streams the journal). A
//! route that must wait (a request parked until the next matching journal
//! entry, a delayed answer, a connection closed unanswered) says so in its
//! `Answer`; the loop keeps such a connection as it keeps any other, counted
//! against the cap, with no thread of its own. The transport writes the
//! access log line; a `Response` carries the fields the application adds to
//! it (`log::Note`), which the transport does not read.
//!
//! `jose`'s primitives are private to the crate. The bench and the fuzz
//! targets take the decoding steps one by one through `jose::hazmat`, built
//! only with `--features hazmat` (`cargo bench --features hazmat`), never in
//! a build that serves.
//!
//! ## Why not tiny_http
//!
//! The plan was a single-threaded tiny_http loop. The hostile-client tests
//! (`tests/hostile.rs`), written first, failed against tiny_http 0.12 on all
//! seven counts, and tiny_http's public API cannot fix them:
//!
//! - `Content-Length: 1000000000000` with a 9-byte body: tiny_http's
//!   `EqualReader::drop` allocates `vec![0; remaining]` for the unread
//!   remainder; the process logged `memory allocation of 999999999991 bytes
//!   failed` and aborted (upstream PR #290, never merged).
//! - Four clients that send headers and stall their bodies: the body is read
//!   lazily on the handling thread with no read timeout, and a `GET /ui`
//!   behind them got no answer within 30 s.
//! - 50 idle connections made 50 threads (one per connection, no cap); a
//!   100 KB header line was accepted with 200; stalled requests never got 408.
//!
//! So the HTTP layer is our own, ~700 lines in `src/http/`: a
//! single-threaded readiness loop over non-blocking sockets. It needs two
//! crates beyond the plan, each because std cannot do the job without
//! `unsafe`:
//!
//! - **`httparse`** (as the issue proposes): a zero-copy, no-allocation
//!   HTTP/1.x head parser with a fixed header array.
//! - **`mio`** (deps: `libc`): std has no way to wait on many sockets at once.
//!   Without it a single thread would block on one slow client, and
//!   thread-per-connection is what sank tiny_http. mio is the thin, widely
//!   audited epoll wrapper under tokio.
//! - **`signal-hook`** (deps: `libc`, `signal-hook-registry`): std cannot
//!   install signal handlers. As PID 1 in a container, SIGTERM's default action
//!   does not apply, so an explicit handler is the only way to stop promptly.
//!   The handler writes to a socket pair the loop polls.
//!
//! And for EC: **`p256`**, because ring has no static-key ECDH.
//!
//! - **`toml`** (deps: `toml_parser`, `toml_datetime`, `winnow`, `serde_spanned`;
//!   `parse` and `serde` features only): the original plugin's Rocket
//!   configuration is TOML with multi-line PEM strings, profiles and inline
//!   tables; a hand-written parser of that would be an attack surface of its
//!   own. It costs about 180 KB of the release binary (1 038 960 → 1 220 800
//!   bytes stripped, together with the rest of the interoperability work).
//! - **No HTTP client crate.** Session feedback and `probe` make one kind of
//!   request: a `POST` over `http://`, read to the end of the answer's head.
//!   `ureq` 3 without TLS, the smallest well-kept client, added 218 KB to the
//!   release binary (1 264 520 → 1 482 912 bytes), which left no room in the
//!   budget of the time (1.5 MiB); `src/client.rs` is about 250 lines on `std`
//!   and `httparse`, with the same limits a crate's would have (one deadline
//!   for resolving, on a resolver thread, connecting, writing and reading; a
//!   guard that sees every address before a connection; no redirects; 1xx
//!   skipped; the answer read no further than 8 KiB of head, however many
//!   lines) and tests for each. No `https`: the binary has no TLS.
//! - **`socket2`** (deps: `libc`; tokio's, as widely used as `mio`): std binds
//!   every listener with a backlog of 128 and offers no way to change it, and
//!   setting it ourselves means `listen(2)` through `unsafe`. A backlog of
//!   128 let a fast client's serial connects overflow the accept queue
//!   ("Hostile clients", *A connect*). It costs 128 bytes of the release
//!   binary (1 516 136 → 1 516 264 B): we call two functions of it.
//! - **`libc`**, already under `mio`, named directly for a few constants:
//!   `O_NONBLOCK`, so a key file that is a FIFO cannot hang start-up,
//!   `O_NOFOLLOW`, so a suite's files are never read or written through a
//!   link, and the `EMFILE`/`ENFILE`/`ELOOP` error numbers. No `unsafe`.
//!
//! ## Hostile clients
//!
//! What one client can take from the server, and no more (`src/http/mod.rs`
//! states the same at the top; `tests/starvation.rs` and `tests/hostile.rs`
//! try each from the attacker's side):
//!
//! - **A turn.** Connections with work are served round-robin, one request per
//!   turn, and the loop polls for new connections and requests at least every
//!   2 ms of work. A request waits at most one request of each other busy
//!   connection: with 30 connections pipelining tokens that each cost a full
//!   RSA private operation, `GET /ui` is answered after about 28 of those
//!   operations (a median of about 75 ms here), where the old loop made it
//!   wait whole pipelines (`tests/starvation.rs` counts in token times
//!   measured in the same run, so a loaded machine slows both sides alike).
//! - **The inbox's work.** The inbox is served by a loop on a thread of its
//!   own: rendering, listings and streams never take a turn from the public
//!   loop (figures: `tests/bench/README.md`).
//! - **A connect.** No connect waits on an idle server. The listen backlog is
//!   the connection cap (up to the kernel's `somaxconn`; std's is 128): one
//!   in every 130-200 of 1 500 serial connects had its SYN dropped and
//!   retried a second later when the loop paused longer than 128 fast
//!   connects, which it did whenever `accept` had to grow the process's
//!   descriptor table (Linux doubles it at 256, 512, 1 024, …, and in a
//!   multi-threaded process each doubling waits for an RCU grace period:
//!   `accept` of descriptor 512 took 21 ms here). The table is also grown once
//!   at start, before any thread exists, for up to 448 descriptors (the first
//!   two doublings; more would cost start-up time: 0.5 ms for 1 088); the
//!   doublings past that happen under load and the backlog absorbs them.
//!   `tests/starvation.rs` asserts on the kernel's counters: 3 000 serial
//!   connects, `ListenOverflows` and `TCPSynRetrans` unchanged.
//! - **Memory.** A connection's input buffer never holds more than 8 KiB +
//!   `--max-body` (reading stops while it is full and resumes as it drains), and
//!   its output at most one answer (nothing more is answered until the client
//!   takes it). An idle connection holds no buffer: about 0.2 KB of ours, plus
//!   the kernel's socket buffers.
//! - **Time.** A request must be complete within `--read-timeout` of its
//!   *first byte* (else 408 and close), and its answer taken within the same
//!   time (else close). A connection with no request in progress, new or kept
//!   alive, is closed after `--idle-timeout`.
//! - **A slot.** At most `--max-connections` are open (default 1 024). When one
//!   more arrives, or `accept` fails for lack of file descriptors (EMFILE,
//!   ENFILE), the connection that has made the least progress for the longest
//!   (seconds per byte in its current phase: idle connections and one-byte
//!   holders first) is closed to make room, so a flood of idle or trickling
//!   connections cannot lock anyone out.
//! - **Log lines.** Lines go through a 128-line queue to a writer thread: when
//!   stderr stalls, lines are dropped and counted (the next line that gets
//!   through says `N log lines dropped`), and serving, SIGTERM included, never
//!   waits. A closed stderr never crashes the process. Every value is escaped
//!   (controls, C1, line and paragraph separators, bidi and zero-width
//!   characters, DEL), strings are cut at 256 characters and lines at 8 KiB,
//!   visibly and with their length.
//! - **Event streams** (the inbox's `/api/events/stream`) count against the
//!   inbox's cap and the same eviction; a stream holds at most 256 KiB plus
//!   one frame, catch-up included (frames are pulled from the journal as the
//!   client takes them; each event's frame is serialised once and shared by
//!   every stream); a quiet stream gets a comment every 15 s, and a stream
//!   that has not taken its 256 KiB by then is closed.
//! - **Sizes.** Head ≤ 8 KiB (414 for a longer request line, else 431), ≤ 32
//!   headers (431), body ≤ `--max-body` (413, decided from `Content-Length`
//!   before reading anything), token ≤ 16 KiB, claims nesting ≤ 8, ≤ 256
//!   attributes.
//! - **Parsing.** `Content-Length` is ASCII digits with only SP/HTAB around
//!   them (RFC 9110 §5.5); conflicting ones are 400; `Transfer-Encoding` is
//!   411. An HTTP/1.1 request without `Host`, and any request with two, is 400
//!   (RFC 9112 §3.2).
//! - **Replays.** A result is remembered by SHA-256 of its inner JWS, what the
//!   issuer signed, so re-encrypting it does not hide it; until `exp` +
//!   leeway, at most 10 000: when full, expired entries go first, then the
//!   one expiring soonest, and among equals the first received.
//! - **Signals.** SIGTERM/SIGINT: the loop stops, the log gets up to 200 ms to
//!   drain, exit 0.
//!
//! Not promised: protection against more connections than the host has file
//! descriptors for across processes, or against traffic that saturates the
//! network; with `--workers N`, each loop applies these limits on its own,
//! and the inbox's loop its own.
//!
//! ## Tests
//!
//! `cargo test` runs: unit tests beside each check; all 35 shared vectors
//! (`tests/vectors.rs`, `tests/keys_and_decode.rs`, also over HTTP); the seed
//! interaction byte for byte against the real binary (`tests/server.rs`);
//! hostile clients and a malformed-input corpus (`tests/hostile.rs`); every
//! starvation, stall and bloat of issue 8 from the attacker's side, each test
//! named after its defect (`tests/starvation.rs`); key rotation and `kid` as
//! a hint (`tests/keys_and_decode.rs`); every producer shape, both profiles and
//! the original plugin's Rocket configuration (`tests/compat.rs`); the inbox's
//! API, stream, paging, `Host` rule, cross-site defence and memory bounds
//! (`tests/inbox.rs`), and the page in headless Chromium driven over WebDriver
//! as a tester uses it: its buttons clicked and each send checked at the
//! receiver, three entries watched arriving live exactly once with the count
//! kept, the page emptied by a clear over the API and by its Clear button
//! (`tests/browser.rs`); the files the CLI reads and writes, and that no
//! message quotes key material (`tests/cli_files.rs`); session feedback against a recording receiver
//! (`tests/feedback.rs`); `mint`, the suite and `probe` (`tests/conformance.rs`);
//! the journal file from the attacker's side: a second writer, a restart
//! under traffic, kills at many points in appends and rewrites, a full disk
//! and a single-file bind mount in a private mount namespace (root only;
//! skipped with a message elsewhere), forged lines (`tests/journal_file.rs`);
//! every Wycheproof vector for each primitive, through our wrappers
//! (`src/jose/wycheproof.rs`, unit tests beside the code); 3 606 single-byte mutations of the sample token
//! and all truncations (`tests/mutation.rs`); a 20 000-request soak with an
//! RSS check (`tests/soak.rs`; `just soak` prints the figures). Tokens are
//! minted fresh by the product's own `mint`. Every server a test starts
//! is checked, when it stops, for key material in anything it printed.
//! `COMM_TEST_BIN=path cargo test` runs the end-to-end tests against another
//! build (a release or static one) of the binary.
//!
//! Fuzzing (`cargo install cargo-fuzz` once):
//!
//! ```sh
//! RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz token   # or: http, fault
//! just fuzz token 600
//! ```
//!
//! Mutation testing of the audit map's files (`just mutants`, about an hour,
//! not in CI): every mutant the tests do not catch is listed, with why it
//! cannot change behaviour, in `tests/mutants-equivalent.txt`.
//!
//! ## The advisory: RUSTSEC-2023-0071 (rsa, Marvin)
//!
//! CI (`.ci/run`) runs `cargo audit` against the RustSec snapshot in
//! `../shared/advisory-db` and ignores this one advisory. The snapshot lists
//! no patched version of `rsa`; the attack (a timing side channel in the
//! private operation, recovering a plaintext from many decryption timings)
//! does not apply to this build, for reasons in the source we compile
//! (`rsa` 0.10.0, `crypto-bigint` 0.7.11, Cargo.lock):
//!
//! - *The arithmetic is constant-time.* 0.9 computed with `num-bigint-dig`,
//!   whose timing depends on the values: the Marvin leak. 0.10 computes with
//!   `crypto-bigint`'s `BoxedUint` in Montgomery form.
//! - *The private operation is blinded, because we pass the RNG.*
//!   `rsa_decrypt` (`src/algorithms/rsa.rs` l. 57-125) blinds the ciphertext
//!   (`blind`, l. 207: c·rᵉ with a fresh r) and the CRT exponents
//!   (`blind_exponent`, `pow_mod_blinded`) only when given `Some(rng)`.
//!   `oaep_decrypt` (`src/oaep.rs` l. 74-87) passes `None` unless the
//!   `getrandom` feature is on, so a Cargo.toml edit could silently drop
//!   blinding. We call `oaep_decrypt_with_rng` with `jose::rng::SystemRng`
//!   (ring's system randomness) and keep `getrandom` off; the unit test
//!   `jwe::tests::the_rsa_private_operation_draws_its_blinding_from_the_rng_given`
//!   fails if the RNG is not drawn from.
//! - *OAEP decoding is constant-time.* `decrypt_inner`
//!   (`src/algorithms/oaep.rs` l. 213-264) compares the label hash with
//!   `ct_eq` and scans for the 0x01 separator with `Choice` masks; the one
//!   branch is on the final validity.
//! - *Its one branch tells nothing over HTTP.* A failed unwrap continues with
//!   a random CEK (RFC 7516 §11.5), so every RSA failure reaches the tag
//!   check and answers `decryption_failed`. `just timing` runs 4 classes
//!   (bad OAEP padding, a CEK of the wrong length, a bad tag, bad padding
//!   behind a valid tag) interleaved in one process and prints a Welch t per
//!   pair; |t| < 4.5 is "indistinguishable" (the dudect threshold).
//!
//! *What blinding costs* (2026-12-03, `cargo bench --features hazmat --
//! token`, interleaved, a loaded machine): the blinded RSA-OAEP decrypt
//! 3 092 µs against 1 702 µs unblinded, **1.82×**; a full RSA token decode
//! 3 157 µs (1.010× its primitives), so the default build answers about half
//! as many RSA tokens per loop as before. We pay it: an unblinded private
//! operation is the advisory's premise. `--features aws-lc` (AWS-LC blinds
//! always) is the fast path. A token refused for its lengths (a 1-byte IV,
//! a 3-byte tag) costs 11 µs, **0.0017×** a well-shaped one: no private-key
//! operation runs for it.
//!
//! `just timing` (2026-12-03, 1 500 interleaved trials per class): medians
//! 3 347, 3 361, 3 333 and 3 365 µs for bad OAEP padding, a bad tag, a
//! wrong CEK length and bad padding behind a valid tag; every pair's |t|
//! between 0.04 and 0.95: no class is distinguishable.
//!
//! What would reopen it: any change of `rsa` or `crypto-bigint` version (read
//! those lines again), a call without an RNG, RSA1_5 on the allow-list (its
//! padding check is the original Bleichenbacher oracle; we never accept it),
//! or `just timing` reporting a class apart. Remove the ignore once the
//! database marks `rsa` >= 0.10.0 as patched.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

pub mod app;
pub mod auth_only;
pub mod cli;
pub mod client;
pub mod config;
pub mod date;
pub mod faults;
pub mod feedback;
pub mod files;
pub mod html;
pub mod http;
pub mod inbox;
pub mod jose;
pub mod journal;
pub mod json;
pub mod log;
pub mod mint;
pub mod plugin;
pub mod probe;
