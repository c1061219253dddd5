//! The command line: which program runs (the server, `decode`, `mint`,
//! `probe`, `wait`, `health`, `help`), each in its own file over the one flag reader
//! (`config/flags.rs`), with its own `--help` and an example; `--version`;
//! a suggestion for a near-miss command. Exit codes: 0 success, 1 a token
//! rejected (`decode`), a case failed (`probe`) or nothing matched in time
//! (`wait`), 2 bad usage or configuration. Nothing here may panic on output: a closed stdout or
//! stderr is ignored.

mod decode;
mod health;
mod mint;
mod probe;
mod serve;
mod wait;

use std::io::Write;
use std::process::ExitCode;

use crate::config::{self, flags, ConfigError, Env, Flags};
use crate::jose::Profile;
use crate::log;

/// A program of the binary: its name, one line for `--help`, its page.
struct Command {
    name: &'static str,
    summary: &'static str,
    help: fn() -> String,
}

const COMMANDS: [Command; 6] = [
    Command {
        name: "decode",
        summary: "the server's decoding of one token, offline, as JSON",
        help: decode::help,
    },
    Command {
        name: "mint",
        summary: "a token, or the conformance suite (--suite DIR)",
        help: mint::help,
    },
    Command {
        name: "probe",
        summary: "the conformance suite against another plugin's attr_url",
        help: probe::help,
    },
    Command {
        name: "wait",
        summary: "until the inbox journals a matching event; print it as JSON",
        help: wait::help,
    },
    Command {
        name: "health",
        summary: "exit 0 when a plugin's /healthz answers 200 (a container's health check)",
        help: health::help,
    },
    Command {
        name: "help",
        summary: "this page, or a command's: comm-test help COMMAND",
        help: overview,
    },
];

/// Runs the program `args` names (the server when none does).
pub fn main(args: &[String], env: Env<'_>) -> ExitCode {
    let result = dispatch(args, env);
    match result {
        Ok(code) => code,
        Err(e) => {
            // What was logged before the refusal goes out first: the
            // refusal is the last line.
            crate::log::flush(std::time::Duration::from_millis(200));
            say(&e.to_string());
            ExitCode::from(2)
        }
    }
}

fn dispatch(args: &[String], env: Env<'_>) -> Result<ExitCode, ConfigError> {
    let (cmd, rest) = match args.split_first() {
        Some((c, rest)) if !c.starts_with('-') => (Some(c.as_str()), rest),
        _ => (None, args),
    };
    let wants_help = rest.iter().any(|a| a == "--help" || a == "-h");
    if cmd.is_none() && rest.iter().any(|a| a == "--version" || a == "-V") {
        return Ok(print(&format!("comm-test {}\n", env!("CARGO_PKG_VERSION"))));
    }
    match cmd {
        None if wants_help => Ok(print(&overview())),
        None => serve::run(rest, env),
        Some("help") => match rest.first() {
            None => Ok(print(&overview())),
            Some(name) => Ok(print(&(find(name)?.help)())),
        },
        Some(name) => {
            let c = find(name)?;
            if wants_help {
                return Ok(print(&(c.help)()));
            }
            match c.name {
                "decode" => decode::run(rest, env),
                "mint" => mint::run(rest),
                "wait" => wait::run(rest, env),
                "health" => health::run(rest, env),
                _ => probe::run(rest),
            }
        }
    }
}

fn find(name: &str) -> Result<&'static Command, ConfigError> {
    COMMANDS.iter().find(|c| c.name == name).ok_or_else(|| {
        let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
        flags::unknown("command", name, &names)
    })
}

/// `comm-test --help`: the commands, then the server's options.
fn overview() -> String {
    let mut s = String::from(
        "comm-test: the ID Contact test communication plugin\n\n\
         usage: comm-test [OPTIONS]          serve (the options below)\n       \
         comm-test COMMAND [ARGS]    one of the commands below\n       \
         comm-test --version\n\ncommands (comm-test COMMAND --help for each):\n",
    );
    for c in &COMMANDS {
        s.push_str(&format!("  {:<8} {}\n", c.name, c.summary));
    }
    s.push('\n');
    // The server's text without its own usage line: said above already.
    s.push_str(serve::HELP.trim_start_matches(serve::USAGE).trim_start());
    s.push_str(&config::usage());
    s
}

/// Writes to stderr directly: `comm-test: <text>`.
pub(crate) fn say(text: &str) {
    let _ = std::io::stderr().write_all(format!("comm-test: {text}\n").as_bytes());
}

fn print(text: &str) -> ExitCode {
    let _ = std::io::stdout().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

/// A program's option lines for its `--help`.
/// An option of a subcommand: one of the server's, described by the
/// server's table (`config::OPTIONS`: one help text, one default), or the
/// subcommand's own (flag, value or "" for a switch, help).
enum Flag {
    Server(&'static str),
    Own(&'static str, &'static str, &'static str),
}

fn options_help(options: &[Flag]) -> String {
    let mut s = String::from("options:\n");
    for o in options {
        match o {
            Flag::Server(name) => {
                if let Some(opt) = config::option(name) {
                    s.push_str(&opt.describe());
                }
            }
            Flag::Own(flag, value, help) => {
                // A switch has no value: no blank after its name.
                s.push_str(format!("  {flag} {value}").trim_end());
                s.push('\n');
                s.push_str(&config::wrap(help, "      ", 80));
            }
        }
    }
    s.push_str("  --help\n      this text\n");
    s
}

/// The flags of a program's option table, for the reader.
fn spec(options: &[Flag]) -> Vec<(&'static str, config::Takes)> {
    options
        .iter()
        .map(|o| match o {
            Flag::Server(name) => (
                *name,
                config::option(name).map_or(config::Takes::Value, config::Opt::takes),
            ),
            Flag::Own(f, "", _) => (*f, config::Takes::Switch),
            Flag::Own(f, _, _) => (*f, config::Takes::Value),
        })
        .collect()
}

fn last<'f>(flags: &'f Flags, name: &str) -> Option<&'f str> {
    flags
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn profile_flag(flags: &Flags) -> Result<Profile, ConfigError> {
    match last(flags, "--profile") {
        None => Ok(Profile::IdContact),
        Some(v) => Profile::parse(v).ok_or_else(|| {
            ConfigError(format!(
                "--profile: expected id-contact or verder-helpen, got {}",
                log::shown(v)
            ))
        }),
    }
}

fn number(flags: &Flags, name: &str, default: u64) -> Result<u64, ConfigError> {
    match last(flags, name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ConfigError(format!("{name}: not a whole number: {}", log::shown(v)))),
    }
}
