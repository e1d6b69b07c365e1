//! The rules on the one resource a change touched, read through the reconcilers: what
//! `paystack check --event` and the compliance function both run, so they cannot differ.

use std::collections::BTreeSet;

use paystack_engine::{Inventory, ObserveError, Registries, Scope, observe_all};
use paystack_platform::kinds;

use crate::events::ChangeEvent;
use crate::{Expectations, Violation, evaluate};

/// What a check found: the resources it held to the rules, by logical id, and what breaks.
#[derive(Debug, Default)]
pub struct Checked {
    pub resources: BTreeSet<String>,
    pub violations: Vec<Violation>,
}

/// Reads what the rules need and evaluates them: every kind for a whole stack, or with
/// `change`, only the changed kind and what its rules look at besides (the load balancer's
/// groups, the environment's keys), keeping the violations of the resource it names.
pub async fn check(
    registries: Registries,
    scope: &Scope,
    expectations: &Expectations,
    change: Option<&ChangeEvent>,
) -> Result<Checked, ObserveError> {
    let registries = match change {
        None => registries,
        Some(change) => {
            let read = [change.kind.name, kinds::LOAD_BALANCER.name, kinds::KMS_KEY.name];
            registries.retain(|kind| read.contains(&kind.as_str()))
        }
    };
    let inventory = observe_all(&registries, scope).await?;
    Ok(of(&inventory, expectations, change))
}

/// The rules over what was read.
pub fn of(inventory: &Inventory, expectations: &Expectations, change: Option<&ChangeEvent>) -> Checked {
    let mut violations = evaluate(expectations, &inventory.resources);
    let resources: BTreeSet<String> = inventory
        .resources
        .iter()
        .filter(|(kind, o)| change.is_none_or(|c| kind.as_str() == c.kind.name && c.names(o)))
        .map(|(_, o)| o.id.to_string())
        .collect();
    violations.retain(|v| resources.contains(&v.resource));
    Checked { resources, violations }
}

/// A violation as one notification: subject, body, and the message attributes a
/// subscription filters on (environment, stack, rule, resource).
pub struct Message {
    pub subject: String,
    pub body: String,
    pub attributes: [(&'static str, String); 4],
}

impl Violation {
    pub fn message(&self, environment: &str, stack: &str) -> Message {
        Message {
            subject: format!("paystack: {} breaks {} in {stack}", self.resource, self.rule),
            body: format!(
                "{} ({}, {}) breaks the rule `{}`.\nexpected: {}\nactual:   {}\n",
                self.resource, self.kind, self.aws_id, self.rule, self.expected, self.actual
            ),
            attributes: [
                ("environment", environment.to_owned()),
                ("stack", stack.to_owned()),
                ("rule", self.rule.to_owned()),
                ("resource", self.resource.clone()),
            ],
        }
    }
}
