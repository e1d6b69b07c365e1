//! The estimate: one line per resource, priced from the table at the environment's
//! assumptions, or said to be free, or said to be charged by use the estimate does not model.

use std::collections::BTreeMap;

use paystack_config::{Assumption, CostAssumptions, Environment};
use paystack_core::{Expr, Fields, Kind, ResourceId, Spec, StateDocument};
use serde::Serialize;
use serde_json::Value;

use crate::prices::{Day, PriceTable};
use crate::pricing;

/// A resource as the estimate sees it: from the configuration (a spec, whose references are
/// not known yet) or from state (what was last applied).
#[derive(Clone, Debug)]
pub struct Resource {
    pub id: ResourceId,
    pub kind: Kind,
    /// `None` for a global kind (IAM, Route 53).
    pub region: Option<String>,
    /// Its fields; a reference not resolved yet is null.
    pub fields: Fields,
    /// The resources it refers to.
    pub depends_on: Vec<ResourceId>,
}

impl Resource {
    pub fn from_spec(spec: &Spec) -> Self {
        Self {
            id: spec.id.clone(),
            kind: spec.kind.clone(),
            region: spec.placement.region.clone(),
            fields: spec.fields.iter().map(|(k, e)| (k.clone(), known(e))).collect(),
            depends_on: spec.dependencies().into_iter().collect(),
        }
    }

    /// Every resource `state` records.
    pub fn from_state(state: &StateDocument) -> Vec<Self> {
        state
            .resources
            .iter()
            .map(|(id, r)| Self {
                id: id.clone(),
                kind: r.kind.clone(),
                region: r.placement.region.clone(),
                fields: r.attributes.clone(),
                depends_on: r.depends_on.clone(),
            })
            .collect()
    }

    pub(crate) fn str(&self, field: &str) -> Option<&str> {
        self.fields.get(field)?.as_str()
    }

    pub(crate) fn num(&self, field: &str) -> Option<f64> {
        match self.fields.get(field)? {
            Value::Number(n) => n.as_f64(),
            // Task sizes are strings in ECS's API: "256".
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }
}

/// The value of `expr` as far as it is known: a reference is null.
fn known(expr: &Expr) -> Value {
    match expr {
        Expr::Literal(v) => v.clone(),
        Expr::Ref(_) => Value::Null,
        Expr::List(items) => Value::Array(items.iter().map(known).collect()),
        Expr::Map(entries) => Value::Object(entries.iter().map(|(k, e)| (k.clone(), known(e))).collect()),
    }
}

/// How a resource's line is priced.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", content = "why", rename_all = "kebab-case")]
pub enum Status {
    /// From the table; its charges say how.
    Priced,
    /// AWS charges nothing for the resource itself.
    Free(&'static str),
    /// AWS charges for it by use the estimate does not model.
    NotEstimated(&'static str),
}

/// One charge of a line: `quantity` of `unit` at `usd` each, a month.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Charge {
    pub service: String,
    pub dimension: String,
    pub region: String,
    pub quantity: f64,
    pub unit: String,
    pub usd: f64,
    /// The assumption the quantity comes from, if one does: its key and value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assumption: Option<(String, f64)>,
}

impl Charge {
    pub fn monthly(&self) -> f64 {
        self.quantity * self.usd
    }
}

/// One resource's monthly cost.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Line {
    pub resource: ResourceId,
    pub kind: Kind,
    /// The first part of its id: `database`, `network`...
    pub layer: String,
    /// What is charged for, in a few words: "db.r5.large instance", "NAT gateway".
    pub item: String,
    #[serde(flatten)]
    pub status: Status,
    pub charges: Vec<Charge>,
    /// The configuration keys its figure follows, such as `database.instance_class`.
    pub knobs: Vec<String>,
    /// The lowest and highest it reaches as it scales (tasks between `min_count` and
    /// `max_count`, Serverless v2 between its minimum and maximum capacity).
    pub low: f64,
    pub high: f64,
    /// Other resources whose fields its price reads (an ECS service reads its task
    /// definition's size).
    #[serde(skip)]
    pub inputs: Vec<ResourceId>,
}

impl Line {
    pub fn monthly(&self) -> f64 {
        positive_zero(self.charges.iter().map(Charge::monthly).sum())
    }
}

/// `x`, with an empty sum's `-0.0` (which JSON would print as `-0.0`) as `0.0`.
pub(crate) fn positive_zero(x: f64) -> f64 {
    x + 0.0
}

/// A stack's estimate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Estimate {
    pub environment: String,
    pub lines: Vec<Line>,
    /// Where the prices came from, and the oldest and newest of their dates.
    pub prices: String,
    pub effective: (Day, Day),
    #[serde(skip)]
    pub assumptions: CostAssumptions,
}

impl Estimate {
    pub fn total(&self) -> f64 {
        positive_zero(self.lines.iter().map(Line::monthly).sum())
    }

    /// The total at every line's lowest and highest.
    pub fn range(&self) -> (f64, f64) {
        let sum = |f: fn(&Line) -> f64| positive_zero(self.lines.iter().map(f).sum());
        (sum(|l| l.low), sum(|l| l.high))
    }

    /// Each layer's total, in the order layers first appear.
    pub fn layers(&self) -> Vec<(&str, f64)> {
        let mut layers: Vec<(&str, f64)> = Vec::new();
        for line in &self.lines {
            match layers.iter_mut().find(|(l, _)| *l == line.layer) {
                Some((_, total)) => *total += line.monthly(),
                None => layers.push((&line.layer, line.monthly())),
            }
        }
        layers
    }

    pub fn line(&self, id: &ResourceId) -> Option<&Line> {
        self.lines.iter().find(|l| &l.resource == id)
    }

    /// The total of the lines that follow each set of knobs: what `parity` compares.
    pub fn by_knobs(&self) -> BTreeMap<String, f64> {
        let mut totals = BTreeMap::new();
        for line in self.lines.iter().filter(|l| l.monthly() > 0.0) {
            let key =
                if line.knobs.is_empty() { "(the platform's structure)".to_owned() } else { line.knobs.join(", ") };
            *totals.entry(key).or_insert(0.0) += line.monthly();
        }
        totals
    }
}

/// Why a stack cannot be estimated: a price its resources need is not in the table.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{table} has no price for {}", .missing.join(", "))]
pub struct MissingPrices {
    /// The table, by where it was read from.
    pub table: String,
    /// `service dimension in region`, each once.
    pub missing: Vec<String>,
}

/// What pricing one stack needs besides its resources.
pub(crate) struct Context<'a> {
    pub(crate) env: &'a Environment,
    pub(crate) prices: &'a PriceTable,
    pub(crate) resources: &'a [Resource],
    pub(crate) missing: std::cell::RefCell<Vec<String>>,
}

impl Context<'_> {
    pub(crate) fn assume(&self, a: Assumption) -> f64 {
        self.env.cost.get(a)
    }

    pub(crate) fn hours(&self) -> f64 {
        self.assume(Assumption::HoursPerMonth)
    }

    /// A charge of `quantity` at the table's price; a price the table lacks is noted and
    /// priced at zero, and [`estimate`] then fails naming every one.
    pub(crate) fn charge(&self, region: &str, service: &str, dimension: &str, quantity: f64) -> Charge {
        let (unit, usd) = match self.prices.price(region, service, dimension) {
            Some(p) => (p.unit.clone(), p.usd),
            None => {
                let mut missing = self.missing.borrow_mut();
                let name = format!("{service} {dimension} in {region}");
                if !missing.contains(&name) {
                    missing.push(name);
                }
                (crate::prices::unit_of(service, dimension).unwrap_or("unit").to_owned(), 0.0)
            }
        };
        Charge {
            service: service.to_owned(),
            dimension: dimension.to_owned(),
            region: region.to_owned(),
            quantity,
            unit,
            usd,
            assumption: None,
        }
    }

    /// A charge whose quantity is `per` times the assumption `a`.
    pub(crate) fn assumed(&self, region: &str, service: &str, dimension: &str, a: Assumption, per: f64) -> Charge {
        let value = self.assume(a);
        Charge { assumption: Some((a.key().to_owned(), value)), ..self.charge(region, service, dimension, value * per) }
    }

    /// The resource of kind `kind` that `of` depends on.
    pub(crate) fn dependency(&self, of: &Resource, kind: &Kind) -> Option<&Resource> {
        self.resources.iter().find(|r| &r.kind == kind && of.depends_on.contains(&r.id))
    }

    /// The resources of kind `kind` that depend on `of`.
    pub(crate) fn dependents<'b>(&'b self, of: &'b Resource, kind: Kind) -> impl Iterator<Item = &'b Resource> {
        self.resources.iter().filter(move |r| r.kind == kind && r.depends_on.contains(&of.id))
    }
}

/// The monthly estimate of `resources` in `env`, priced from `prices`. Fails, naming every
/// price it lacks, if the table does not price something the stack uses.
pub fn estimate(env: &Environment, resources: &[Resource], prices: &PriceTable) -> Result<Estimate, MissingPrices> {
    let cx = Context { env, prices, resources, missing: Default::default() };
    let lines: Vec<Line> = resources.iter().map(|r| pricing::line(&cx, r)).collect();
    let missing = cx.missing.into_inner();
    if !missing.is_empty() {
        return Err(MissingPrices { table: prices.source.clone(), missing });
    }
    let effective = prices.effective().unwrap_or((Day::today(), Day::today()));
    Ok(Estimate {
        environment: env.name.clone(),
        lines,
        prices: prices.source.clone(),
        effective,
        assumptions: env.cost.clone(),
    })
}

/// The estimate of the stack `specs` describe.
pub fn estimate_specs(env: &Environment, specs: &[Spec], prices: &PriceTable) -> Result<Estimate, MissingPrices> {
    let resources: Vec<Resource> = specs.iter().map(Resource::from_spec).collect();
    estimate(env, &resources, prices)
}
