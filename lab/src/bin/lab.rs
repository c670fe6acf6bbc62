//! `v2xd-lab`: check or run a lab scenario (docs/LAB.md).

use clap::{Parser, Subcommand};
use lab::plan::Plan;
use lab::run::{run, RunOptions};
use lab::scenario::Scenario;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "v2xd-lab", version, about = "Drive a road of real v2xd daemons from a scenario or a mobility trace")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a scenario (and the trace it names) without running it.
    Check { scenario: PathBuf },
    /// Run a scenario: build it, drive it, write results.json and summary.md.
    Run {
        scenario: PathBuf,
        /// Run this long instead of the scenario's duration_s.
        #[arg(long, value_name = "SECS")]
        duration: Option<f64>,
        /// Where the results go (default: lab-out/<scenario name>).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// No progress lines, only the summary.
        #[arg(long)]
        quiet: bool,
    },
    /// Remove namespaces and processes left by a lab that was killed.
    Clean,
}

fn load(path: &Path) -> Result<Plan, String> {
    let s = Scenario::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Plan::new(s).map_err(|e| format!("{}: {e}", path.display()))
}

fn describe(plan: &Plan) -> String {
    let s = &plan.scenario;
    format!(
        "{}: {} RSUs, {} OBUs, {} flows, {:.0} s, security {}, backbone {}",
        s.name,
        plan.rsus().count(),
        plan.obus().count(),
        plan.flows.len(),
        s.duration_s,
        s.security.name(),
        if s.backbone { "on" } else { "off" }
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { scenario } => match load(&scenario) {
            Ok(plan) => {
                println!("ok: {}", describe(&plan));
                for w in &plan.warnings {
                    println!("warning: {w}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Run {
            scenario,
            duration,
            out,
            quiet,
        } => {
            let plan = match load(&scenario) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            if let Some(d) = duration {
                if !(d.is_finite() && d > 0.0) {
                    eprintln!("error: --duration {d}: must be above 0");
                    return ExitCode::from(2);
                }
            }
            let stop = Arc::new(AtomicBool::new(false));
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                // A second Ctrl-C while the lab cleans up ends it at once
                // (`v2xd-lab clean` removes what is left).
                let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone());
                let _ = signal_hook::flag::register(sig, stop.clone());
            }
            let out = out.unwrap_or_else(|| PathBuf::from("lab-out").join(&plan.scenario.name));
            if !quiet {
                eprintln!("lab: {}", describe(&plan));
            }
            let opts = RunOptions {
                duration_s: duration,
                out: out.clone(),
                stop,
                verbose: !quiet,
            };
            match run(&plan, &opts) {
                Ok(r) => {
                    println!("{}", r.summary());
                    println!("results: {}", out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Clean => {
            for n in lab::run::remove_stale() {
                println!("removed {n}");
            }
            ExitCode::SUCCESS
        }
    }
}
