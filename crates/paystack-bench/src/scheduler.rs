//! `scheduler`: how close an apply from nothing comes to the slowest chain of AWS operations.
//!
//! The graphs are the ones paystack builds from `config/`; the executor is the real one. Only
//! the reconcilers are stand-ins: each create sleeps for its kind's duration from the latency
//! table (`aws-latency.toml`), scaled. The first second of it is the API call, which holds a
//! slot of the kind's service; the rest is AWS settling (the waiter), which holds none.
//!
//! Against it: the critical path, the longest chain of durations, which no scheduler can
//! beat; and a model of a Terraform-like walker (one global limit of 10 operations, a slot
//! held for the whole create including its wait, ready nodes taken in discovery order),
//! simulated on the same graph and durations in virtual time.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use paystack_config::Config;
use paystack_core::spec::ExpectedDurations;
use paystack_core::{Action, FieldChange, KindSchema, Observed, ResourceId, Spec, StateDocument};
use paystack_engine::{
    Desired, Event, ExecOptions, Executor, Inventory, Outcome, ReconcileError, Reconciler, Registry, ResourceGraph,
    Scope, StateWriter,
};
use paystack_platform::{Lookups, blueprint, kinds};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// How much of an operation is the API call itself; the rest is waiting for AWS.
const CALL: Duration = Duration::from_secs(1);
/// The model's global limit, Terraform's default `-parallelism`.
const MODEL_PARALLELISM: usize = 10;

/// One environment's graph and each resource's create duration (unscaled).
struct EnvGraph {
    env: String,
    graph: ResourceGraph,
    durations: HashMap<ResourceId, Duration>,
}

struct Workload {
    name: &'static str,
    envs: Vec<EnvGraph>,
}

#[derive(Debug)]
struct Figures {
    resources: usize,
    critical_path: Duration,
    paystack: Duration,
    model: Duration,
    /// The walker model once per environment, one after another (a workspace each).
    sequential_model: Duration,
    /// CloudFormation StackSets at MaxConcurrentCount 1: each account's stack after the
    /// last, each taking its own critical path (CloudFormation creates in dependency order
    /// with no limit of its own).
    stacksets: Duration,
}

pub(crate) fn run(config_dir: &Path, out_dir: &Path, scale: f64, runs: usize) -> Result<(), String> {
    if !(scale > 0.0 && scale <= 1.0) {
        return Err(format!("--scale {scale} must be above 0 and at most 1"));
    }
    let config = Config::load(config_dir).map_err(|e| format!("{}: {e}", config_dir.display()))?;
    let workloads = [
        Workload { name: "prod", envs: vec![env_graph(&config, "prod")?] },
        Workload {
            name: "dev+staging+prod",
            envs: ["dev", "staging", "prod"].into_iter().map(|e| env_graph(&config, e)).collect::<Result<_, _>>()?,
        },
        Workload {
            name: "3 accounts",
            envs: [("dev", "111111111111"), ("staging", "222222222222"), ("prod", "333333333333")]
                .into_iter()
                .map(|(e, account)| env_graph_in(&config, e, Some(account)))
                .collect::<Result<_, _>>()?,
        },
    ];
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;

    println!("scheduler: apply from nothing, AWS latency table scaled by {scale}, median of {runs} runs");
    println!("(durations as AWS would take them, i.e. measured / scale)\n");
    println!(
        "{:<18} {:>9} {:>13} {:>10} {:>7} {:>12} {:>7} {:>15}",
        "workload", "resources", "critical path", "paystack", "ratio", "walker model", "ratio", "paystack/model"
    );
    let mut json_rows = Vec::new();
    for w in &workloads {
        let figures = measure(&runtime, w, scale, runs.max(1))?;
        let ratio = |d: Duration| d.as_secs_f64() / figures.critical_path.as_secs_f64();
        println!(
            "{:<18} {:>9} {:>13} {:>10} {:>7.3} {:>12} {:>7.3} {:>15.3}",
            w.name,
            figures.resources,
            minutes(figures.critical_path),
            minutes(figures.paystack),
            ratio(figures.paystack),
            minutes(figures.model),
            ratio(figures.model),
            figures.paystack.as_secs_f64() / figures.model.as_secs_f64(),
        );
        json_rows.push(json!({
            "workload": w.name,
            "resources": figures.resources,
            "critical_path_seconds": figures.critical_path.as_secs_f64(),
            "paystack_makespan_seconds": figures.paystack.as_secs_f64(),
            "paystack_ratio": ratio(figures.paystack),
            "model_makespan_seconds": figures.model.as_secs_f64(),
            "model_ratio": ratio(figures.model),
            "paystack_over_model": figures.paystack.as_secs_f64() / figures.model.as_secs_f64(),
            "sequential_model_seconds": figures.sequential_model.as_secs_f64(),
            "sequential_model_ratio": ratio(figures.sequential_model),
            "stacksets_seconds": figures.stacksets.as_secs_f64(),
            "stacksets_ratio": ratio(figures.stacksets),
        }));
        if w.envs.len() > 1 {
            println!(
                "{:<18} {:>9} {:>13} {:>10} {:>7} {:>12} {:>7}   one after another: walker per workspace {} ({:.3}), StackSets {} ({:.3})",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                minutes(figures.sequential_model),
                ratio(figures.sequential_model),
                minutes(figures.stacksets),
                ratio(figures.stacksets),
            );
        }
    }
    println!(
        "\nwalker model: one global limit of {MODEL_PARALLELISM}, a slot held for the whole create including its wait, ready nodes in discovery order"
    );
    let report = json!({ "bench": "scheduler", "scale": scale, "runs": runs, "workloads": json_rows });
    write_json(out_dir, "scheduler.json", &report)
}

fn env_graph(config: &Config, env: &str) -> Result<EnvGraph, String> {
    env_graph_in(config, env, None)
}

/// The graph of `env`, in `account` if one is given: every resource placed there, so that
/// the executor's slots are that account's, as with `[account]`.
fn env_graph_in(config: &Config, env: &str, account: Option<&str>) -> Result<EnvGraph, String> {
    let mut environment = config.environment(env, None).map_err(|e| e.to_string())?;
    if let Some(id) = account {
        environment.account = Some(paystack_config::Account {
            id: id.to_owned(),
            role_arn: format!("arn:aws:iam::{id}:role/paystack-deploy"),
            external_id: None,
        });
    }
    let specs = blueprint(&environment, &Lookups::default()).map_err(|e| e.to_string())?.specs;
    let graph = ResourceGraph::build(specs).map_err(|e| e.to_string())?;
    let schemas: HashMap<String, KindSchema> = kinds::all().map(|k| (k.name.to_owned(), k.schema())).collect();
    let mut durations = HashMap::new();
    for spec in graph.topological() {
        let schema = schemas.get(spec.kind.as_str()).ok_or_else(|| format!("no kind `{}`", spec.kind))?;
        durations.insert(spec.id.clone(), schema.expected.create);
    }
    Ok(EnvGraph { env: env.to_owned(), graph, durations })
}

fn measure(runtime: &tokio::runtime::Runtime, w: &Workload, scale: f64, runs: usize) -> Result<Figures, String> {
    let resources = w.envs.iter().map(|e| e.durations.len()).sum();
    // Each environment is its own process in practice: its own executor, its own walker.
    let stacksets = w.envs.iter().map(critical_path).sum();
    let critical_path = w.envs.iter().map(critical_path).max().unwrap_or_default();
    let model = w.envs.iter().map(walker_model).max().unwrap_or_default();
    let sequential_model = w.envs.iter().map(walker_model).sum();
    let mut samples = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let applies = w.envs.iter().map(|e| apply(e, scale));
        for result in runtime.block_on(futures_join(applies.collect())) {
            result?;
        }
        samples.push(started.elapsed().div_f64(scale));
    }
    samples.sort();
    Ok(Figures { resources, critical_path, paystack: samples[samples.len() / 2], model, sequential_model, stacksets })
}

/// Runs the futures concurrently on the runtime and collects their results in order.
async fn futures_join<F>(futures: Vec<F>) -> Vec<Result<(), String>>
where
    F: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut results = Vec::new();
    for h in handles {
        results.push(h.await.unwrap_or_else(|e| Err(e.to_string())));
    }
    results
}

/// The longest chain of create durations: a lower bound on any schedule's makespan.
fn critical_path(e: &EnvGraph) -> Duration {
    let mut finish: HashMap<&ResourceId, Duration> = HashMap::new();
    for spec in e.graph.topological() {
        let start = spec.dependencies().iter().filter_map(|d| finish.get(d)).max().copied().unwrap_or_default();
        finish.insert(&spec.id, start + e.durations[&spec.id]);
    }
    finish.values().max().copied().unwrap_or_default()
}

/// A Terraform-like walker in virtual time: at most [`MODEL_PARALLELISM`] operations at once,
/// each holding its slot until its resource is ready, ready nodes started first come first.
fn walker_model(e: &EnvGraph) -> Duration {
    let specs: Vec<&Spec> = e.graph.topological().collect();
    let index: HashMap<&ResourceId, usize> = specs.iter().enumerate().map(|(i, s)| (&s.id, i)).collect();
    let deps: Vec<Vec<usize>> = specs.iter().map(|s| s.dependencies().iter().map(|d| index[d]).collect()).collect();
    let mut waiting_on: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); specs.len()];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut ready: VecDeque<usize> = (0..specs.len()).filter(|&i| waiting_on[i] == 0).collect();
    let mut running: BinaryHeap<Reverse<(Duration, usize)>> = BinaryHeap::new();
    let mut now = Duration::ZERO;
    loop {
        while running.len() < MODEL_PARALLELISM
            && let Some(i) = ready.pop_front()
        {
            running.push(Reverse((now + e.durations[&specs[i].id], i)));
        }
        let Some(Reverse((at, done))) = running.pop() else { break };
        now = at;
        for &d in &dependents[done] {
            waiting_on[d] -= 1;
            if waiting_on[d] == 0 {
                ready.push_back(d);
            }
        }
    }
    now
}

/// One apply from nothing through the real planner and executor, with timed stand-ins.
async fn apply_inner(registry: Registry, graph: &ResourceGraph, env: &str) -> Result<(), String> {
    let mut state = StateDocument::new(env.to_owned(), "bench".to_owned());
    let inventory = Inventory::default();
    // The same stand-ins in every placement the graph uses, each with its own slots, as the
    // clients of each account and region have.
    let mut registries = paystack_engine::Registries::default();
    for spec in graph.topological() {
        if !registries.covers(&spec.placement) {
            registries.insert(spec.placement.clone(), registry.clone());
        }
    }
    let plan = paystack_engine::plan(graph, &registries, &state, &inventory);
    let scope = paystack_engine::Scope::new(env);
    let progress = |_: Event| {};
    let executor = Executor {
        registries: &registries,
        scope: &scope,
        options: ExecOptions::default(),
        progress: &progress,
        writer: &NoWrites,
    };
    let report = executor
        .apply(&plan, graph, &inventory, &mut state, CancellationToken::new())
        .await
        .map_err(|e| e.to_string())?;
    match report.outcomes.iter().find(|(_, o)| *o != Outcome::Done(Action::Create)) {
        None => Ok(()),
        Some((change, outcome)) => Err(format!("{env}: `{}` ended {outcome:?}", change.id)),
    }
}

fn apply(e: &EnvGraph, scale: f64) -> impl std::future::Future<Output = Result<(), String>> + Send + 'static {
    let graph = ResourceGraph::build(e.graph.topological().cloned().collect()).map_err(|e| e.to_string());
    let registry = timed_registry(&e.graph, scale);
    let env = e.env.clone();
    async move { apply_inner(registry, &graph?, &env).await }
}

/// A stand-in for every kind, answering every output the graph refers to.
fn timed_registry(graph: &ResourceGraph, scale: f64) -> Registry {
    let mut wanted: HashMap<ResourceId, BTreeSet<String>> = HashMap::new();
    for spec in graph.topological() {
        for expr in spec.fields.values() {
            expr.for_each_ref(&mut |r| {
                wanted.entry(r.resource.clone()).or_default().insert(r.output.clone());
            });
        }
    }
    let wanted = Arc::new(wanted);
    let mut registry = Registry::default();
    for kind in kinds::all() {
        let timed = Timed { expected: kind.schema().expected, scale, outputs: wanted.clone() };
        registry.register(kind.schema(), Arc::new(timed));
    }
    registry
}

struct Timed {
    expected: ExpectedDurations,
    scale: f64,
    outputs: Arc<HashMap<ResourceId, BTreeSet<String>>>,
}

impl Timed {
    /// The create's API call and the wait after it, scaled.
    fn phases(&self) -> (Duration, Duration) {
        let total = self.expected.create;
        let call = total.min(CALL);
        (call.mul_f64(self.scale), (total - call).mul_f64(self.scale))
    }
}

#[async_trait]
impl Reconciler for Timed {
    async fn observe(&self, _: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        Ok(Vec::new())
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        pause(self.phases().0).await;
        let outputs = self.outputs.get(&desired.id).into_iter().flatten();
        let outputs = outputs.map(|o| (o.clone(), Value::from(format!("{}:{o}", desired.id)))).collect();
        Ok(Observed {
            pending: true,
            ..Observed::new(desired.id.clone(), desired.id.to_string(), desired.fields.clone(), outputs)
        })
    }

    async fn update(&self, d: &Desired, _: &Observed, _: &[FieldChange]) -> Result<Observed, ReconcileError> {
        Err(ReconcileError::permanent(format!("`{}`: the scheduler benchmark only creates", d.id)))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        Err(ReconcileError::permanent(format!("`{}`: the scheduler benchmark only creates", current.id)))
    }

    async fn wait_ready(&self, mut current: Observed) -> Result<Observed, ReconcileError> {
        pause(self.phases().1).await;
        current.pending = false;
        Ok(current)
    }
}

/// Sleeps, except for nothing: the timer wheel would round a zero sleep up to its next tick
/// (a millisecond), which at 1/1000 scale is a second of AWS time per call.
async fn pause(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

struct NoWrites;

#[async_trait]
impl StateWriter for NoWrites {
    async fn write(&self, doc: &mut StateDocument) -> Result<(), paystack_engine::StateWriteError> {
        doc.serial += 1;
        Ok(())
    }
}

fn minutes(d: Duration) -> String {
    let s = d.as_secs_f64();
    format!("{}m{:04.1}s", (s / 60.0).floor(), s % 60.0)
}

pub(crate) fn write_json(dir: &Path, file: &str, value: &Value) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(file);
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    std::fs::write(&path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("figures written to {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str], u64)]) -> EnvGraph {
        let specs = edges
            .iter()
            .map(|(id, deps, _)| {
                let mut s = Spec::new(ResourceId::new(*id), &kinds::VPC.kind(), (*id).to_owned());
                for (i, d) in deps.iter().enumerate() {
                    s = s.field(&format!("r{i}"), paystack_core::Expr::reference(&ResourceId::new(*d), "id"));
                }
                s
            })
            .collect();
        let durations = edges.iter().map(|(id, _, secs)| (ResourceId::new(*id), Duration::from_secs(*secs))).collect();
        EnvGraph { env: "t".into(), graph: ResourceGraph::build(specs).unwrap(), durations }
    }

    #[test]
    fn the_critical_path_is_the_longest_chain() {
        let g = graph(&[("a", &[], 2), ("b", &["a"], 10), ("c", &["a"], 3), ("d", &["b", "c"], 1)]);
        assert_eq!(critical_path(&g), Duration::from_secs(13));
    }

    #[test]
    fn the_walker_model_queues_behind_its_global_limit() {
        // Eleven independent 10 s creates and a 1 s one: the eleventh waits for a slot.
        let mut edges: Vec<(String, u64)> = (0..11).map(|i| (format!("n{i}"), 10)).collect();
        edges.push(("quick".into(), 1));
        let edges: Vec<(&str, &[&str], u64)> = edges.iter().map(|(id, s)| (id.as_str(), &[][..], *s)).collect();
        let g = graph(&edges);
        assert_eq!(critical_path(&g), Duration::from_secs(10));
        assert_eq!(walker_model(&g), Duration::from_secs(20));
    }
}
