//! The `gws-botd` command: parse the command line, set up logging, load configuration and hand
//! over to the library. Exit codes follow sysexits: 0 ok, 64 usage, 78 bad config or rules,
//! 1 anything else.

use std::process::ExitCode;

use clap::Parser;
use gws_botd::cli as commands;
use gws_botd::cli::args::{Cli, Command};
use gws_botd::telemetry::logging;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                commands::EXIT_USAGE
            } else {
                0
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let default_filter = match cli.command {
        Command::Demo { .. } => "warn",
        _ => "info",
    };
    if !matches!(
        cli.command,
        Command::Check { .. }
            | Command::Coverage { .. }
            | Command::Explain { .. }
            | Command::Generate { .. }
            | Command::Reload { .. }
            | Command::Schedule { .. }
            | Command::State { .. }
    ) {
        logging::init(cli.log_format, default_filter);
    }
    let target = match cli.target() {
        Ok(target) => target,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(commands::EXIT_USAGE);
        }
    };
    let code = match cli.command {
        Command::Run => commands::run(&target),
        Command::Check { rules, offline } => commands::check(&target, rules.as_deref(), offline),
        Command::Reload { pid, timeout } => commands::reload(&target, pid, timeout),
        Command::Demo {
            forever,
            rules,
            shadow,
            dialect,
        } => commands::demo(&rules, shadow.as_deref(), forever, dialect),
        Command::Explain { chat_id, state_dir } => {
            commands::explain(&target, &chat_id, state_dir.as_deref())
        }
        Command::Sim {
            listen,
            dialect,
            participants,
            join_notices,
        } => commands::sim(listen, dialect, participants, join_notices),
        Command::Generate { what, out } => commands::generate(what, &out),
        Command::State { state_dir, action } => {
            commands::state(&target, state_dir.as_deref(), &action)
        }
        Command::Simulate {
            rules,
            at,
            user_data,
            explain,
            customer,
            state_dir,
            transcript,
        } => gws_botd::cli::simulate::command(&gws_botd::cli::simulate::Options {
            rules: commands::simulate_rules(&target, rules),
            state_dir: commands::simulate_state_dir(&target, state_dir),
            at,
            user_data,
            explain,
            customer,
            transcript,
        }),
        Command::Coverage {
            since,
            json,
            rules,
            shadow_rules,
            state_dir,
        } => commands::coverage::command(
            &target,
            &commands::coverage::Request {
                rules,
                shadow_rules,
                state_dir,
                since,
                json,
                chain: None,
            },
            jiff::Timestamp::now(),
        ),
        Command::Schedule {
            rules,
            from,
            weeks,
            schedule,
            state_dir,
        } => commands::schedule_cmd::command(
            &target,
            &commands::schedule_cmd::Request {
                rules,
                from,
                weeks,
                schedule,
                state_dir,
            },
            jiff::Timestamp::now(),
        ),
        Command::Override { state_dir, action } => {
            use gws_botd::cli::override_cmd::Request;
            let request = match action {
                gws_botd::cli::args::OverrideAction::Closed {
                    until,
                    schedule,
                    message,
                    replace,
                } => Request::Closed {
                    until,
                    schedule,
                    message,
                    replace,
                },
                gws_botd::cli::args::OverrideAction::Clear => Request::Clear,
                gws_botd::cli::args::OverrideAction::Show => Request::Show,
            };
            commands::override_command(&target, state_dir.as_deref(), &request)
        }
    };
    ExitCode::from(code)
}
