//! `critical-path`: the slowest chain of an environment's real graph, with each create taking
//! as long as the test proxy plays it (`paystack_proxy::played`). It is what
//! `scripts/bench e2e --latency-scale S` sets the real binary's makespan against.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use paystack_config::Config;
use paystack_core::ResourceId;
use paystack_engine::ResourceGraph;
use paystack_platform::{Lookups, blueprint, kinds};
use serde_json::json;

pub(crate) fn run(config_dir: &Path, env: &str) -> Result<(), String> {
    let config = Config::load(config_dir).map_err(|e| format!("{}: {e}", config_dir.display()))?;
    let environment = config.environment(env, None).map_err(|e| e.to_string())?;
    let specs = blueprint(&environment, &Lookups::default()).map_err(|e| e.to_string())?.specs;
    let graph = ResourceGraph::build(specs).map_err(|e| e.to_string())?;
    let rows: HashMap<&str, &str> = kinds::all().map(|k| (k.name, k.latency_key)).collect();
    let (mut played, mut settles) = (HashMap::new(), HashMap::new());
    for spec in graph.topological() {
        let row = rows.get(spec.kind.as_str()).ok_or_else(|| format!("no kind `{}`", spec.kind))?;
        played.insert(spec.id.clone(), paystack_proxy::played(row));
        settles.insert(spec.id.clone(), paystack_proxy::SETTLING.iter().any(|s| s.row == *row));
    }
    let (length, path) = longest_chain(&graph, &played);
    // Whether the proxy plays a resource's time in the wait after its create (it settles),
    // or in the create's answer.
    let chain: Vec<_> = path
        .iter()
        .map(|id| json!({ "resource": id, "seconds": played[id].as_secs_f64(), "settles": settles[id] }))
        .collect();
    let figures = json!({
        "environment": env,
        "resources": played.len(),
        "critical_path_seconds": length.as_secs_f64(),
        "path": chain,
    });
    println!("{figures}");
    Ok(())
}

/// The longest chain of durations through the graph, and the resources on it in order.
fn longest_chain(graph: &ResourceGraph, durations: &HashMap<ResourceId, Duration>) -> (Duration, Vec<ResourceId>) {
    let mut finish: HashMap<&ResourceId, (Duration, Option<&ResourceId>)> = HashMap::new();
    for spec in graph.topological() {
        let before = spec.dependencies().iter().filter_map(|d| finish.get_key_value(d)).max_by_key(|(_, (t, _))| *t);
        let (start, previous) = before.map_or((Duration::ZERO, None), |(id, (t, _))| (*t, Some(*id)));
        finish.insert(&spec.id, (start + durations[&spec.id], previous));
    }
    let Some((mut at, (length, _))) = finish.iter().max_by_key(|(_, (t, _))| *t).map(|(id, f)| (*id, *f)) else {
        return (Duration::ZERO, Vec::new());
    };
    let mut path = vec![at.clone()];
    while let Some((_, Some(previous))) = finish.get(at) {
        path.push((*previous).clone());
        at = previous;
    }
    path.reverse();
    (length, path)
}

#[cfg(test)]
mod tests {
    use paystack_core::{Expr, Spec};

    use super::*;

    fn spec(id: &str, deps: &[&str]) -> Spec {
        let mut s = Spec::new(ResourceId::new(id), &paystack_core::Kind::new("test.thing"), id.to_owned());
        for (i, d) in deps.iter().enumerate() {
            s = s.field(&format!("ref{i}"), Expr::reference(&ResourceId::new(*d), "id"));
        }
        s
    }

    #[test]
    fn the_longest_chain_is_found_with_its_resources_in_order() {
        let graph =
            ResourceGraph::build(vec![spec("a", &[]), spec("b", &["a"]), spec("c", &["a"]), spec("d", &["b", "c"])])
                .unwrap();
        let secs = |s| Duration::from_secs(s);
        let durations =
            HashMap::from([("a", 1), ("b", 5), ("c", 2), ("d", 1)].map(|(id, s)| (ResourceId::new(id), secs(s))));
        let (length, path) = longest_chain(&graph, &durations);
        assert_eq!(length, secs(7));
        assert_eq!(path, ["a", "b", "d"].map(ResourceId::new));
    }
}
