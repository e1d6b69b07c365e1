//! `paystack graph`: the resource graph as a picture. A cluster per layer (the first part of
//! a resource id), a colour per family of kinds, and with `--plan` a colour per planned
//! action instead. DOT is written here; SVG and PNG come from Graphviz's `dot`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use paystack_core::{Action, ResourceId};
use paystack_engine::ResourceGraph;

/// The families of kinds, each with its fill colour, by AWS service.
const FAMILIES: &[(&str, &[&str], &str)] = &[
    ("network", &["ec2", "route53", "servicediscovery"], "#dbeafe"),
    ("compute", &["ecs", "lambda", "autoscaling", "elbv2", "wafv2"], "#fde68a"),
    ("data", &["rds", "dynamodb", "s3", "secretsmanager"], "#fecaca"),
    ("identity and keys", &["iam", "kms"], "#e9d5ff"),
    ("observability and events", &["logs", "cloudwatch", "sns", "events", "scheduler"], "#d1fae5"),
    ("configuration", &["ssm"], "#e5e7eb"),
];

fn family_colour(kind: &str) -> &'static str {
    let service = kind.split('.').next().unwrap_or(kind);
    FAMILIES.iter().find(|(_, services, _)| services.contains(&service)).map_or("#ffffff", |(_, _, c)| c)
}

fn action_colour(action: Action) -> &'static str {
    match action {
        Action::Create => "#bbf7d0",
        Action::Update => "#fef08a",
        Action::Replace => "#f5d0fe",
        Action::Delete => "#fca5a5",
        Action::NoOp => "#f3f4f6",
    }
}

/// The ids `targets` name and everything they depend on; every id when there are no targets.
pub(crate) fn closure(graph: &ResourceGraph, targets: &[String]) -> BTreeSet<ResourceId> {
    let all: Vec<ResourceId> = graph.topological().map(|s| s.id.clone()).collect();
    if targets.is_empty() {
        return all.into_iter().collect();
    }
    let mut kept: BTreeSet<ResourceId> =
        all.into_iter().filter(|id| targets.iter().any(|t| paystack_engine::target::addresses(t, id))).collect();
    let mut queue: Vec<ResourceId> = kept.iter().cloned().collect();
    while let Some(id) = queue.pop() {
        for dep in graph.spec(&id).map(|s| s.dependencies()).into_iter().flatten() {
            if kept.insert(dep.clone()) {
                queue.push(dep);
            }
        }
    }
    kept
}

/// The graph in DOT: the resources in `shown`, clustered by layer, coloured by kind family or,
/// given `actions`, by what the plan does to each.
pub(crate) fn dot(
    graph: &ResourceGraph,
    title: &str,
    shown: &BTreeSet<ResourceId>,
    actions: Option<&BTreeMap<ResourceId, Action>>,
) -> String {
    let mut out = String::from("digraph paystack {\n");
    let _ = writeln!(out, "  label=\"{title}\"; labelloc=t; fontname=\"Helvetica\"; fontsize=20;");
    out.push_str("  rankdir=LR; compound=true; newrank=true;\n");
    out.push_str("  node [shape=box, style=\"rounded,filled\", fontname=\"monospace\", fontsize=10];\n");
    let mut layers: BTreeMap<&str, Vec<&ResourceId>> = BTreeMap::new();
    for spec in graph.topological().filter(|s| shown.contains(&s.id)) {
        let layer = spec.id.as_str().split('.').next().unwrap_or_default();
        layers.entry(layer).or_default().push(&spec.id);
    }
    for (layer, ids) in &layers {
        let _ = writeln!(out, "  subgraph \"cluster_{layer}\" {{");
        let _ = writeln!(
            out,
            "    label=\"{layer}\"; style=\"rounded,dashed\"; color=\"#9ca3af\"; fontname=\"Helvetica\";"
        );
        for id in ids {
            let Some(spec) = graph.spec(id) else { continue };
            let fill = match actions {
                Some(actions) => action_colour(actions.get(*id).copied().unwrap_or(Action::NoOp)),
                None => family_colour(spec.kind.as_str()),
            };
            let _ = writeln!(out, "    \"{id}\" [label=\"{id}\\n{}\", fillcolor=\"{fill}\"];", spec.kind);
        }
        out.push_str("  }\n");
    }
    for spec in graph.topological().filter(|s| shown.contains(&s.id)) {
        for dep in spec.dependencies().iter().filter(|d| shown.contains(*d)) {
            let _ = writeln!(out, "  \"{dep}\" -> \"{}\";", spec.id);
        }
    }
    out.push_str(&legend(actions.is_some()));
    out.push_str("}\n");
    out
}

/// What the colours mean.
fn legend(by_action: bool) -> String {
    let entries: Vec<(String, &str)> = if by_action {
        [Action::Create, Action::Update, Action::Replace, Action::Delete, Action::NoOp]
            .into_iter()
            .map(|a| (format!("{a:?}").to_lowercase().replace("noop", "no change"), action_colour(a)))
            .collect()
    } else {
        FAMILIES.iter().map(|(name, _, colour)| ((*name).to_owned(), *colour)).collect()
    };
    let mut out =
        String::from("  subgraph cluster_legend {\n    label=\"legend\"; style=dotted; fontname=\"Helvetica\";\n");
    for (i, (name, colour)) in entries.iter().enumerate() {
        let _ = writeln!(out, "    \"legend {i}\" [label=\"{name}\", fillcolor=\"{colour}\", fontname=\"Helvetica\"];");
    }
    out.push_str("  }\n");
    out
}

/// DOT turned into `format` (svg or png) by Graphviz's `dot`.
pub(crate) fn through_graphviz(dot: &str, format: &str) -> Result<Vec<u8>, String> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let child = Command::new("dot").arg(format!("-T{format}")).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("Graphviz's `dot` is not installed".to_owned());
        }
        Err(e) => return Err(format!("cannot run Graphviz's `dot`: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(dot.as_bytes()).map_err(|e| format!("cannot write to `dot`: {e}"))?;
    }
    let output = child.wait_with_output().map_err(|e| format!("`dot` did not finish: {e}"))?;
    if !output.status.success() {
        return Err(format!("`dot` failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    Ok(output.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use paystack_core::{Expr, Kind, Spec};

    fn spec(id: &str, kind: &str, deps: &[&str]) -> Spec {
        let mut s = Spec::new(ResourceId::new(id), &Kind::new(kind), id.to_owned());
        for (i, d) in deps.iter().enumerate() {
            s = s.field(&format!("ref{i}"), Expr::reference(&ResourceId::new(*d), "id"));
        }
        s
    }

    fn graph() -> ResourceGraph {
        ResourceGraph::build(vec![
            spec("network.vpc", "ec2.vpc", &[]),
            spec("database.cluster", "rds.db_cluster", &["network.vpc"]),
            spec("app.service", "ecs.service", &["database.cluster"]),
        ])
        .unwrap()
    }

    #[test]
    fn layers_are_clusters_and_kinds_are_coloured_by_family() {
        let g = graph();
        let text = dot(&g, "dev", &closure(&g, &[]), None);
        assert!(text.contains("subgraph \"cluster_database\" {"), "{text}");
        assert!(
            text.contains("\"database.cluster\" [label=\"database.cluster\\nrds.db_cluster\", fillcolor=\"#fecaca\"];"),
            "{text}"
        );
        assert!(text.contains("\"network.vpc\" -> \"database.cluster\";"), "{text}");
        assert!(text.contains("label=\"data\""), "the legend names the families: {text}");
    }

    #[test]
    fn a_target_shows_its_closure_and_a_plan_colours_by_action() {
        let g = graph();
        let shown = closure(&g, &["database".to_owned()]);
        let actions = BTreeMap::from([(ResourceId::new("database.cluster"), Action::Replace)]);
        let text = dot(&g, "dev", &shown, Some(&actions));
        assert!(!text.contains("app.service"), "{text}");
        assert!(text.contains("fillcolor=\"#f5d0fe\"];") && text.contains("label=\"replace\""), "{text}");
    }
}
