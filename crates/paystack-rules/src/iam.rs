//! The rules on roles: their statements, their attached policies and their boundary.
//!
//! A role's statements are those of its own policy (`policy`) and of every inline policy
//! someone added beside it (`other_policies`, by name).

use paystack_core::Observed;
use serde_json::Value;

use super::{Context, Finding, finding, shown, text};

/// A JSON value IAM allows as one item or a list of them, as a list.
pub(crate) fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    }
}

/// Every `Allow` statement of the role, with the policy it is in.
fn allows(o: &Observed) -> Vec<(String, &Value)> {
    let a = &o.attributes;
    let mut documents: Vec<(String, &Value)> =
        a.get("policy").map(|p| ("paystack".to_owned(), p)).into_iter().collect();
    if let Some(others) = a.get("other_policies").and_then(Value::as_object) {
        documents.extend(others.iter().map(|(name, p)| (name.clone(), p)));
    }
    documents
        .into_iter()
        .flat_map(|(name, doc)| {
            doc.get("Statement").map(as_list).unwrap_or_default().into_iter().map(move |s| (name.clone(), s))
        })
        .filter(|(_, s)| text(s.get("Effect")) == Some("Allow"))
        .collect()
}

fn has_wildcard(v: Option<&Value>) -> bool {
    v.map(as_list).unwrap_or_default().iter().any(|x| x.as_str() == Some("*"))
}

fn label(policy: &str, statement: &Value) -> String {
    match text(statement.get("Sid")) {
        Some(sid) => format!("policy `{policy}`, statement `{sid}`"),
        None => format!("policy `{policy}`"),
    }
}

pub(crate) fn wildcard_action(_: &Context<'_>, o: &Observed) -> Vec<Finding> {
    allows(o)
        .into_iter()
        .filter(|(_, s)| has_wildcard(s.get("Action")) || s.get("NotAction").is_some())
        .map(|(policy, s)| {
            let what =
                if s.get("NotAction").is_some() { "allows every action but some (NotAction)" } else { "allows `*`" };
            finding("named actions only", format!("{}: {what}", label(&policy, s)))
        })
        .collect()
}

pub(crate) fn wildcard_resource(_: &Context<'_>, o: &Observed) -> Vec<Finding> {
    allows(o)
        .into_iter()
        .filter(|(_, s)| {
            let unconditioned = match s.get("Condition") {
                None | Some(Value::Null) => true,
                Some(Value::Object(c)) => c.is_empty(),
                Some(_) => false,
            };
            (has_wildcard(s.get("Resource")) || s.get("NotResource").is_some()) && unconditioned
        })
        .map(|(policy, s)| {
            finding(
                "named resources, or `*` held by a condition",
                format!("{}: `*` with no condition", label(&policy, s)),
            )
        })
        .collect()
}

pub(crate) fn managed_policies(_: &Context<'_>, o: &Observed) -> Vec<Finding> {
    let attached: Vec<&str> = o
        .attributes
        .get("managed_policy_arns")
        .map(as_list)
        .unwrap_or_default()
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    if attached.is_empty() {
        Vec::new()
    } else {
        vec![finding("no managed policy attached", format!("attached: {}", attached.join(", ")))]
    }
}

pub(crate) fn boundary(cx: &Context<'_>, o: &Observed) -> Vec<Finding> {
    let Some(expected) = &cx.expect.permissions_boundary else { return Vec::new() };
    let actual = o.attributes.get("permissions_boundary");
    if text(actual) == Some(expected.as_str()) {
        Vec::new()
    } else {
        vec![finding(
            expected.clone(),
            match text(actual) {
                Some(_) => shown(actual),
                None => "no boundary".to_owned(),
            },
        )]
    }
}

/// Services that send `aws:SourceAccount` when they take a role; Lambda does not, when it
/// takes a function's role.
fn names_its_source(service: &str) -> bool {
    service != "lambda.amazonaws.com"
}

/// Every trust statement that lets a service take the role, but for Lambda's, holds the
/// service to an account with `aws:SourceAccount`.
pub(crate) fn confused_deputy(_: &Context<'_>, o: &Observed) -> Vec<Finding> {
    let trust = o.attributes.get("assume_role_policy");
    let statements = trust.and_then(|t| t.get("Statement")).map(as_list).unwrap_or_default();
    statements
        .into_iter()
        .filter(|s| text(s.get("Effect")) == Some("Allow"))
        .flat_map(|s| {
            let services = s.get("Principal").and_then(|p| p.get("Service")).map(as_list).unwrap_or_default();
            let guarded = s
                .get("Condition")
                .and_then(Value::as_object)
                .is_some_and(|c| c.values().any(|test| test.get("aws:SourceAccount").is_some()));
            services
                .into_iter()
                .filter_map(Value::as_str)
                .filter(move |service| names_its_source(service) && !guarded)
                .map(|service| {
                    finding(
                        "`aws:SourceAccount` on every service's trust",
                        format!("{service} trusted with no source condition"),
                    )
                })
        })
        .collect()
}
