//! The `gws-botd` command: parse the command line, set up logging, load configuration and hand
//! over to the library. Exit codes follow sysexits: 0 ok, 64 usage, 78 bad config or rules,
//! 1 anything else.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gws_botd::{app, logging};

/// A bot agent for Genesys Web Services chat.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Configuration file.
    #[arg(long, global = true, env = "GWS_BOTD_CONFIG", default_value = gws_botd::config::DEFAULT_PATH)]
    config: PathBuf,

    /// Log format: `auto` picks journald when started by systemd, pretty text otherwise.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "GWS_BOTD_LOG_FORMAT",
        default_value = "auto"
    )]
    log_format: logging::Format,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the bot agent against the GWS server in the configuration.
    Run,
    /// Check the configuration and the rule files, print every problem, and exit.
    Check {
        /// Check this rules directory instead of the one in the configuration (the
        /// configuration is then optional).
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// Run the embedded GWS simulator and the bot together with scripted customers.
    Demo {
        /// Keep going with new customers until interrupted.
        #[arg(long)]
        forever: bool,
        /// The rules directory to use.
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
    },
    /// Tell one chat's story from the decision log: what the customer wrote, which rules acted,
    /// what the bot said, each hand-over step and how the chat ended.
    Explain {
        /// The chat's interaction id (as in logs and GWS).
        chat_id: String,
        /// The state directory holding the decision log (default: `bot.state_dir` from the
        /// configuration, else /var/lib/gws-botd).
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Run the GWS simulator alone, for trying the bot or other clients against it.
    Sim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
    },
}

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
    if !matches!(cli.command, Command::Check { .. } | Command::Explain { .. }) {
        logging::init(cli.log_format, default_filter);
    }
    let code = match cli.command {
        Command::Run => app::run(&cli.config),
        Command::Check { rules } => app::check(&cli.config, rules.as_deref()),
        Command::Demo { forever, rules } => app::demo(&rules, forever),
        Command::Explain { chat_id, state_dir } => {
            app::explain(&cli.config, &chat_id, state_dir.as_deref())
        }
        Command::Sim { listen } => app::sim(listen),
    };
    ExitCode::from(code)
}
