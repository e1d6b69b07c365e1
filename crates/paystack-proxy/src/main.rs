//! `paystack-proxy`: the test proxy as a process of its own, for the latency benchmark.
//!
//! It prints `listening on URL` as its first line, then serves until its standard input
//! closes. Then it prints one line for each answer it rewrote, and what it counted.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use paystack_proxy::{FaultProxy, Latency, SETTLING};

#[derive(Parser)]
#[command(name = "paystack-proxy", about)]
struct Args {
    /// The emulator's URL.
    #[arg(long)]
    upstream: String,
    /// Play AWS's durations (aws-latency.toml) at this share of real time, such as 0.005.
    #[arg(long, value_name = "S")]
    latency_scale: Option<f64>,
    /// With --latency-scale: the latency-table row (nat_gateway, rds_cluster, ...) whose
    /// first resource never settles.
    #[arg(long, value_name = "ROW", requires = "latency_scale")]
    stuck: Option<String>,
    /// The share of requests that get a fault, from 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Picks which requests get a fault: one seed, one sequence.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let stuck = match &args.stuck {
        None => None,
        Some(row) => match SETTLING.iter().find(|s| s.row == row) {
            Some(s) => Some(s.row),
            None => {
                let rows: Vec<&str> = SETTLING.iter().map(|s| s.row).collect();
                eprintln!("error: --stuck {row}: not a row that settles; one of {}", rows.join(", "));
                return ExitCode::from(1);
            }
        },
    };
    let latency = match args.latency_scale {
        Some(scale) if !(scale > 0.0 && scale <= 1.0) => {
            eprintln!("error: --latency-scale {scale} must be above 0 and at most 1");
            return ExitCode::from(1);
        }
        Some(scale) => Some(Latency { scale, stuck }),
        None => None,
    };
    if !(0.0..=1.0).contains(&args.fault_rate) {
        eprintln!("error: --fault-rate {} must be from 0 to 1", args.fault_rate);
        return ExitCode::from(1);
    }
    let proxy = FaultProxy::serve_with(&args.upstream, args.seed, args.fault_rate, latency);
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on {}", proxy.url);
    let _ = out.flush();
    // Serve until whoever started this closes its end.
    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
    for line in proxy.rewrites() {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "{}", proxy.counts);
    ExitCode::SUCCESS
}
