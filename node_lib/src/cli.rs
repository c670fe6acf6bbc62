//! The command line shared by `obu` and `rsu`.

use crate::config::RoleKind;
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
    },
    /// Create a node identity: an Ed25519 secret key in FILE (mode 0600,
    /// never overwritten) and its public key in FILE.pub; prints the public
    /// key (what peers list in `trusted_rsus` / `allowed_obus`).
    Keygen {
        #[arg(value_name = "FILE")]
        path: PathBuf,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShowWhat {
    Neighbors,
    Routes,
    Stats,
}

/// Parses the command line and runs the daemon (or a subcommand).
pub fn main(kind: RoleKind, run: fn(&std::path::Path, bool) -> i32) -> i32 {
    let cli = Cli::parse();
    let config = cli
        .config
        .unwrap_or_else(|| PathBuf::from(format!("/etc/v2xd/{}.toml", kind.as_str())));
    match cli.command {
        Some(Command::Show { what, api }) => crate::show::run(kind, what, &api),
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
    match id.save(path) {
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
