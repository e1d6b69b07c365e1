//! The `paystack` command. It parses flags, loads and validates configuration before any AWS
//! call, wires the engine to the AWS reconcilers and the state backend, and renders what
//! happens. It is the only crate that prints.
//!
//! Exit codes: 0 success, 1 error, 2 changes found (`plan --detailed-exitcode`).

#[macro_use]
mod output;

mod args;
mod commands;
mod diagnostics;
mod logging;
mod render;
mod stream;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Usage errors are errors (1); 2 means "changes found" in this tool.
            return if e.use_stderr() { ExitCode::from(1) } else { ExitCode::SUCCESS };
        }
    };
    // Diagnostics wrap to the terminal's width, but never in a pipe or a CI log, where a
    // flag split across two lines cannot be searched for.
    let wrap = std::io::stderr().is_terminal();
    let _ = miette::set_hook(Box::new(move |_| Box::new(miette::MietteHandlerOpts::new().wrap_lines(wrap).build())));
    // Logs go to stderr; product output goes to stdout.
    logging::init();
    // Read again where the clients are made; checked here, before anything else happens.
    if let Err(e) = paystack_aws::WaitClock::from_env() {
        diagln!("error: {e}; it is for the latency benchmark (docs/TESTING.md), and unset means real time");
        return ExitCode::from(1);
    }
    if cli.no_assume_role {
        paystack_aws::act_as_caller();
    }
    // Before any thread starts: the only time the local offset can be read safely.
    paystack_state::when::use_local_offset();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            diagln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(report) => {
            diagln!("{report:?}");
            ExitCode::from(1)
        }
    }
}
