# comm-test tasks. `just --list` shows them.

set shell := ["bash", "-cu"]

# Run the plugin on its built-in defaults (public test keys, 127.0.0.1:8000).
run *ARGS:
    cargo run --release -- {{ARGS}}

# The whole test suite (what CI runs after the lints).
test:
    cargo test

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --check
    cargo clippy --all-targets -- -D warnings

# Everything CI does, advisories included.
ci:
    bash .ci/run

# Fuzz one target (token | http) for SECONDS.
fuzz TARGET SECONDS="600":
    mkdir -p tests/fuzz/corpus/{{TARGET}}
    RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir tests/fuzz {{TARGET}} tests/fuzz/corpus/{{TARGET}} tests/fuzz/seeds/{{TARGET}} -- -max_total_time={{SECONDS}} -close_fd_mask=2

# The soak test with its figures: 20 000 mixed requests from 4 threads.
soak:
    cargo test --release --test soak -- --nocapture

# A fully static release binary (glibc, +crt-static): runs with no shared libraries.
static:
    RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target x86_64-unknown-linux-gnu
    ls -l target/x86_64-unknown-linux-gnu/release/comm-test
    ldd target/x86_64-unknown-linux-gnu/release/comm-test || true

# The container image `comm-test` (podman): FROM scratch, the static binary.
# Run it as: podman run -p 127.0.0.1:8000:8000 -p 127.0.0.1:8001:8001 comm-test
image:
    RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target x86_64-unknown-linux-gnu
    ctx=$(mktemp -d) && mkdir -m 0700 "$ctx/data" && cp target/x86_64-unknown-linux-gnu/release/comm-test "$ctx/" && podman build --format docker -t comm-test -f Containerfile "$ctx" && rm -r "$ctx"
    podman image inspect comm-test --format 'comm-test: {{{{.Size}} bytes'

# Per-operation medians: raw primitives, full decode, HTTP per route.
bench *FEATURES:
    cargo bench --bench bench --features hazmat {{FEATURES}}

# wrk against the release binary (apt-get install wrk); ARGS go to the server.
load *ARGS:
    cargo build --release
    tests/load/run.sh target/release/comm-test {{ARGS}}

# (apt-get install nginx-light wrk strace) ROUNDS=5 SECONDS_EACH=5 by default.
# comm-test beside nginx (one worker, access log on): throughput ratios per plain route, system calls per request.
versus-nginx:
    cargo build --release
    tests/load/versus-nginx.sh target/release/comm-test

# The token route side by side: BINARIES... [-- OTHER_ATTR_URL] (apt-get install wrk).
load-token *ARGS:
    tests/load/token.sh {{ARGS}}

# (TIMING_TRIALS per class; |t| > 4.5 counts as distinguishable.)
# The RSA decryption failure classes timed against each other, interleaved.
timing TRIALS="1500":
    TIMING_TRIALS={{TRIALS}} cargo bench --bench bench --features hazmat -- timing

# (cargo install cargo-mutants; 12 minutes here.) Fails if a surviving
# mutant's line is not in tests/mutants-equivalent.txt (`file:line: why`).
# cargo-mutants over the audit map's files, with the lib and vector tests.
mutants:
    -cargo mutants -f src/jose/jwe.rs -f src/jose/cbc_hmac.rs -f src/jose/jws.rs -f src/jose/header.rs -f src/jose/b64.rs --cargo-arg=--lib --cargo-arg=--test=vectors -o target --cargo-arg=--test=mutation
    wc -l target/mutants.out/caught.txt target/mutants.out/missed.txt target/mutants.out/timeout.txt target/mutants.out/unviable.txt
    cargo mutants -f src/jose/jwe.rs --re 'jwe.rs:159:' --features aws-lc -o target/mutants-aws-lc --cargo-arg=--lib --cargo-arg=--test=vectors --cargo-arg=--test=mutation
    unlisted=$(cut -d: -f1,2 target/mutants.out/missed.txt | sort -u | comm -23 - <(grep -v '^#' tests/mutants-equivalent.txt | cut -d: -f1,2 | sort -u)); [ -z "$unlisted" ] || { echo "missed and not listed as equivalent: $unlisted"; exit 1; }
