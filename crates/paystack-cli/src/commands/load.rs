//! From flags to a validated stack: the configuration loaded and checked (the whole of it,
//! or one environment's), the blueprint laid out, and the flags every suggestion repeats.
//! Nothing here reaches AWS.

use std::path::{Path, PathBuf};

use miette::{Result, miette};
use paystack_config::{Config, Environment};
use paystack_core::ResourceId;
use paystack_engine::ResourceGraph;
use paystack_platform::{Lookups, blueprint};

use super::Stack;
use crate::args::{Cli, StackArgs};
use crate::diagnostics::config_error;

/// The flags a suggested command must repeat to reach the same stack the same way: a
/// configuration or state directory other than the default, the command line's suffix.
#[derive(Clone, Debug, Default)]
pub(in crate::commands) struct Flags(String);

impl Flags {
    pub(in crate::commands) fn of(cli: &Cli, suffix: Option<&str>) -> Self {
        let mut flags = String::new();
        if cli.config != Path::new("config") {
            flags.push_str(&format!(" --config {}", shell_word(&cli.config.display().to_string())));
        }
        if cli.state_dir != Path::new("state") {
            flags.push_str(&format!(" --state-dir {}", shell_word(&cli.state_dir.display().to_string())));
        }
        if cli.no_assume_role {
            flags.push_str(" --no-assume-role");
        }
        if let Some(suffix) = suffix {
            flags.push_str(&format!(" --suffix {suffix}"));
        }
        Self(flags)
    }

    /// `paystack OPERATION --env ENV` with these flags.
    pub(in crate::commands) fn command(&self, operation: &str, env: &str) -> String {
        self.selecting(operation, &format!("--env {env}"))
    }

    /// `paystack OPERATION SELECTOR` with these flags, where the selector names several
    /// environments (`--env dev,staging`, `--all-envs`).
    pub(in crate::commands) fn selecting(&self, operation: &str, selector: &str) -> String {
        format!("paystack {operation} {selector}{}", self.0)
    }
}

/// `word` as a shell reads it back: quoted when it holds anything but a path's usual
/// characters.
fn shell_word(word: &str) -> String {
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c)) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// How much of the configuration a command validates before its first AWS call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::commands) enum Validate {
    /// Every environment, and what must hold between them (no two share address space):
    /// the commands that plan and change.
    Whole,
    /// `shared.toml` and the one environment's file: the commands that read or recover a
    /// stack, which a typo in another environment's file must not hold up during an
    /// incident.
    One,
}

/// The configuration, validated as `validate` says. A directory that is not there is said
/// to be missing, not invalid.
pub(in crate::commands) fn config(cli: &Cli, validate: Validate, env: &str) -> Result<Config> {
    let dir = &cli.config;
    if !dir.is_dir() {
        return Err(miette!(
            help = "run paystack from the project root, or point --config (PAYSTACK_CONFIG) at the directory that holds shared.toml; nothing was sent to AWS",
            "the configuration directory {} does not exist",
            dir.display()
        ));
    }
    let loaded = match validate {
        Validate::Whole => Config::load(dir),
        Validate::One => Config::load_one(dir, env),
    };
    loaded.map_err(config_error)
}

/// Loads and validates the configuration as `validate` says, then builds the stack's
/// graph. Nothing here reaches AWS, and every command goes through it first.
pub(super) fn load(cli: &Cli, args: &StackArgs, validate: Validate) -> Result<Stack> {
    let config = config(cli, validate, &args.env)?;
    let env = config.environment(&args.env, args.suffix.as_deref()).map_err(config_error)?;
    // Lookups are read from AWS only by the commands that plan changes.
    let built = build(env.clone(), &local_lookups(cli, &env)?, cli.state_dir.clone())?;
    Ok(Stack { flags: Flags::of(cli, args.suffix.as_deref()), ..built })
}

/// What the blueprint reads from this machine rather than from AWS: the compliance
/// function's package, where the environment runs it and the file is there.
pub(in crate::commands) fn local_lookups(cli: &Cli, env: &Environment) -> Result<Lookups> {
    use base64::Engine as _;
    use sha2::Digest as _;
    if !env.compliance.function {
        return Ok(Lookups::default());
    }
    let path = &cli.function_package;
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lookups::default()),
        Err(e) => return Err(miette!(help = "check the file's permissions", "cannot read {}: {e}", path.display())),
    };
    let sha256 = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&bytes));
    let package = paystack_platform::FunctionPackage { path: path.display().to_string(), sha256 };
    Ok(Lookups { function_package: Some(package), ..Lookups::default() })
}

pub(in crate::commands) fn build(env: Environment, lookups: &Lookups, state_dir: PathBuf) -> Result<Stack> {
    let blueprint = blueprint(&env, lookups).map_err(|e| {
        miette!(
            help = "validation should have refused this configuration; please report it with the environment's files",
            "the platform cannot be laid out for `{}`: {e}",
            env.name
        )
    })?;
    let graph = ResourceGraph::build(blueprint.specs.clone())
        .map_err(|e| miette!("the platform's resource graph is invalid: {e}"))?;
    check_ignored(&env, &graph)?;
    Ok(Stack { env, blueprint, graph, state_dir, package: lookups.function_package.clone(), flags: Flags::default() })
}

/// Every `drift.ignore` rule names a field of a resource this environment has: a rule that
/// matches nothing would silently stop ignoring what its author meant.
fn check_ignored(env: &Environment, graph: &ResourceGraph) -> Result<()> {
    for rule in &env.drift.ignore {
        let Some(spec) = graph.spec(&ResourceId::new(rule.resource.as_str())) else {
            return Err(miette!(
                help = format!(
                    "`paystack graph --env {}` lists the resources; a rule for resources only some environments have belongs in those environments' files",
                    env.name
                ),
                "`drift.ignore`: `{}` is not a resource of `{}`",
                rule.resource,
                env.name
            ));
        };
        if !spec.fields.contains_key(&rule.field) {
            let fields: Vec<&str> = spec.fields.keys().map(String::as_str).collect();
            return Err(miette!(
                help = format!("its fields are {}", fields.join(", ")),
                "`drift.ignore`: `{}` has no field `{}`",
                rule.resource,
                rule.field
            ));
        }
    }
    Ok(())
}
