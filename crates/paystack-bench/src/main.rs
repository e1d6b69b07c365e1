//! paystack's benchmarks. Each prints a table and writes its figures as JSON under
//! `target/bench/`. They measure; they assert nothing. Run them through `scripts/bench`.

mod played;
mod scheduler;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "paystack-bench", about = "paystack's benchmarks: figures, not tests")]
struct Args {
    #[command(subcommand)]
    bench: Bench,
    /// The configuration directory whose environments are benchmarked.
    #[arg(long, global = true, default_value = "config")]
    config: PathBuf,
    /// Where the JSON figures go.
    #[arg(long, global = true, default_value = "target/bench")]
    out: PathBuf,
}

#[derive(Subcommand)]
enum Bench {
    /// The executor on the real graphs, with every AWS call replaced by a timer from the
    /// latency table: makespan against the critical path, and against a model of a
    /// Terraform-like walker.
    Scheduler {
        /// Every duration of the latency table is multiplied by this.
        #[arg(long, default_value_t = 0.001)]
        scale: f64,
        /// Runs per workload; the median is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// The slowest chain of an environment's real graph, each create taking as long as the
    /// test proxy plays it, as one JSON object on stdout: what `scripts/bench e2e
    /// --latency-scale` sets the real binary's makespan against.
    CriticalPath {
        #[arg(long, default_value = "prod")]
        env: String,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.bench {
        Bench::Scheduler { scale, runs } => scheduler::run(&args.config, &args.out, scale, runs),
        Bench::CriticalPath { env } => played::run(&args.config, &env),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
