//! Command-line flags as typed, before anything is loaded or checked.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The crate's version and the commit it was built from, as `--version` prints them.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("PAYSTACK_COMMIT"), ")");

/// Provisions the payment platform on AWS, one environment at a time.
#[derive(Debug, Parser)]
#[command(name = "paystack", version = VERSION, about, propagate_version = true)]
pub(crate) struct Cli {
    /// The configuration directory: shared.toml plus one file per environment.
    #[arg(long, global = true, default_value = "config", env = "PAYSTACK_CONFIG")]
    pub(crate) config: PathBuf,

    /// Where the local state backend keeps one state file per stack.
    #[arg(long, global = true, default_value = "state", env = "PAYSTACK_STATE_DIR")]
    pub(crate) state_dir: PathBuf,

    /// The compliance function's package, built by scripts/package-function; `plan` and
    /// `apply` need it where `[compliance] function` is on.
    #[arg(
        long,
        global = true,
        default_value = "target/lambda/paystack-compliance.zip",
        env = "PAYSTACK_FUNCTION_PACKAGE"
    )]
    pub(crate) function_package: PathBuf,

    /// Reach every account with the credentials as found, assuming no `[account] role_arn`:
    /// for runs already inside the environment's account, such as the scheduled drift task.
    #[arg(long, global = true)]
    pub(crate) no_assume_role: bool,

    /// A price table for the cost estimate (`cost`, and the monthly difference `plan` and
    /// `parity` show) in place of the one built in from prices/aws.csv.
    #[arg(long, global = true, value_name = "FILE", env = "PAYSTACK_PRICES")]
    pub(crate) prices: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show what apply would change, read from live AWS.
    Plan {
        #[command(flatten)]
        stack: EnvsArgs,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
        /// Exit 2 when there are changes (0 when there are none, 1 on error).
        #[arg(long)]
        detailed_exitcode: bool,
        /// Save the plan to FILE, for `apply FILE` to carry out exactly.
        #[arg(long, value_name = "FILE", conflicts_with = "destroy")]
        out: Option<PathBuf>,
        /// Show what `destroy` would delete, instead of what `apply` would change.
        #[arg(long)]
        destroy: bool,
        #[command(flatten)]
        targets: TargetArgs,
    },
    /// Converge AWS to the configuration, or carry out a plan saved with `plan --out`.
    Apply {
        #[command(flatten)]
        stack: EnvsArgs,
        /// A plan saved by `plan --out`: applied only if state and live resources have not
        /// moved since it was made. It names its environment, suffix and targets.
        plan_file: Option<PathBuf>,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
        /// Allow deleting or replacing resources of a protected environment.
        #[arg(long)]
        override_protection: bool,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Report what changed in AWS behind paystack's back: modified fields, resources deleted
    /// out of band, and unmanaged resources that carry the stack's tags. Exit 0 with no
    /// drift, 2 with drift (also after `--fix`), 1 on error.
    Drift {
        /// The environment: the name of a file in the configuration directory.
        #[arg(long, short, required_unless_present = "all_envs", conflicts_with = "all_envs")]
        env: Option<String>,
        /// Appended to every name, so two stacks of one environment can share an account.
        /// Several (`--suffix a,b` or repeated) check each of those stacks, concurrently.
        #[arg(long, value_delimiter = ',')]
        suffix: Vec<String>,
        /// Check every environment in the configuration, concurrently. Exit 1 if any check
        /// failed, else 2 if any drifted, else 0; a stack never applied is skipped.
        #[arg(long)]
        all_envs: bool,
        /// With several stacks: how many are read at once. Each read is one batched request
        /// per kind, so this bounds the requests in flight against the API's rate limits.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
        parallel: u16,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Publish one message to the environment's SNS topic when there is drift.
        #[arg(long)]
        notify: bool,
        /// Converge the drifted resources back, and only those. Shows the fix and asks, as
        /// apply does; without a terminal it needs --yes.
        #[arg(long, conflicts_with_all = ["json", "all_envs"])]
        fix: bool,
        /// With --fix: delete the unmanaged resources too (never in the configuration, but
        /// carrying the stack's ownership tags). Without it they are reported and left.
        #[arg(long, requires = "fix")]
        prune: bool,
        /// With --fix: apply the fix without asking.
        #[arg(long, short, requires = "fix")]
        yes: bool,
        /// Allow `--fix` to delete or replace resources of a protected environment.
        #[arg(long, requires = "fix")]
        override_protection: bool,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Hold the stack's live resources to the platform's compliance rules: encryption, open
    /// ingress, IAM wildcards, boundaries, tags, log retention, TLS, buckets and tables.
    /// Read-only. Exit 0 when everything complies, 2 on a violation, 1 on error.
    Check {
        #[command(flatten)]
        stack: StackArgs,
        /// Print the rules and the violations as JSON.
        #[arg(long)]
        json: bool,
        /// A CloudTrail event (as EventBridge delivers it) in FILE: check only the resource
        /// its call changed, and only if the call is one the rules watch.
        #[arg(long, value_name = "FILE")]
        event: Option<PathBuf>,
        /// Publish each violation to the environment's SNS topic, with the environment, the
        /// rule and the resource as message attributes.
        #[arg(long)]
        notify: bool,
    },
    /// Compare two environments, configured and live: which resources and settings differ
    /// because their configurations say so, and which differ without a reason. Exit 0 when
    /// every difference is configured, 2 when one is not, 1 on error.
    Parity {
        /// The first environment, e.g. `staging`.
        a: String,
        /// The second environment, e.g. `prod`.
        b: String,
        /// The suffix of both stacks, when they carry one.
        #[arg(long)]
        suffix: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete every resource of the stack, dependents first.
    Destroy {
        #[command(flatten)]
        stack: EnvsArgs,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
        /// Allow destroying a protected environment (prod by default).
        #[arg(long)]
        override_protection: bool,
        #[command(flatten)]
        lock: LockArgs,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Set up an environment's account once: the deploy role `[account] role_arn` names, and
    /// the permissions boundary every role paystack makes there carries. Run it with
    /// credentials that administer that account, or from another account with --via-role.
    /// Safe to run again: it changes only what differs, and says so.
    Bootstrap {
        /// The environment whose account to set up.
        #[arg(long, short, required_unless_present = "transit_gateway", conflicts_with = "transit_gateway")]
        env: Option<String>,
        /// Set up the Transit Gateway of `[transit_gateway]` instead, in the account that owns
        /// it: the gateway, and its AWS RAM share with every environment's account.
        #[arg(long)]
        transit_gateway: bool,
        /// A role in the environment's account to act through, such as
        /// arn:aws:iam::333333333333:role/OrganizationAccountAccessRole from the management
        /// account. The deploy role trusts the account the command is run from.
        #[arg(long, value_name = "ARN")]
        via_role: Option<String>,
    },
    /// Create the environment's state bucket and lock table, or bring them to the required
    /// settings. Safe to run again.
    Init {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Release a lock by its id, for a run that crashed and will not come back.
    Unlock {
        #[command(flatten)]
        stack: StackArgs,
        /// The lock id, as the refusal of a locked run prints it.
        lock_id: String,
    },
    /// Print the stack's outputs from state: all of them, or the one NAME.
    Output {
        #[command(flatten)]
        stack: StackArgs,
        /// One output, such as `alb_dns_name`.
        name: Option<String>,
        /// Print one JSON object.
        #[arg(long, conflicts_with = "raw")]
        json: bool,
        /// With NAME: print only its value, with no quotes, for a shell to capture.
        #[arg(long, requires = "name")]
        raw: bool,
    },
    /// Estimate what the stack costs a month as configured, per resource and per layer, from
    /// on-demand list prices at the usage `[cost]` assumes. An estimate, not a bill. Reads no
    /// AWS.
    Cost {
        #[command(flatten)]
        stack: StackArgs,
        /// Print the estimate as JSON.
        #[arg(long)]
        json: bool,
        /// First rewrite the price table (--prices FILE, else prices/aws.csv) from the AWS
        /// Price List API: every row it can answer, and the rows of the environment's regions
        /// the table lacks. Needs network access to AWS and pricing:GetProducts.
        #[arg(long)]
        refresh_prices: bool,
    },
    /// List the environments of the configuration: account, region, whether protected, and
    /// the suffix each takes.
    Envs,
    /// Print a completion script for SHELL, e.g. `paystack completions bash >
    /// /etc/bash_completion.d/paystack`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Draw the resource graph: a cluster per layer, a colour per kind family, an arrow from
    /// each resource to what refers to it.
    Graph {
        #[command(flatten)]
        stack: StackArgs,
        /// Colour each resource by what `plan` would do to it (reads live AWS).
        #[arg(long)]
        plan: bool,
        #[command(flatten)]
        targets: TargetArgs,
        /// `dot` prints Graphviz DOT; `svg` and `png` are drawn by Graphviz's `dot`.
        #[arg(long, value_enum, default_value = "dot")]
        format: GraphFormat,
    },
    /// Adopt a resource made outside paystack as the configuration's resource ADDR: checked
    /// to exist, to be of ADDR's kind and where the configuration places it, and to belong to
    /// no other stack; then given the stack's ownership tags (the one change made in AWS) and
    /// recorded. The next plan shows what the configuration changes on it.
    Import {
        #[command(flatten)]
        stack: StackArgs,
        /// The resource id, such as `network.vpc` (`paystack graph` lists them).
        address: String,
        /// Its AWS id (`vpc-0abc…` for EC2), bucket name (S3) or ARN (the rest).
        aws_id: String,
        #[command(flatten)]
        lock: LockArgs,
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
    /// Forget resources without deleting them: they stay in AWS, no longer managed. The next
    /// plan would create them again unless they leave the configuration, or are adopted
    /// back with their ownership tags.
    Rm {
        #[command(flatten)]
        stack: StackArgs,
        /// Resource ids, as `state list` prints them.
        #[arg(required = true)]
        ids: Vec<String>,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
        #[command(flatten)]
        lock: LockArgs,
    },
}

/// What `graph` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum GraphFormat {
    Dot,
    Svg,
    Png,
}

/// `--target`, on the commands that plan.
#[derive(Clone, Debug, Default, Args)]
pub(crate) struct TargetArgs {
    /// Only this resource id or layer prefix (`database`, `edge.alb`), repeatable: plan and
    /// apply take what it depends on too, destroy what depends on it.
    #[arg(long = "target", value_name = "ADDR")]
    pub(crate) targets: Vec<String>,
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

/// The environments of `plan`, `apply` and `destroy`: one, as everywhere, or several in one
/// run, each in its own account, as CloudFormation StackSets would deploy them.
#[derive(Debug, Args)]
pub(crate) struct EnvsArgs {
    /// The environment, or several in the order they start: `--env dev,staging,prod`.
    /// `apply FILE` takes it from the saved plan.
    #[arg(long, short, value_delimiter = ',', conflicts_with = "all_envs")]
    pub(crate) env: Vec<String>,
    /// Every environment of the configuration, in its order (dev, staging, prod, then the
    /// rest by name).
    #[arg(long)]
    pub(crate) all_envs: bool,
    /// Appended to every name, so two stacks of one environment can share an account.
    #[arg(long)]
    pub(crate) suffix: Option<String>,
    /// With several environments: how many run at once. 1, as StackSets' default, runs them
    /// one after another.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub(crate) max_concurrent: u16,
    /// With several environments: how many may fail before no new one starts. Those running
    /// finish; those never started are reported as not started.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) failure_tolerance: u16,
}

impl EnvsArgs {
    /// The one environment this names, as every single-stack command takes it.
    pub(crate) fn single(&self) -> Option<StackArgs> {
        match (self.all_envs, self.env.as_slice()) {
            (false, [env]) => Some(StackArgs { env: env.clone(), suffix: self.suffix.clone() }),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Args)]
pub(crate) struct LockArgs {
    /// How long to wait for a lock another run holds, such as 30s or 5m; by default a held
    /// lock is refused at once.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub(crate) lock_timeout: std::time::Duration,
}

/// How `apply` and `destroy` carry out their plan, and how they report it.
#[derive(Clone, Debug, Default, Args)]
pub(crate) struct RunArgs {
    /// Print the plan, then each step of the run as it happens, then the result: one JSON
    /// object per line. Needs --yes, or a saved plan.
    #[arg(long)]
    pub(crate) json: bool,
    /// The most API calls in flight at once per AWS service and region (by default 8, and
    /// 16 for EC2). Waiting for AWS to finish something takes no part of it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) parallelism: Option<u16>,
    #[command(flatten)]
    pub(crate) targets: TargetArgs,
    /// Set by a run over several environments, which shows every plan before its one
    /// confirmation: each environment's run then does not show its plan again.
    #[arg(skip)]
    pub(crate) plan_shown: bool,
}

/// `90`, `90s`, `5m` or `1h`.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (digits, unit) = s.find(|c: char| !c.is_ascii_digit()).map_or((s, "s"), |i| s.split_at(i));
    let n: u64 =
        digits.parse().map_err(|_| format!("`{s}` is not a duration; use a number with s, m or h, such as 5m"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("`{unit}` is not a unit of time; use s, m or h")),
    };
    Ok(std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
    }
}
