//! `check`: the stack's live resources held to the compliance rules (`paystack-rules`).
//! Read-only, and it needs no state: it reads what carries the stack's ownership tags.

use std::process::ExitCode;

use miette::{IntoDiagnostic, Result};
use paystack_core::StateDocument;
use paystack_rules::{Expectations, RULES, Violation};
use serde_json::json;

use super::{Aws, Stack, observe};

/// `check`: exit 0 when everything complies, 2 on a violation, 1 on error.
pub(super) async fn check(s: &Stack, json: bool) -> Result<ExitCode> {
    let aws = Aws::connect(s).await?;
    // State only adds the placements it recorded resources in; a stack never applied is
    // read where its configuration would place it.
    let state = s.read_from(&*aws.backend(s)).await?.unwrap_or_else(|| StateDocument::new(s.key(), String::new()));
    let registries = aws.registries(s, &state).await?;
    let inventory = observe(&registries, &s.scope()).await?;
    let violations = paystack_rules::evaluate(&Expectations::of(&s.env), &inventory.resources);
    let checked = inventory.resources.len();
    if json {
        let document = json!({
            "format_version": 1,
            "environment": s.env.name,
            "stack": s.key(),
            "resources_checked": checked,
            "rules": RULES.iter().map(|r| json!({ "id": r.id, "description": r.description })).collect::<Vec<_>>(),
            "compliant": violations.is_empty(),
            "violations": violations,
        });
        outln!("{}", serde_json::to_string_pretty(&document).into_diagnostic()?);
    } else {
        out!("{}", text(&s.key(), checked, &violations));
    }
    Ok(if violations.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The report: each broken rule once, with every resource that breaks it.
fn text(stack: &str, checked: usize, violations: &[Violation]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if checked == 0 {
        let _ = writeln!(out, "Nothing of `{stack}` is live, so nothing breaks a rule.");
        return out;
    }
    let _ = writeln!(
        out,
        "Checked {} of `{stack}` against {}.",
        plural(checked, "resource", "resources"),
        plural(RULES.len(), "rule", "rules")
    );
    if violations.is_empty() {
        let _ = writeln!(out, "Everything complies.");
        return out;
    }
    let mut rules = 0;
    for rule in RULES {
        let broken: Vec<&Violation> = violations.iter().filter(|v| v.rule == rule.id).collect();
        if broken.is_empty() {
            continue;
        }
        rules += 1;
        let _ = writeln!(out, "\n✗ {}: {}", rule.id, rule.description);
        for v in broken {
            let _ = writeln!(out, "    {} ({}, {})", v.resource, v.kind, v.aws_id);
            let _ = writeln!(out, "        expected: {}", v.expected);
            let _ = writeln!(out, "        actual:   {}", v.actual);
        }
    }
    let _ = writeln!(
        out,
        "\n{} of {}. Fix them in AWS, or run `paystack apply` where the configuration already says what they should be.",
        plural(violations.len(), "violation", "violations"),
        plural(rules, "rule", "rules")
    );
    out
}
