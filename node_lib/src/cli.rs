//! The command line shared by `obu` and `rsu`.

use crate::config::RoleKind;
use crate::show::{Format, ShowWhat};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(version, about = "v2xd: IP over a multi-hop V2X radio network")]
pub struct Cli {
    /// TOML configuration file [default: /etc/v2xd/<obu|rsu>.toml].
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Validate the configuration and exit (0 when valid, 78 when not).
    #[arg(long)]
    pub check_config: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print state of a running daemon as tables (from its HTTP API).
    Show {
        #[arg(value_enum)]
        what: ShowWhat,
        /// API address of the daemon.
        #[arg(long, default_value = "127.0.0.1:9100")]
        api: String,
        /// Output of `show topology`: an indented tree, JSON, or a
        /// Graphviz graph (`| dot -Tsvg > cell.svg`).
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Round trips to a node over the v2x overlay (not IP): TARGET is a
    /// node id (aa:bb:cc:dd:ee:ff) or one of its addresses. Sent by the
    /// running daemon; signed in the secure modes.
    Ping {
        target: String,
        /// Probes to send.
        #[arg(short, long, default_value_t = 3)]
        count: u32,
        /// Seconds between probes.
        #[arg(short, long, default_value_t = 1.0)]
        interval: f64,
        /// Seconds to wait for each answer.
        #[arg(short = 'W', long, default_value_t = 1.0)]
        timeout: f64,
        /// API address of the daemon.
        #[arg(long, default_value = "127.0.0.1:9100")]
        api: String,
    },
    /// The v2x hops (relays) to a node, with round trips: probes with TTL
    /// 1, 2, ... until the target answers.
    Traceroute {
        target: String,
        /// Most hops to try.
        #[arg(short, long, default_value_t = 16)]
        max_hops: u8,
        /// Seconds to wait for each answer.
        #[arg(short = 'W', long, default_value_t = 1.0)]
        timeout: f64,
        /// API address of the daemon.
        #[arg(long, default_value = "127.0.0.1:9100")]
        api: String,
    },
    /// Create a node identity: an Ed25519 secret key in FILE (mode 0600,
    /// never overwritten) and its public key in FILE.pub; prints the public
    /// key (what peers list in `trusted_rsus` / `allowed_obus`).
    Keygen {
        #[arg(value_name = "FILE")]
        path: PathBuf,
    },
}

/// The command line of `obu` or `rsu` as a [`clap::Command`], named after
/// the role: for documentation generated from it (man pages).
pub fn command(kind: RoleKind) -> clap::Command {
    use clap::CommandFactory;
    Cli::command().name(kind.as_str()).bin_name(kind.as_str())
}

/// Parses the command line and runs the daemon (or a subcommand).
pub fn main(kind: RoleKind, run: fn(&std::path::Path, bool) -> i32) -> i32 {
    // Named after the role (`obu --version`, usage lines), not the crate.
    let cli = {
        use clap::FromArgMatches;
        Cli::from_arg_matches(&command(kind).get_matches()).unwrap_or_else(|e| e.exit())
    };
    let config = cli
        .config
        .unwrap_or_else(|| PathBuf::from(format!("/etc/v2xd/{}.toml", kind.as_str())));
    match cli.command {
        Some(Command::Show { what, api, format }) => crate::show::run(what, &api, format),
        Some(Command::Ping {
            target,
            count,
            interval,
            timeout,
            api,
        }) => crate::diag::ping(&api, &target, count, interval, timeout),
        Some(Command::Traceroute {
            target,
            max_hops,
            timeout,
            api,
        }) => crate::diag::traceroute(&api, &target, max_hops, timeout),
        Some(Command::Keygen { path }) => keygen(&path),
        None => run(&config, cli.check_config),
    }
}

fn keygen(path: &std::path::Path) -> i32 {
    let id = match secure::Identity::generate() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    match crate::key_file::save(&id, path) {
        Ok(pub_path) => {
            eprintln!(
                "wrote secret key {} (mode 0600) and public key {}",
                path.display(),
                pub_path.display()
            );
            println!("{}", id.public());
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
