//! The dependency graph of desired resources.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use paystack_core::{ResourceId, Spec};
use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GraphError {
    #[error("two resources have the id `{0}`")]
    DuplicateId(ResourceId),
    #[error("`{from}` refers to `{to}`, which is not a resource of this stack")]
    UnknownReference { from: ResourceId, to: ResourceId },
    #[error("dependency cycle: {}", .0.iter().map(ResourceId::as_str).collect::<Vec<_>>().join(" -> "))]
    Cycle(Vec<ResourceId>),
}

/// Specs checked to form a DAG (an edge from each resource to every resource that refers to
/// it), kept in dependency order.
#[derive(Debug)]
pub struct ResourceGraph {
    specs: BTreeMap<ResourceId, Spec>,
    order: Vec<ResourceId>,
}

/// A topological order that takes, among the resources whose dependencies are placed, the
/// first by id: the same graph always reads the same way in a plan. `None` on a cycle.
fn stable_order(graph: &DiGraph<ResourceId, ()>) -> Option<Vec<ResourceId>> {
    let mut waiting: HashMap<NodeIndex, usize> =
        graph.node_indices().map(|n| (n, graph.neighbors_directed(n, Direction::Incoming).count())).collect();
    let mut ready: BTreeSet<(&ResourceId, NodeIndex)> =
        waiting.iter().filter(|(_, d)| **d == 0).map(|(n, _)| (&graph[*n], *n)).collect();
    let mut order = Vec::with_capacity(graph.node_count());
    while let Some((id, n)) = ready.pop_first() {
        order.push(id.clone());
        for m in graph.neighbors(n) {
            let left = waiting.entry(m).or_default();
            *left -= 1;
            if *left == 0 {
                ready.insert((&graph[m], m));
            }
        }
    }
    (order.len() == graph.node_count()).then_some(order)
}

impl ResourceGraph {
    pub fn build(specs: Vec<Spec>) -> Result<Self, GraphError> {
        let mut graph = DiGraph::new();
        let mut index = HashMap::new();
        let mut by_id = BTreeMap::new();
        for spec in specs {
            if index.contains_key(&spec.id) {
                return Err(GraphError::DuplicateId(spec.id));
            }
            index.insert(spec.id.clone(), graph.add_node(spec.id.clone()));
            by_id.insert(spec.id.clone(), spec);
        }
        for spec in by_id.values() {
            for dep in spec.dependencies() {
                let Some(&from) = index.get(&dep) else {
                    return Err(GraphError::UnknownReference { from: spec.id.clone(), to: dep });
                };
                graph.add_edge(from, index[&spec.id], ());
            }
        }
        let Some(order) = stable_order(&graph) else {
            // Report one whole cycle, in dependency order, not just the node where the sort
            // stopped.
            let mut cycle = tarjan_scc(&graph)
                .into_iter()
                .find(|scc| scc.len() > 1 || graph.contains_edge(scc[0], scc[0]))
                .unwrap_or_default();
            cycle.reverse();
            return Err(GraphError::Cycle(cycle.into_iter().map(|n| graph[n].clone()).collect()));
        };
        Ok(Self { specs: by_id, order })
    }

    pub fn spec(&self, id: &ResourceId) -> Option<&Spec> {
        self.specs.get(id)
    }

    /// Specs in an order where every resource comes after everything it refers to.
    pub fn topological(&self) -> impl Iterator<Item = &Spec> {
        self.order.iter().map(|id| &self.specs[id])
    }

    /// The graph in Graphviz DOT, one node per resource labelled with its kind.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph paystack {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
        for id in &self.order {
            let spec = &self.specs[id];
            let _ = writeln!(out, "  \"{id}\" [label=\"{id}\\n{}\"];", spec.kind);
        }
        for id in &self.order {
            for dep in self.specs[id].dependencies() {
                let _ = writeln!(out, "  \"{dep}\" -> \"{id}\";");
            }
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paystack_core::{Expr, Kind};

    fn spec(id: &str, deps: &[&str]) -> Spec {
        let mut s = Spec::new(ResourceId::new(id), &Kind::new("test.thing"), id.to_owned());
        for (i, d) in deps.iter().enumerate() {
            s = s.field(&format!("ref{i}"), Expr::reference(&ResourceId::new(*d), "id"));
        }
        s
    }

    #[test]
    fn edges_come_from_references_and_order_respects_them() {
        let g = ResourceGraph::build(vec![
            spec("subnet", &["vpc"]),
            spec("nat", &["subnet", "eip"]),
            spec("vpc", &[]),
            spec("eip", &[]),
        ])
        .unwrap();
        let order: Vec<&str> = g.topological().map(|s| s.id.as_str()).collect();
        // Dependencies first; among the ready ones, by id.
        assert_eq!(order, ["eip", "vpc", "subnet", "nat"]);
        let dot = g.to_dot();
        assert!(dot.contains("\"vpc\" -> \"subnet\";"), "{dot}");
        assert!(dot.contains("\"subnet\" -> \"nat\";"), "{dot}");
    }

    #[test]
    fn a_cycle_is_reported_with_its_members() {
        // `e` follows the cycle and `d` stands apart: neither is part of it.
        let specs = vec![spec("a", &["c"]), spec("b", &["a"]), spec("c", &["b"]), spec("d", &[]), spec("e", &["a"])];
        let err = ResourceGraph::build(specs).unwrap_err();
        let GraphError::Cycle(members) = &err else { panic!("{err}") };
        let mut names: Vec<&str> = members.iter().map(ResourceId::as_str).collect();
        names.sort();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(err.to_string().starts_with("dependency cycle: "), "{err}");
    }

    #[test]
    fn unknown_references_and_duplicates_are_errors() {
        assert_eq!(
            ResourceGraph::build(vec![spec("a", &["ghost"])]).unwrap_err(),
            GraphError::UnknownReference { from: ResourceId::new("a"), to: ResourceId::new("ghost") }
        );
        assert_eq!(
            ResourceGraph::build(vec![spec("a", &[]), spec("a", &[])]).unwrap_err(),
            GraphError::DuplicateId(ResourceId::new("a"))
        );
    }
}
