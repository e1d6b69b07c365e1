//! Each command, from validated input to rendered result.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use miette::{Result, miette};
use paystack_aws::{ClientPool, Clients, RemoteBackend, Role, StateLocation, Target};
use paystack_config::{Environment, StateStore};
use paystack_core::{Kind, Placement, Plan, StateDocument};
use paystack_engine::{
    Inventory, Origin, Owner, Registries, ResourceGraph, SavedPlan, SavedPlanError, Scope, StateVersion,
};
use paystack_platform::{Blueprint, Lookups};
use paystack_state::{LocalBackend, StateBackend};

use crate::args::{Cli, Command, StackArgs, StateCommand};
use crate::diagnostics::state_error;
use crate::render;

mod check;
mod converge;
mod cost;
mod drift;
mod import;
mod inspect;
mod load;
mod many;
mod parity;
mod planning;
mod setup;

use check::check;
use converge::{Confirm, Mode, converge};
use drift::{DriftArgs, drift, drift_many};
use load::{Flags, Validate, build, load, local_lookups};
use parity::parity;
use planning::{apply_saved, plan, planned, targeted};
use setup::{bootstrap, bootstrap_gateway, init};

/// Everything known about a stack before touching AWS.
pub(super) struct Stack {
    pub(super) env: Environment,
    pub(super) blueprint: Blueprint,
    pub(super) graph: ResourceGraph,
    pub(super) state_dir: PathBuf,
    /// The compliance function's package, as read from this machine.
    pub(super) package: Option<paystack_platform::FunctionPackage>,
    /// The flags every command this run suggests repeats, as they were given.
    flags: Flags,
}

impl Stack {
    /// `plan` and `apply` upload the compliance function's package: without it they stop
    /// here, before any call.
    pub(super) fn require_package(&self) -> Result<()> {
        if self.env.compliance.function && self.package.is_none() {
            return Err(miette!(
                help = "build it with `scripts/package-function`, or point `--function-package` (PAYSTACK_FUNCTION_PACKAGE) at it; nothing was read or changed",
                "`{}` runs the compliance function, and its package is not there",
                self.env.name
            ));
        }
        Ok(())
    }

    pub(super) fn key(&self) -> String {
        self.blueprint.stack.key()
    }

    /// `paystack OPERATION --env ENV` with the flags this run was given, for a message to
    /// suggest: copied and run, it reaches this same stack. `operation` may carry its own
    /// arguments, such as `unlock` and its lock id after the flags.
    pub(super) fn command(&self, operation: &str) -> String {
        self.flags.command(operation, &self.env.name)
    }

    /// A plan's first lines: where it goes, and what it covers.
    pub(super) fn heading<'a>(&'a self, targets: &'a [String], destroy: bool) -> render::Heading<'a> {
        render::Heading {
            stack: self.key(),
            account: self.env.account.as_ref().map(|a| a.id.as_str()),
            region: &self.env.region,
            targets,
            destroy,
            protected: self.env.protected.then_some(self.env.name.as_str()),
        }
    }

    /// The stack as a read sees it: its ownership tag and how its names are shaped.
    pub(super) fn owner(&self) -> Owner {
        let env = &self.env;
        Owner {
            stack: self.key(),
            name_prefix: format!("{}-{}-", env.name, env.region),
            name_suffix: env.suffix.as_ref().map(|s| format!("-{s}")),
        }
    }

    pub(super) fn scope(&self) -> Scope {
        Scope::of(self.owner())
    }

    /// The same stack with what the blueprint looks up read from AWS (the certificate of the
    /// HTTPS listener, the hosted zone of the service's name), as every plan that may be
    /// applied needs. Fails, before anything changes, when a lookup finds nothing.
    pub(super) async fn looked_up(&self, aws: &Aws) -> Result<Stack> {
        self.with_lookups(&self.lookups(aws).await?)
    }

    /// The same stack, built again with `lookups`.
    pub(super) fn with_lookups(&self, lookups: &Lookups) -> Result<Stack> {
        let built = build(self.env.clone(), lookups, self.state_dir.clone())?;
        Ok(Stack { flags: self.flags.clone(), ..built })
    }

    /// What the blueprint looks up, read from AWS: the same for every stack of an
    /// environment.
    pub(super) async fn lookups(&self, aws: &Aws) -> Result<Lookups> {
        use paystack_aws::LookupError;
        let env = &self.env;
        let wanted = paystack_aws::Wanted {
            region: &env.region,
            certificate_domain: &env.load_balancer.certificate_domain,
            zone: &env.dns.zone,
            rotation_function: env.database.rotation.as_ref().map(|r| r.lambda_arn.as_str()),
        };
        let mut lookups = paystack_aws::look_up(&aws.clients, &wanted).await.map_err(|e| {
            let help = match &e {
                LookupError::NoCertificate { .. } => format!(
                    "request or import a certificate for `{}` in ACM in {}, or point `load_balancer.certificate_domain` at one; paystack looks it up and never creates it",
                    env.load_balancer.certificate_domain, env.region
                ),
                LookupError::NoZone { zone } => format!(
                    "create the public hosted zone `{zone}` in Route 53 (or point `dns.zone` at an existing one); paystack looks it up and never creates it"
                ),
                LookupError::AmbiguousZone { .. } => {
                    "delete the unused zone, so the records go to the one the domain delegates to".to_owned()
                }
                LookupError::NoRotationFunction { .. } => {
                    "deploy the rotation function (AWS's single-user PostgreSQL rotation), or point `database.rotation_lambda_arn` at it; paystack looks it up and never creates it".to_owned()
                }
                LookupError::Failed(_) => "check AWS credentials, region and AWS_ENDPOINT_URL; nothing was changed".to_owned(),
            };
            miette!(help = help, "{e}")
        })?;
        lookups.transit_gateway = self.gateway(aws).await?;
        lookups.function_package = self.package.clone();
        // The key policies name the account; an environment in its own account says which.
        if env.account.is_none() {
            let caller = aws.pool.caller_account().await;
            lookups.account_id =
                Some(caller.map_err(|e| miette!(help = "check the AWS credentials; nothing was changed", "{e}"))?);
        }
        Ok(lookups)
    }

    /// The Transit Gateway and its shared-services attachment, read in the account that owns
    /// them, for an environment with `[transit_gateway]`.
    async fn gateway(&self, aws: &Aws) -> Result<Option<paystack_platform::TransitLookup>> {
        use paystack_aws::GatewayLookupError;
        let env = &self.env;
        let (Some(tgw), Some(network)) = (&env.transit_gateway, paystack_platform::network_placement(env)) else {
            return Ok(None);
        };
        let clients = clients_of(&aws.pool, env, &network).await?;
        let found = paystack_aws::look_up_gateway(&clients, &env.project, &env.region, tgw.shared_services_cidr).await;
        found.map(Some).map_err(|e| {
            let help = match &e {
                GatewayLookupError::NoGateway { .. } => {
                    "make it once with `paystack bootstrap --transit-gateway`; nothing was changed".to_owned()
                }
                GatewayLookupError::Ambiguous { .. } => format!(
                    "keep one Transit Gateway tagged `{} = {}` and delete the others",
                    paystack_platform::GATEWAY_TAG,
                    env.project
                ),
                GatewayLookupError::NoSharedServices { gateway, cidr } => format!(
                    "attach the shared-services VPC (which holds {cidr}) to {gateway} in the gateway's account, or correct `[transit_gateway] shared_services_cidr`"
                ),
                GatewayLookupError::Failed(_) => {
                    "check the credentials of the gateway's account (`[transit_gateway] role_arn`); nothing was changed"
                        .to_owned()
                }
            };
            miette!(help = help, "{e}")
        })
    }

    /// Reads the stack's state, brought up to this paystack's schema: a document written
    /// before placement has each record placed where its kind lives in this environment.
    pub(super) async fn read_from(&self, backend: &dyn StateBackend) -> Result<Option<StateDocument>> {
        let mut doc = backend.read().await.map_err(|e| self.state_error(e))?;
        if let Some(doc) = &mut doc {
            doc.migrate(|_, kind| paystack_platform::primary_placement(&self.env, kind));
        }
        Ok(doc)
    }

    /// Turns a state error into a diagnostic that says what to do next.
    pub(super) fn state_error(&self, e: paystack_state::StateError) -> miette::Report {
        state_error(e, |operation| self.command(operation), &self.key())
    }
}

pub(crate) async fn run(cli: Cli) -> Result<ExitCode> {
    use Validate::{One, Whole};
    match &cli.command {
        Command::Plan { stack, json, detailed_exitcode, out, destroy, targets } => {
            let Some(single) = stack.single() else {
                if out.is_some() {
                    return Err(miette!(
                        help = "save one environment's plan at a time: `paystack plan --env E --out FILE`",
                        "`--out` saves the plan of one stack, and this names several"
                    ));
                }
                let mode = if *destroy { Mode::Destroy } else { Mode::Apply };
                return many::plan(&cli, stack, mode, &targets.targets, *json, *detailed_exitcode).await;
            };
            let s = load(&cli, &single, Whole)?;
            let prices = cost::prices(&cli)?;
            plan(&s, &prices, *destroy, &targets.targets, *json, out.as_deref(), *detailed_exitcode).await
        }
        Command::Apply { stack, plan_file, yes, override_protection, lock, run } => {
            let confirm = Confirm { yes: *yes, override_protection: *override_protection };
            if let Some(path) = plan_file {
                return apply_saved(&cli, stack, path, confirm, lock, run).await;
            }
            let Some(single) = stack.single() else {
                return many::converge_all(&cli, stack, Mode::Apply, confirm, lock, run).await;
            };
            let s = load(&cli, &single, Whole)?;
            converge(&s, Mode::Apply, confirm, lock, run, None).await
        }
        Command::Destroy { stack, yes, override_protection, lock, run } => {
            let confirm = Confirm { yes: *yes, override_protection: *override_protection };
            let Some(single) = stack.single() else {
                return many::converge_all(&cli, stack, Mode::Destroy, confirm, lock, run).await;
            };
            let s = load(&cli, &single, Whole)?;
            converge(&s, Mode::Destroy, confirm, lock, run, None).await
        }
        Command::Drift {
            env,
            suffix,
            all_envs,
            parallel,
            json,
            notify,
            fix,
            prune,
            yes,
            override_protection,
            lock,
        } => {
            let (fix, prune) = (*fix, *prune);
            let args = DriftArgs { json: *json, notify: *notify, fix, prune, parallel: usize::from(*parallel) };
            if *all_envs || suffix.len() > 1 {
                if fix {
                    return Err(miette!(
                        help = "fix one stack at a time: `paystack drift --env E [--suffix S] --fix`",
                        "`--fix` converges one stack, and this names several"
                    ));
                }
                let env = if *all_envs { None } else { env.as_deref() };
                return drift_many(&cli, env, suffix, args).await;
            }
            let stack = StackArgs { env: env.clone().unwrap_or_default(), suffix: suffix.first().cloned() };
            let s = load(&cli, &stack, One)?;
            let confirm = Confirm { yes: *yes, override_protection: *override_protection };
            drift(&s, args, confirm, lock).await
        }
        Command::Parity { a, b, suffix, json } => {
            let sa = load(&cli, &StackArgs { env: a.clone(), suffix: suffix.clone() }, One)?;
            let sb = load(&cli, &StackArgs { env: b.clone(), suffix: suffix.clone() }, One)?;
            if sa.key() == sb.key() {
                return Err(miette!(
                    help = "name two different environments, e.g. `paystack parity staging prod`",
                    "`parity` compares `{}` with itself",
                    sa.key()
                ));
            }
            parity(&sa, &sb, &cost::prices(&cli)?, *json).await
        }
        Command::Bootstrap { env: Some(env), via_role, .. } => {
            let s = load(&cli, &StackArgs { env: env.clone(), suffix: None }, One)?;
            bootstrap(&s, via_role.as_deref()).await
        }
        Command::Bootstrap { env: None, via_role, .. } => {
            bootstrap_gateway(&load::config(&cli, Whole, "")?, via_role.as_deref()).await
        }
        Command::Init { stack } => init(&load(&cli, stack, One)?).await,
        Command::Unlock { stack, lock_id } => inspect::unlock(&load(&cli, stack, One)?, lock_id).await,
        Command::Check { stack, json, event, notify } => {
            check(&load(&cli, stack, One)?, *json, event.as_deref(), *notify).await
        }
        Command::Output { stack, name, json, raw } => {
            inspect::output(&load(&cli, stack, One)?, name.as_deref(), *json, *raw).await
        }
        Command::Cost { stack, json, refresh_prices } => {
            let s = load(&cli, stack, One)?;
            if *refresh_prices {
                cost::refresh(&cli, &s).await?;
            }
            cost::cost(&cli, &s, *json, *refresh_prices)
        }
        Command::Envs => Ok(inspect::envs(&load::config(&cli, Whole, "")?)),
        Command::Completions { shell } => Ok(inspect::completions(*shell)),
        Command::Graph { stack, plan, targets, format } => {
            inspect::graph(&load(&cli, stack, One)?, *plan, &targets.targets, *format).await
        }
        Command::Import { stack, address, aws_id, lock } => {
            import::import(&load(&cli, stack, Validate::Whole)?, address, aws_id, lock).await
        }
        Command::State(StateCommand::List { stack }) => inspect::state_list(&load(&cli, stack, One)?).await,
        Command::State(StateCommand::Show { stack, id }) => inspect::state_show(&load(&cli, stack, One)?, id).await,
        Command::State(StateCommand::Rm { stack, ids, yes, lock }) => {
            inspect::state_rm(&load(&cli, stack, One)?, ids, *yes, lock).await
        }
    }
}

/// Where the environment's remote state lives, if it uses the remote backend.
fn state_location(env: &Environment) -> Option<StateLocation> {
    Some(StateLocation { bucket: env.state_bucket()?, lock_table: env.lock_table()? })
}

/// The AWS side of a run: the clients of the stack's home placement (its state, lookups and
/// notifications), and the pool the clients of every other placement come from. Connecting
/// sends nothing; the first request is the first read.
pub(super) struct Aws {
    pool: Arc<ClientPool>,
    pub(super) clients: Clients,
}

impl Aws {
    pub(super) async fn connect(s: &Stack) -> Result<Self> {
        Self::from_pool(&Arc::new(ClientPool::from_env(&s.env.region).await), s).await
    }

    /// Like [`Aws::connect`], with the clients (and so the connections and the adaptive
    /// retry's rate limit) of `pool`, which every stack of one run shares. An environment in
    /// its own account is reached through its role, assumed here.
    pub(super) async fn from_pool(pool: &Arc<ClientPool>, s: &Stack) -> Result<Self> {
        let clients = clients_of(pool, &s.env, &paystack_platform::home(&s.env)).await?;
        Ok(Self { pool: Arc::clone(pool), clients })
    }

    /// The reconcilers of every placement the stack reaches: where the configuration places
    /// its resources, and where state recorded them. Each placement's registry holds the
    /// kinds that live there, so each kind is read once per placement.
    pub(super) async fn registries(&self, s: &Stack, state: &StateDocument) -> Result<Registries> {
        let recorded = state.resources.values().map(|r| (r.placement.clone(), r.kind.clone()));
        let specified = s.blueprint.specs.iter().map(|s| (s.placement.clone(), s.kind.clone()));
        let present: BTreeSet<(Placement, Kind)> = recorded.chain(specified).collect();
        let mut placements = paystack_platform::placements(&s.env, &s.blueprint.specs);
        placements.extend(present.iter().map(|(p, _)| p.clone()));
        let mut registries = Registries::default();
        for placement in placements {
            let clients = clients_of(&self.pool, &s.env, &placement).await?;
            let registry = paystack_aws::registry(&clients, &s.env.waits).retain(|kind| {
                paystack_platform::reads(&s.env, kind, &placement)
                    || present.contains(&(placement.clone(), kind.clone()))
            });
            registries.insert(placement, registry);
        }
        Ok(registries)
    }

    /// The stack's state backend, as the configuration selects it.
    pub(super) fn backend(&self, s: &Stack) -> Arc<dyn StateBackend> {
        match (&s.env.state.backend, state_location(&s.env)) {
            (StateStore::S3 { .. }, Some(at)) => Arc::new(RemoteBackend::new(&self.clients, &at, &s.key())),
            _ => Arc::new(LocalBackend::new(&s.state_dir, &s.key())),
        }
    }
}

/// The clients for `placement`; a refused role is a one-line error that says what to check.
async fn clients_of(pool: &ClientPool, env: &Environment, placement: &Placement) -> Result<Clients> {
    pool.clients(&target(env, placement)).await.map_err(|e| {
        miette!(
            help = format!("nothing was read or changed; `[account] role_arn` in {}.toml names the role", env.name),
            "{e}"
        )
    })
}

/// Where the calls for `placement` go: its region (a global kind's go to the environment's
/// region, whose endpoint serves the whole account), through the role of its account: the
/// environment's deploy role, or the role in the account that owns the Transit Gateway.
/// `None` is the caller's own account, reached with the run's own credentials.
fn target(env: &Environment, placement: &Placement) -> Target {
    let region = placement.region.clone().unwrap_or_else(|| env.region.clone());
    let gateway_owner = env.transit_gateway.as_ref().and_then(|t| t.owner.as_ref());
    let account = [env.account.as_ref(), gateway_owner]
        .into_iter()
        .flatten()
        .find(|a| placement.account.as_deref() == Some(a.id.as_str()));
    let role = account.map(|a| Role {
        arn: a.role_arn.clone(),
        external_id: a.external_id.clone(),
        session_name: Role::session_name(&env.name, &paystack_state::current_user()),
    });
    Target { region, role }
}

/// Reads every kind's live resources at once: one batched read per kind per placement.
pub(super) async fn observe(registries: &Registries, scope: &Scope) -> Result<Inventory> {
    paystack_engine::observe_all(registries, scope)
        .await
        .map_err(|e| miette!(help = "check AWS credentials, region and AWS_ENDPOINT_URL; nothing was changed", "{e}"))
}

/// Writes a plan to a file for `apply FILE`.
fn save_plan(s: &Stack, state: Option<&StateDocument>, plan: &Plan, origin: Origin, path: &Path) -> Result<()> {
    let text = SavedPlan::new(&s.key(), state, plan).made_for(origin).to_text();
    std::fs::write(path, text).map_err(|e| miette!("cannot write the plan to {}: {e}", path.display()))
}

/// Reads a plan `plan --out` saved for this stack.
fn load_plan(path: &Path, s: &Stack) -> Result<SavedPlan> {
    let text = std::fs::read_to_string(path).map_err(|e| miette!("cannot read the plan {}: {e}", path.display()))?;
    let path = path.display();
    SavedPlan::from_text(&text, &s.key()).map_err(|e| match e {
        SavedPlanError::NotAPlan(why) => {
            miette!(help = "save a plan with `paystack plan --out FILE`", "{path} is not a saved plan: {why}")
        }
        SavedPlanError::OtherStack { found, expected } => miette!(
            help = "pass the --env and --suffix the plan was made for",
            "{path} is a plan for `{found}`, not `{expected}`"
        ),
        SavedPlanError::Format { found, expected } => miette!(
            help = "make the plan again with this paystack",
            "{path} was saved in plan format {found}, and this paystack reads format {expected}"
        ),
        other => miette!("{path}: {other}"),
    })
}

/// Refuses a saved plan unless state and live resources are where they were when it was made.
fn check_plan(saved: &SavedPlan, state: Option<&StateDocument>, fresh: &Plan, s: &Stack) -> Result<()> {
    let help = format!("make a new plan with `{} --out FILE`, review it, and apply that", s.command("plan"));
    let describe = |v: &Option<StateVersion>| {
        v.as_ref().map_or("no state".to_owned(), |v| format!("serial {} of lineage {}", v.serial, v.lineage))
    };
    saved.check(state, fresh).map_err(|e| match e {
        SavedPlanError::StateMoved { was, now } => miette!(
            help = help,
            "the state of `{}` moved since the plan was made: it was at {}, it is now at {}; nothing was changed",
            s.key(),
            describe(&was),
            describe(&now)
        ),
        SavedPlanError::LiveChanged => miette!(
            help = help,
            "the live resources of `{}` changed since the plan was made, so it no longer says what apply would do; nothing was changed",
            s.key()
        ),
        other => miette!(help = help, "`{}`: {other}; nothing was changed", s.key()),
    })
}

/// Who else owns a live field value, if anyone (`Blueprint::field_owner`).
pub(super) fn owner_of(
    s: &Stack,
    state: &StateDocument,
    c: &paystack_core::Change,
    f: &paystack_core::FieldChange,
) -> Option<String> {
    s.blueprint.field_owner(&s.env.drift.ignore, state, c, f)
}

/// What `plan` and `apply` carry out: the plan, less what other owners set.
pub(super) fn apply_plan(s: &Stack, registries: &Registries, state: &StateDocument, inventory: &Inventory) -> Plan {
    let plan = paystack_engine::plan(&s.graph, registries, state, inventory);
    paystack_engine::yield_to_owners(plan, |c, f| owner_of(s, state, c, f))
}
