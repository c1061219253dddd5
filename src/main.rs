//! `comm-test`: collects the arguments and hands them to `cli`, which
//! runs the server or a subcommand and says how it ended (exit codes in
//! `cli/mod.rs`).

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = Vec::new();
    for (i, a) in std::env::args_os().skip(1).enumerate() {
        match a.into_string() {
            Ok(a) => args.push(a),
            Err(_) => {
                let _ = std::io::stderr()
                    .write_all(format!("comm-test: argument {} is not UTF-8\n", i + 1).as_bytes());
                return ExitCode::from(2);
            }
        }
    }
    comm_test::cli::main(&args, &|name: &str| std::env::var_os(name))
}
