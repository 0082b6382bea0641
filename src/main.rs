//! The `gws-botd` command: parse the command line, set up logging, load configuration and hand
//! over to the library. Exit codes follow sysexits: 0 ok, 64 usage, 78 bad config or rules,
//! 1 anything else.

use std::process::ExitCode;

use clap::Parser;
use gws_botd::cli::{Cli, Command};
use gws_botd::{app, logging};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { app::EXIT_USAGE } else { 0 };
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
        Command::Check { .. } | Command::Explain { .. } | Command::Generate { .. }
    ) {
        logging::init(cli.log_format, default_filter);
    }
    let code = match cli.command {
        Command::Run => app::run(&cli.config),
        Command::Check { rules, offline } => app::check(&cli.config, rules.as_deref(), offline),
        Command::Demo {
            forever,
            rules,
            dialect,
        } => app::demo(&rules, forever, dialect),
        Command::Explain { chat_id, state_dir } => {
            app::explain(&cli.config, &chat_id, state_dir.as_deref())
        }
        Command::Sim {
            listen,
            dialect,
            participants,
            join_notices,
        } => app::sim(listen, dialect, participants, join_notices),
        Command::Generate { what, out } => app::generate(what, &out),
        Command::Simulate {
            rules,
            at,
            user_data,
            explain,
            customer,
            state_dir,
            transcript,
        } => gws_botd::simulate::command(&gws_botd::simulate::Options {
            rules,
            at,
            user_data,
            explain,
            customer,
            state_dir,
            transcript,
        }),
        Command::Override { state_dir, action } => {
            use gws_botd::override_cli::Request;
            let request = match action {
                gws_botd::cli::OverrideAction::Closed {
                    until,
                    schedule,
                    message,
                } => Request::Closed {
                    until,
                    schedule,
                    message,
                },
                gws_botd::cli::OverrideAction::Clear => Request::Clear,
                gws_botd::cli::OverrideAction::Show => Request::Show,
            };
            app::override_command(&cli.config, state_dir.as_deref(), &request)
        }
    };
    ExitCode::from(code)
}
