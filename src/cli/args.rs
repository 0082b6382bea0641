//! The command line: the clap definition `main.rs` parses, kept in the library so the man pages
//! and shell completions are generated from the same definition (`gws-botd generate`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

/// What the man page says after the options: files, environment, signals, exit codes.
const AFTER_LONG_HELP: &str = "\
Files:
  /etc/gws-botd/gws-botd.toml: the configuration
  /etc/gws-botd/rules/: the rule files (bot.rules)
  /var/lib/gws-botd/: the state directory (bot.state_dir)

Environment:
  GWS_BOTD_CONFIG: the configuration file
  GWS_BOTD__SECTION__KEY: overrides a configuration key
  CREDENTIALS_DIRECTORY: its file gws-password is the password
  NOTIFY_SOCKET, WATCHDOG_USEC: set by systemd
  GWS_BOTD_LOG_FORMAT: pretty, json or journald (--log-format)
  RUST_LOG: log filter, e.g. info or gws_botd=debug

Signals (run):
  SIGHUP: reload the rule files (all valid, or none);
    `gws-botd reload` sends it and waits for the outcome
  SIGTERM, SIGINT: NotReady, let open chats finish, log out

Instances (gws-botd@NAME):
  --instance NAME reads /etc/gws-botd/NAME.toml and keeps state
  in /var/lib/gws-botd/NAME unless bot.state_dir says otherwise

Exit codes:
  0 ok, 64 usage error, 78 invalid configuration or rules,
  1 any other failure

See /usr/share/doc/gws-botd/operations.md for running it
as a systemd service.";

/// A bot agent for Genesys Web Services chat.
#[derive(Debug, Parser)]
#[command(name = "gws-botd", version, about, long_about = None, after_long_help = AFTER_LONG_HELP)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, env = "GWS_BOTD_CONFIG", default_value = crate::config::DEFAULT_PATH)]
    pub config: PathBuf,

    /// The template instance NAME (unit gws-botd@NAME): its configuration is
    /// /etc/gws-botd/NAME.toml and its state directory /var/lib/gws-botd/NAME.
    #[arg(long, global = true, value_name = "NAME", conflicts_with = "config")]
    pub instance: Option<String>,

    /// Log format: `auto` picks journald when started by systemd, pretty text otherwise.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "GWS_BOTD_LOG_FORMAT",
        default_value = "auto"
    )]
    pub log_format: crate::telemetry::logging::Format,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The configuration the command works on: `--instance NAME` or `--config`.
    pub fn target(&self) -> Result<crate::config::Target, String> {
        match &self.instance {
            Some(name) => crate::config::Target::instance(name),
            None => Ok(crate::config::Target::file(&self.config)),
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bot agent against the GWS server in the configuration.
    Run,
    /// Check the configuration, the files it names and the rule files, print every problem,
    /// and exit 78 on any that `run` would stop on. Unless --offline it also logs in to GWS
    /// (a refused login exits 78; an unreachable server is reported, not a failure) and asks
    /// which dialect it speaks.
    Check {
        /// Check this rules directory instead of the one in the configuration (the
        /// configuration is then optional).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Do not contact GWS (the systemd units check offline before start and reload).
        #[arg(long)]
        offline: bool,
    },
    /// Make the running daemon reload its rules and wait until it reports them live (exit 0)
    /// or refused (exit 78, the problems printed): for `ExecReload=`.
    Reload {
        /// The daemon's process id (default: from its status file in the state directory).
        #[arg(long)]
        pid: Option<u32>,
        /// How long to wait for the daemon's answer.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Run the embedded GWS simulator and the bot together with scripted customers.
    Demo {
        /// Keep going with new customers until interrupted.
        #[arg(long)]
        forever: bool,
        /// The rules directory to use.
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
        /// Shadow rules tried beside the rules and never sent (default: `rules-next` next to
        /// the rules directory, when there is one); `explain` of the FAQ chat shows them.
        #[arg(long)]
        shadow: Option<PathBuf>,
        /// The chat API the simulator and the bot speak: `interactions` (GWS 8.5.0) or
        /// `chats` (released GWS 8.5.2+).
        #[arg(long, value_enum, default_value = "interactions")]
        dialect: crate::sim::SimDialect,
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
    /// Talk to the rules without any server: customer lines from a terminal, stdin or a
    /// transcript file; prints each bot action with its rule.
    Simulate {
        /// The rules directory (default: "rules", or bot.rules of --instance).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// The time the rules see, e.g. "2026-11-24T10:00" (local) or
        /// "2026-11-24T10:00[Europe/Berlin]" (default: now).
        #[arg(long)]
        at: Option<String>,
        /// Attached data of the chat, KEY=VALUE (repeatable).
        #[arg(long = "user-data", value_name = "KEY=VALUE")]
        user_data: Vec<String>,
        /// Show every rule tried for each message and why it did or did not act.
        #[arg(long)]
        explain: bool,
        /// The customer's nickname.
        #[arg(long)]
        customer: Option<String>,
        /// Honour the emergency override of this state directory (default with --instance:
        /// the instance's).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Transcript file, one customer message per line (default: stdin).
        transcript: Option<PathBuf>,
    },
    /// Emergency override: close every schedule (or one) until a given time.
    Override {
        /// The daemon's state directory (default: bot.state_dir of the configuration).
        #[arg(long, global = true)]
        state_dir: Option<PathBuf>,
        #[command(subcommand)]
        action: OverrideAction,
    },
    /// Inspect the chat state the daemon saved to continue chats after a restart (reads its
    /// database without changing it; works while the daemon runs).
    State {
        /// The daemon's state directory (default: bot.state_dir of the configuration).
        #[arg(long, global = true)]
        state_dir: Option<PathBuf>,
        #[command(subcommand)]
        action: StateAction,
    },
    /// Rule coverage from the decision log: hits per live and shadow rule, rules that never
    /// fired and rules that can never fire, the share of customer messages no message rule
    /// matched per day, and the shadow rules' disagreements.
    Coverage {
        /// How far back to look, e.g. "7d", "24h", "30d".
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        since: std::time::Duration,
        /// Print JSON instead (fields in docs/reports.md).
        #[arg(long)]
        json: bool,
        /// The live rules directory (default: bot.rules of the configuration).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// The shadow rules directory (default: shadow.rules of the configuration, if set).
        #[arg(long)]
        shadow_rules: Option<PathBuf>,
        /// The state directory holding the decision log (default: bot.state_dir of the
        /// configuration).
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// The schedules' opening hours day by day: open intervals with their UTC offset, closed
    /// dates and holidays, DST changes and the emergency override in force.
    Schedule {
        /// The rules directory (default: bot.rules of the configuration).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// The first day, e.g. "2026-03-23" (default: today in each schedule's zone).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// How many weeks to show.
        #[arg(long, default_value_t = 2)]
        weeks: u32,
        /// Only this schedule (default: all).
        #[arg(long, value_name = "NAME")]
        schedule: Option<String>,
        /// The daemon's state directory, for the emergency override (default: bot.state_dir
        /// of the configuration).
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Run the GWS simulator alone, for trying the bot or other clients against it.
    Sim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
        /// The chat API to speak: `interactions` (GWS 8.5.0, `/me/interactions/{id}`) or
        /// `chats` (released GWS 8.5.2+, `/me/chats/{id}`).
        #[arg(long, value_enum, default_value = "interactions")]
        dialect: crate::sim::SimDialect,
        /// How participants are described: `minimal` (`type`, `nickname`, `participantId`, as
        /// older servers) or `named` (agents also carry `uri` and `path` of their user).
        #[arg(long, value_enum, default_value = "minimal")]
        participants: crate::sim::ParticipantForm,
        /// How an agent joining is announced: `participants-first`, `entry-first`,
        /// `participants-only` or `entry-only`.
        #[arg(long, value_enum, default_value = "participants-first")]
        join_notices: crate::sim::JoinNotices,
    },
    /// Write the man pages or shell completions (for packaging).
    #[command(hide = true)]
    Generate {
        /// What to write.
        what: Generated,
        /// The directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

/// What `gws-botd generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generated {
    /// gws-botd.1 and one page per subcommand (gws-botd-run.1, …).
    Man,
    /// Completions for bash, zsh, fish, elvish and PowerShell.
    Completions,
}

/// Write `what` into `out` and return the files written.
pub fn generate(what: Generated, out: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let cmd = Cli::command();
    match what {
        Generated::Man => {
            clap_mangen::generate_to(cmd, out)?;
        }
        Generated::Completions => {
            let mut cmd = cmd;
            for shell in clap_complete::Shell::value_variants() {
                clap_complete::generate_to(*shell, &mut cmd, "gws-botd", out)?;
            }
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(out)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    Ok(files)
}

/// What `gws-botd override` does.
#[derive(Debug, Subcommand)]
pub enum OverrideAction {
    /// Close schedules until a time or for a while. Checked against the daemon's rules.
    Closed {
        /// "18:00" (the next 18:00 in the schedule's zone), "2026-11-25T18:00" (in that
        /// zone), "2026-11-25T18:00+01:00" or a duration ("2h", "90m").
        #[arg(long)]
        until: String,
        /// Only this schedule of the rules (default: all).
        #[arg(long)]
        schedule: Option<String>,
        /// A file whose text replaces the reply of rules that act because the schedule is
        /// closed; a reply template ({customer}, {next_open.NAME}, …), checked like a rule's.
        #[arg(long)]
        message: Option<PathBuf>,
        /// Replace the override in force (it is shown).
        #[arg(long)]
        replace: bool,
    },
    /// End the override now.
    Clear,
    /// Show the override, if any.
    Show,
}

/// What `gws-botd state` does.
#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// One line per saved chat: its id, when it was last written (local time), whether it
    /// was greeted, the stage of a hand-over and the transcript cursor.
    List {
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Every saved field of one chat.
    Show {
        /// The chat's interaction id (as in logs and GWS).
        chat_id: String,
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sim_takes_a_dialect() {
        use crate::sim::SimDialect;
        let dialect = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Command::Sim { dialect, .. }) => Some(dialect),
            _ => None,
        };
        assert_eq!(
            dialect(&["gws-botd", "sim"]),
            Some(SimDialect::Interactions)
        );
        assert_eq!(
            dialect(&["gws-botd", "sim", "--dialect", "chats"]),
            Some(SimDialect::Chats)
        );
        assert_eq!(dialect(&["gws-botd", "sim", "--dialect", "auto"]), None);
    }

    #[test]
    fn sim_takes_participant_form_and_join_notices() {
        use crate::sim::{JoinNotices, ParticipantForm};
        let parse = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Command::Sim {
                participants,
                join_notices,
                ..
            }) => Some((participants, join_notices)),
            _ => None,
        };
        assert_eq!(
            parse(&["gws-botd", "sim"]),
            Some((ParticipantForm::Minimal, JoinNotices::ParticipantsFirst))
        );
        assert_eq!(
            parse(&[
                "gws-botd",
                "sim",
                "--participants",
                "named",
                "--join-notices",
                "entry-only"
            ]),
            Some((ParticipantForm::Named, JoinNotices::EntryOnly))
        );
        assert_eq!(parse(&["gws-botd", "sim", "--participants", "full"]), None);
    }

    #[test]
    fn man_pages_and_completions_are_generated() {
        let dir = std::env::temp_dir().join(format!("gws-botd-gen-{}", rand::random::<u64>()));
        let man = generate(Generated::Man, &dir.join("man")).unwrap();
        let names: Vec<String> = man
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "gws-botd-check.1",
                "gws-botd-coverage.1",
                "gws-botd-demo.1",
                "gws-botd-explain.1",
                "gws-botd-override-clear.1",
                "gws-botd-override-closed.1",
                "gws-botd-override-show.1",
                "gws-botd-override.1",
                "gws-botd-reload.1",
                "gws-botd-run.1",
                "gws-botd-schedule.1",
                "gws-botd-sim.1",
                "gws-botd-simulate.1",
                "gws-botd-state-list.1",
                "gws-botd-state-show.1",
                "gws-botd-state.1",
                "gws-botd.1"
            ]
        );
        let page = std::fs::read_to_string(dir.join("man/gws-botd.1")).unwrap();
        assert!(page.contains("SIGHUP"), "the extra section is rendered");
        assert!(
            !page.contains("generate"),
            "the packaging command stays hidden"
        );

        let completions = generate(Generated::Completions, &dir.join("completions")).unwrap();
        assert_eq!(completions.len(), 5, "{completions:?}");
        let bash = std::fs::read_to_string(dir.join("completions/gws-botd.bash")).unwrap();
        assert!(bash.contains("--rules"), "subcommand options are completed");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn instance_names_the_configuration_and_state_of_every_command() {
        let target = |args: &[&str]| Cli::try_parse_from(args).map(|c| c.target());
        for command in [
            &["override", "show"][..],
            &["explain", "CHAT"][..],
            &["check", "--offline"][..],
            &["simulate"][..],
            &["reload"][..],
            &["run"][..],
            &["coverage"][..],
            &["schedule"][..],
        ] {
            let mut args = vec!["gws-botd"];
            args.extend_from_slice(command);
            args.extend_from_slice(&["--instance", "bot01"]);
            let t = target(&args).unwrap().unwrap();
            assert_eq!(t.path, Path::new("/etc/gws-botd/bot01.toml"), "{command:?}");
            assert_eq!(t.instance.as_deref(), Some("bot01"));
        }
        let t = target(&["gws-botd", "check"]).unwrap().unwrap();
        assert_eq!(t.instance, None);
        assert!(
            target(&[
                "gws-botd",
                "check",
                "--instance",
                "a",
                "--config",
                "/x.toml"
            ])
            .is_err(),
            "--instance and --config exclude each other"
        );
        assert!(
            target(&["gws-botd", "check", "--instance", "../etc"])
                .unwrap()
                .is_err()
        );
    }
}
