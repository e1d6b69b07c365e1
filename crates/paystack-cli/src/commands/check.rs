//! `check`: the stack's live resources held to the compliance rules (`paystack-rules`).
//! Read-only, and it needs no state: it reads what carries the stack's ownership tags. With
//! `--event`, only the resource a CloudTrail event's call changed, as the compliance
//! function does on each event; with `--notify`, each violation goes to the topic.

use std::path::Path;
use std::process::ExitCode;

use miette::{IntoDiagnostic, Result, miette};
use paystack_aws::Attribute;
use paystack_core::StateDocument;
use paystack_rules::events::ChangeEvent;
use paystack_rules::{Expectations, RULES, Violation};
use serde_json::json;

use super::{Aws, Stack};

/// `check`: exit 0 when everything complies, 2 on a violation, 1 on error.
pub(super) async fn check(s: &Stack, json: bool, event: Option<&Path>, notify: bool) -> Result<ExitCode> {
    // The event is read before any call: a file that is no CloudTrail event changes nothing.
    let change = match event {
        None => None,
        Some(path) => match read_event(path)? {
            Some(change) => Some(change),
            None => {
                outln!("The call in {} is not one the rules watch: nothing to check.", path.display());
                return Ok(ExitCode::SUCCESS);
            }
        },
    };
    let aws = Aws::connect(s).await?;
    // State only adds the placements it recorded resources in; a stack never applied is
    // read where its configuration would place it.
    let state = s.read_from(&*aws.backend(s)).await?.unwrap_or_else(|| StateDocument::new(s.key(), String::new()));
    let registries = aws.registries(s, &state).await?;
    let checked = paystack_rules::change::check(registries, &s.scope(), &Expectations::of(&s.env), change.as_ref())
        .await
        .map_err(|e| {
            miette!(help = "check AWS credentials, region and AWS_ENDPOINT_URL; nothing was changed", "{e}")
        })?;
    let (checked, violations) = (checked.resources, checked.violations);
    if json {
        let document = json!({
            "format_version": 1,
            "environment": s.env.name,
            "stack": s.key(),
            "event": change.as_ref().map(|c| json!({ "event_name": c.event_name, "resource": c.resource })),
            "resources_checked": checked.len(),
            "rules": RULES.iter().map(|r| json!({ "id": r.id, "description": r.description })).collect::<Vec<_>>(),
            "compliant": violations.is_empty(),
            "violations": violations,
        });
        outln!("{}", serde_json::to_string_pretty(&document).into_diagnostic()?);
    } else {
        if let Some(change) = &change
            && checked.is_empty()
        {
            outln!(
                "`{}` of {} is not a resource of `{}`: nothing to check.",
                change.resource,
                change.event_name,
                s.key()
            );
        }
        out!("{}", text(&s.key(), checked.len(), &violations));
    }
    if notify && !violations.is_empty() {
        publish(s, &aws, &state, &violations).await?;
    }
    Ok(if violations.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// The change a CloudTrail event in `path` records, or `None` for a call no rule watches.
fn read_event(path: &Path) -> Result<Option<ChangeEvent>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        miette!(help = "name a file holding one CloudTrail event as JSON", "cannot read {}: {e}", path.display())
    })?;
    let event: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        miette!(help = "an event is one JSON object, as EventBridge delivers it", "{} is not JSON: {e}", path.display())
    })?;
    ChangeEvent::read(&event).map_err(|e| miette!(help = "nothing was read or changed", "{}: {e}", path.display()))
}

/// One message per violation on the environment's topic, with the environment, the rule and
/// the resource as message attributes for subscriptions to filter on.
async fn publish(s: &Stack, aws: &Aws, state: &StateDocument, violations: &[Violation]) -> Result<()> {
    let outputs = s.blueprint.resolve_outputs(state);
    let topic = outputs.get("sns_topic_arn").and_then(serde_json::Value::as_str).ok_or_else(|| {
        miette!(
            help = format!("run `{}` to create it", s.command("apply")),
            "cannot notify: `{}` has no SNS topic recorded",
            s.key()
        )
    })?;
    for v in violations {
        let message = v.message(&s.env.name, &s.key());
        let attributes = message.attributes.map(|(k, v)| (k, Attribute::Text(v)));
        let id = paystack_aws::publish(&aws.clients, topic, &message.subject, &message.body, &attributes)
            .await
            .map_err(|e| {
                miette!(
                    help = "check that the topic exists and these credentials may publish to it",
                    "cannot notify: {e}"
                )
            })?;
        diagln!("Notified {topic} of {} breaking {} (message {id}).", v.resource, v.rule);
    }
    Ok(())
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
