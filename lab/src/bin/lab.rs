//! `v2xd-lab`: check or run a lab scenario (docs/LAB.md).

use clap::{Parser, Subcommand};
use lab::plan::Plan;
use lab::run::{run, RunOptions};
use lab::scenario::{Scenario, ScenarioError};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "v2xd-lab",
    version,
    about = "Drive a road of real v2xd daemons from a scenario or a mobility trace"
)]
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
        /// Serve the live web view at ADDR while the run lasts.
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8080")]
        web: Option<String>,
    },
    /// Serve the web view of a finished run (the directory of `run --out`)
    /// until Ctrl-C.
    View {
        dir: PathBuf,
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        web: String,
    },
    /// Remove namespaces and processes left by a lab that was killed.
    Clean,
    /// Write a mobility trace from a built-in model to standard output.
    Trace {
        #[command(subcommand)]
        model: TraceModel,
    },
}

#[derive(Subcommand)]
enum TraceModel {
    /// Vehicles driving block by block through a grid of streets.
    CityGrid {
        /// Blocks in each direction.
        #[arg(long, default_value_t = 5)]
        blocks: u32,
        /// Length of a block, metres.
        #[arg(long, default_value_t = 150.0)]
        block_m: f64,
        #[arg(long, default_value_t = 60)]
        vehicles: usize,
        /// Slowest and fastest speed on a block, km/h.
        #[arg(long, num_args = 2, default_values_t = [25.0, 50.0])]
        speed_kmh: Vec<f64>,
        /// Longest wait at an intersection, s.
        #[arg(long, default_value_t = 15.0)]
        max_wait: f64,
        #[arg(long, default_value_t = 300.0)]
        duration: f64,
        /// Share of vehicles that enter late or leave early.
        #[arg(long, default_value_t = 0.2)]
        churn: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// `ns2` (BonnMotion's setdest file) or `sumo-fcd`.
        #[arg(long, default_value = "ns2")]
        format: String,
        /// Time between FCD timesteps, s.
        #[arg(long, default_value_t = 1.0)]
        step: f64,
    },
}

fn write_trace(model: TraceModel) -> Result<String, ScenarioError> {
    let TraceModel::CityGrid {
        blocks,
        block_m,
        vehicles,
        speed_kmh,
        max_wait,
        duration,
        churn,
        seed,
        format,
        step,
    } = model;
    let ok = |v: f64| v.is_finite() && v > 0.0;
    if blocks == 0 || !ok(block_m) || vehicles == 0 || !ok(duration) || !ok(step) {
        return Err(ScenarioError::file(
            "--blocks, --block-m, --vehicles, --duration and --step must be above 0",
        ));
    }
    let (lo, hi) = (speed_kmh[0], speed_kmh[1]);
    if !(ok(lo) && lo <= hi && hi.is_finite()) {
        return Err(ScenarioError::key(
            "--speed-kmh",
            format!("{lo} {hi}: expected 0 < min <= max"),
        ));
    }
    if !((0.0..=1.0).contains(&churn) && max_wait.is_finite() && max_wait >= 0.0) {
        return Err(ScenarioError::file(
            "--churn is 0 to 1, --max-wait 0 or more",
        ));
    }
    let grid = lab::mobility::city::CityGrid {
        blocks_x: blocks,
        blocks_y: blocks,
        block_m,
        vehicles,
        speed_kmh: (lo, hi),
        max_wait_s: max_wait,
        duration_s: duration,
        churn,
        seed,
    };
    let trace = grid.tracks();
    let header = format!(
        "city grid: {blocks}x{blocks} blocks of {block_m} m, {vehicles} vehicles at {lo}-{hi} km/h,\nwaits up to {max_wait} s, churn {churn}, {duration} s, seed {seed}\nwritten by: v2xd-lab trace city-grid --blocks {blocks} --block-m {block_m} --vehicles {vehicles} --speed-kmh {lo} {hi} --max-wait {max_wait} --duration {duration} --churn {churn} --seed {seed} --format {format}"
    );
    match format.as_str() {
        "ns2" => Ok(lab::mobility::city::to_ns2(&trace, &header)),
        "sumo-fcd" => Ok(lab::mobility::city::to_sumo_fcd(&trace, step)),
        other => Err(ScenarioError::key(
            "--format",
            format!("{other}: expected ns2 or sumo-fcd"),
        )),
    }
}

/// The scenario at `path`, run for `duration` instead of its own if given
/// (flows and the road are planned for the time that will run).
fn load(path: &Path, duration: Option<f64>) -> Result<Plan, ScenarioError> {
    let mut s = Scenario::load(path)?;
    if let Some(d) = duration {
        if !(d.is_finite() && d > 0.0) {
            return Err(ScenarioError::key(
                "--duration",
                format!("{d}: must be above 0"),
            ));
        }
        s.duration_s = d;
    }
    Plan::new(s)
}

/// Serves a recorded run until Ctrl-C or SIGTERM.
fn view(dir: &Path, addr: &str) -> ExitCode {
    let server = match lab::web::serve_replay(addr, dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "web view of {}: http://{}/ (Ctrl-C ends it)",
        dir.display(),
        server.addr
    );
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    drop(server);
    ExitCode::SUCCESS
}

fn describe(plan: &Plan) -> String {
    let s = &plan.scenario;
    format!(
        "{}: {} RSUs, {} OBUs, {} flows, {} events, {:.0} s, security {}, backbone {}",
        s.name,
        plan.rsus().count(),
        plan.obus().count(),
        plan.flows.len(),
        plan.events.len(),
        s.duration_s,
        s.security.as_str(),
        if s.backbone { "on" } else { "off" }
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { scenario } => match load(&scenario, None) {
            Ok(plan) => {
                println!("ok: {}", describe(&plan));
                for w in &plan.warnings {
                    println!("warning: {w}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {}: {e}", scenario.display());
                ExitCode::from(2)
            }
        },
        Command::Run {
            scenario,
            duration,
            out,
            quiet,
            web,
        } => {
            let plan = match load(&scenario, duration) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {}: {e}", scenario.display());
                    return ExitCode::from(2);
                }
            };
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
                out: out.clone(),
                stop,
                verbose: !quiet,
                web,
            };
            match run(&plan, &opts) {
                Ok(r) => {
                    println!("{}", r.summary());
                    println!("results: {}", out.display());
                    println!("replay: v2xd-lab view {}", out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Trace { model } => match write_trace(model) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::View { dir, web } => view(&dir, &web),
        Command::Clean => {
            for n in lab::run::remove_stale() {
                println!("removed {n}");
            }
            ExitCode::SUCCESS
        }
    }
}
