//! Command-line flags as typed, before anything is loaded or checked.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Provisions the payment platform on AWS, one environment at a time.
#[derive(Debug, Parser)]
#[command(name = "paystack", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// The configuration directory: shared.toml plus one file per environment.
    #[arg(long, global = true, default_value = "config", env = "PAYSTACK_CONFIG")]
    pub(crate) config: PathBuf,

    /// Where the local state backend keeps one state file per stack.
    #[arg(long, global = true, default_value = "state", env = "PAYSTACK_STATE_DIR")]
    pub(crate) state_dir: PathBuf,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show what apply would change, read from live AWS.
    Plan {
        #[command(flatten)]
        stack: StackArgs,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
        /// Exit 2 when there are changes (0 when there are none, 1 on error).
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Converge AWS to the configuration.
    Apply {
        #[command(flatten)]
        stack: StackArgs,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Allow deleting or replacing resources of a protected environment.
        #[arg(long)]
        override_protection: bool,
    },
    /// Delete every resource of the stack, dependents first.
    Destroy {
        #[command(flatten)]
        stack: StackArgs,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Allow destroying a protected environment (prod by default).
        #[arg(long)]
        override_protection: bool,
    },
    /// Print the stack's outputs from state.
    Output {
        #[command(flatten)]
        stack: StackArgs,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print the resource graph in Graphviz DOT.
    Graph {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Inspect recorded state.
    #[command(subcommand)]
    State(StateCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum StateCommand {
    /// List the resources recorded in state.
    List {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Show one recorded resource as JSON.
    Show {
        #[command(flatten)]
        stack: StackArgs,
        /// The resource id, as `state list` prints it.
        id: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct StackArgs {
    /// The environment: the name of a file in the configuration directory.
    #[arg(long, short)]
    pub(crate) env: String,
    /// Appended to every name, so two stacks of one environment can share an account.
    #[arg(long)]
    pub(crate) suffix: Option<String>,
}
