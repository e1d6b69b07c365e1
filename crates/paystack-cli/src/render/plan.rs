//! A plan as people read it: where it goes, what each resource gains and loses, what it
//! costs in data, and what it will need to be applied.

use owo_colors::{OwoColorize, Stream, Style};
use paystack_core::{Action, Change, Fields, Plan, Planned};
use serde_json::{Value, json};

pub(super) fn symbol(action: Action) -> (&'static str, Style) {
    match action {
        Action::Create => ("+", Style::new().green()),
        Action::Update => ("~", Style::new().yellow()),
        Action::Replace => ("-/+", Style::new().magenta()),
        Action::Delete => ("-", Style::new().red()),
        Action::NoOp => (" ", Style::new()),
    }
}

pub(super) fn paint(s: &str, style: Style) -> String {
    s.if_supports_color(Stream::Stdout, |t| t.style(style)).to_string()
}

pub(super) fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

pub(super) fn planned(p: &Planned) -> String {
    match p {
        Planned::Known(v) => compact(v),
        Planned::KnownAfterApply => "(known after apply)".into(),
    }
}

/// One change: a header line, then one line per field, lists shown as what they gain and
/// lose.
fn change_text(c: &Change, out: &mut String) {
    let (sym, style) = symbol(c.action);
    let target = c.aws_id.as_deref().unwrap_or(&c.name);
    out.push_str(&format!(
        "  {} {} ({}) {}",
        paint(sym, style),
        paint(c.id.as_str(), Style::new().bold()),
        c.kind,
        target
    ));
    if let Some(reason) = &c.reason {
        out.push_str(&paint(&format!("  # {reason}"), Style::new().dimmed()));
    }
    if loses_data(c) {
        out.push_str(&paint("  # data loss: what it holds goes with it", Style::new().red().bold()));
    }
    out.push('\n');
    for f in &c.fields {
        let forced =
            if f.forces_replacement { paint(" (forces replacement)", Style::new().magenta()) } else { String::new() };
        if policy_text(f, &forced, out) {
            continue;
        }
        if c.action == Action::Create
            && f.field == "tags"
            && let Planned::Known(Value::Object(tags)) = &f.after
        {
            // Every resource carries the same standard tags: one line each, not eight.
            let pairs: Vec<String> = tags
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| compact(v), str::to_owned)))
                .collect();
            out.push_str(&format!("      tags: {}\n", pairs.join(", ")));
            continue;
        }
        // A new list or map reads best as what it gains, like a changed one.
        let (empty_list, empty_map) = (Value::Array(Vec::new()), Value::Object(Fields::new()));
        let before = match (&f.before, &f.after) {
            (None, Planned::Known(Value::Array(_))) => Some(&empty_list),
            (None, Planned::Known(Value::Object(_))) => Some(&empty_map),
            (before, _) => before.as_ref(),
        };
        match (before, &f.after) {
            (None, after) => out.push_str(&format!("      {}: {}{forced}\n", f.field, planned(after))),
            (Some(Value::Array(before)), Planned::Known(Value::Array(after))) => {
                out.push_str(&format!("      {}:{forced}\n", f.field));
                for item in after.iter().filter(|i| !before.contains(i)) {
                    out.push_str(&format!("        {} {}\n", paint("+", Style::new().green()), compact(item)));
                }
                for item in before.iter().filter(|i| !after.contains(i)) {
                    out.push_str(&format!("        {} {}\n", paint("-", Style::new().red()), compact(item)));
                }
            }
            (Some(Value::Object(before)), Planned::Known(Value::Object(after))) => {
                out.push_str(&format!("      {}:{forced}\n", f.field));
                for (k, v) in after.iter().filter(|(k, v)| before.get(*k) != Some(v)) {
                    let line = match before.get(k) {
                        Some(was) => {
                            format!("{} {k}: {} → {}", paint("~", Style::new().yellow()), compact(was), compact(v))
                        }
                        None => format!("{} {k}: {}", paint("+", Style::new().green()), compact(v)),
                    };
                    out.push_str(&format!("        {line}\n"));
                }
                for k in before.keys().filter(|k| !after.contains_key(*k)) {
                    out.push_str(&format!("        {} {k}\n", paint("-", Style::new().red())));
                }
            }
            (Some(before), after) => {
                out.push_str(&format!("      {}: {} → {}{forced}\n", f.field, compact(before), planned(after)))
            }
        }
    }
}

/// Where a plan goes and what it covers, as its first lines say.
pub(crate) struct Heading<'a> {
    pub(crate) stack: String,
    /// The account id, or `None` for the caller's own account.
    pub(crate) account: Option<&'a str>,
    pub(crate) region: &'a str,
    /// `--target` addresses: the plan is partial.
    pub(crate) targets: &'a [String],
    /// How the targets' closure runs: with what they depend on, or what depends on them.
    pub(crate) destroy: bool,
    /// The environment's name when it is protected: deleting or replacing there needs
    /// `--override-protection`.
    pub(crate) protected: Option<&'a str>,
}

impl Heading<'_> {
    fn place(&self) -> String {
        let account = self.account.map_or_else(|| "the caller's account".to_owned(), |a| format!("account {a}"));
        format!("{account}, {}", self.region)
    }
}

pub(crate) fn plan_text(plan: &Plan, h: &Heading<'_>) -> String {
    let s = plan.summary();
    let stack = &h.stack;
    let mut out = String::new();
    if !h.targets.is_empty() {
        let closure = if h.destroy { "what depends on them" } else { "what they depend on" };
        out.push_str(&format!(
            "This plan is partial: only {} and {closure}. Everything else is left as it is.\n\n",
            h.targets.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    if !plan.has_changes() {
        out.push_str(&format!(
            "No changes. The live resources of `{stack}` ({}) match the configuration ({}).\n",
            h.place(),
            count(s.no_op, "resource")
        ));
        return out;
    }
    out.push_str(&format!("paystack will make these changes to `{stack}` ({}):\n\n", h.place()));
    for c in plan.changes.iter().filter(|c| c.action.is_change()) {
        change_text(c, &mut out);
    }
    out.push_str(&format!(
        "\nPlan: {} to create, {} to update, {} to replace, {} to delete; {} unchanged.\n",
        s.create, s.update, s.replace, s.delete, s.no_op
    ));
    let destructive = paystack_engine::guard::destructive(plan).len();
    if let (Some(env), 1..) = (h.protected, destructive) {
        out.push_str(&format!(
            "`{env}` is protected: this deletes or replaces {}, so it needs `--override-protection`.\n",
            count(destructive, "resource")
        ));
    }
    out
}

/// `n thing` or `n things`.
pub(crate) fn count(n: usize, thing: &str) -> String {
    if n == 1 { format!("1 {thing}") } else { format!("{n} {thing}s") }
}

/// Whether the change deletes data with its resource: a database cluster, table or bucket
/// deleted or replaced.
fn loses_data(c: &Change) -> bool {
    use paystack_platform::kinds::{BUCKET, DB_CLUSTER, TABLE};
    matches!(c.action, Action::Delete | Action::Replace)
        && [DB_CLUSTER.name, TABLE.name, BUCKET.name].contains(&c.kind.as_str())
}

/// An IAM, key or bucket policy, as a field holds it (a JSON document, or the text of one).
fn policy(v: &Value) -> Option<Value> {
    let doc = match v {
        Value::String(s) if s.trim_start().starts_with('{') => serde_json::from_str(s).ok()?,
        Value::Object(_) => v.clone(),
        _ => return None,
    };
    doc.get("Statement").is_some().then_some(doc)
}

/// What turns `from` into `to`, item by item: for a list the items gained (`+`) and lost
/// (`-`), for a map the keys changed, added and removed, for a policy its statements. `None`
/// for a scalar, which reads best whole.
pub(super) fn item_diff(from: &Value, to: &Value) -> Option<Vec<String>> {
    let (plus, minus) = (paint("+", Style::new().green()), paint("-", Style::new().red()));
    let items = |was: &[Value], now: &[Value]| {
        let gained = now.iter().filter(|i| !was.contains(i)).map(|i| format!("{plus} {}", compact(i)));
        let lost = was.iter().filter(|i| !now.contains(i)).map(|i| format!("{minus} {}", compact(i)));
        gained.chain(lost).collect::<Vec<_>>()
    };
    if let (Some(from), Some(to)) = (policy(from), policy(to)) {
        return Some(items(&statements(&from), &statements(&to)));
    }
    match (from, to) {
        (Value::Array(was), Value::Array(now)) => Some(items(was, now)),
        (Value::Object(was), Value::Object(now)) => {
            let mut lines = Vec::new();
            for (k, v) in now.iter().filter(|(k, v)| was.get(*k) != Some(v)) {
                lines.push(match was.get(k) {
                    Some(old) => {
                        format!("{} {k}: {} → {}", paint("~", Style::new().yellow()), compact(old), compact(v))
                    }
                    None => format!("{plus} {k}: {}", compact(v)),
                });
            }
            lines.extend(was.keys().filter(|k| !now.contains_key(*k)).map(|k| format!("{minus} {k}")));
            Some(lines)
        }
        _ => None,
    }
}

fn statements(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(items)) => items.clone(),
        Some(one) => vec![one.clone()],
        None => Vec::new(),
    }
}

/// A policy field: a new one pretty-printed, a changed one as the statements it gains and
/// loses. Returns whether `f` was one.
fn policy_text(f: &paystack_core::FieldChange, forced: &str, out: &mut String) -> bool {
    let Planned::Known(after) = &f.after else { return false };
    let Some(after) = policy(after) else { return false };
    out.push_str(&format!("      {}:{forced}\n", f.field));
    match f.before.as_ref().and_then(policy) {
        None => {
            let pretty = serde_json::to_string_pretty(&after).unwrap_or_default();
            for line in pretty.lines() {
                out.push_str(&format!("        {line}\n"));
            }
        }
        Some(before) => {
            let (was, now) = (statements(&before), statements(&after));
            for item in now.iter().filter(|i| !was.contains(i)) {
                out.push_str(&format!("        {} {}\n", paint("+", Style::new().green()), compact(item)));
            }
            for item in was.iter().filter(|i| !now.contains(i)) {
                out.push_str(&format!("        {} {}\n", paint("-", Style::new().red()), compact(item)));
            }
        }
    }
    true
}

pub(crate) fn plan_json(plan: &Plan, env: &str, stack: &str) -> Value {
    json!({
        "format_version": 1,
        "environment": env,
        "stack": stack,
        "has_changes": plan.has_changes(),
        "summary": plan.summary(),
        "changes": plan.changes,
    })
}

#[cfg(test)]
mod tests {
    use paystack_core::{FieldChange, Kind, ResourceId};
    use serde_json::json;

    use super::*;

    fn change(action: Action, aws_id: Option<&str>, reason: Option<&str>, fields: Vec<FieldChange>) -> Change {
        Change {
            id: ResourceId::new("security.sg.alb"),
            kind: Kind::new("ec2.security_group"),
            placement: Default::default(),
            name: "dev-us-east-1-security-alb-sg".into(),
            action,
            reason: reason.map(str::to_owned),
            aws_id: aws_id.map(str::to_owned),
            fields,
        }
    }

    fn field(name: &str, before: Option<Value>, after: Planned, forces_replacement: bool) -> FieldChange {
        FieldChange { field: name.into(), before, after, forces_replacement }
    }

    fn heading(stack: &str) -> Heading<'static> {
        Heading {
            stack: stack.to_owned(),
            account: None,
            region: "us-east-1",
            targets: &[],
            destroy: false,
            protected: None,
        }
    }

    // Tests run without a terminal, so nothing is colored and the text compares exactly.
    #[test]
    fn a_plan_reads_as_what_each_resource_gains_and_loses() {
        let plan = Plan {
            changes: vec![
                change(
                    Action::Create,
                    None,
                    None,
                    vec![
                        field("tags", None, Planned::Known(json!({"Environment": "dev", "Name": "x"})), false),
                        field("vpc_id", None, Planned::KnownAfterApply, false),
                    ],
                ),
                change(
                    Action::Update,
                    Some("sg-1"),
                    None,
                    vec![field(
                        "ingress",
                        Some(json!([{"port": 80}, {"port": 443}])),
                        Planned::Known(json!([{"port": 443}, {"port": 8443}])),
                        false,
                    )],
                ),
                change(
                    Action::Replace,
                    Some("subnet-1"),
                    Some("cidr_block cannot be changed in place"),
                    vec![field("cidr_block", Some(json!("10.0.0.0/20")), Planned::Known(json!("10.0.8.0/21")), true)],
                ),
                change(Action::NoOp, Some("sg-2"), None, vec![]),
            ],
        };
        let expected = "\
paystack will make these changes to `dev` (the caller's account, us-east-1):

  + security.sg.alb (ec2.security_group) dev-us-east-1-security-alb-sg
      tags: Environment=dev, Name=x
      vpc_id: (known after apply)
  ~ security.sg.alb (ec2.security_group) sg-1
      ingress:
        + {\"port\":8443}
        - {\"port\":80}
  -/+ security.sg.alb (ec2.security_group) subnet-1  # cidr_block cannot be changed in place
      cidr_block: \"10.0.0.0/20\" → \"10.0.8.0/21\" (forces replacement)

Plan: 1 to create, 1 to update, 1 to replace, 0 to delete; 1 unchanged.
";
        assert_eq!(plan_text(&plan, &heading("dev")), expected);
    }

    #[test]
    fn no_changes_says_so_in_one_line() {
        let plan = Plan { changes: vec![change(Action::NoOp, Some("sg-2"), None, vec![])] };
        assert_eq!(
            plan_text(&plan, &heading("dev-blue")),
            "No changes. The live resources of `dev-blue` (the caller's account, us-east-1) match the configuration (1 resource).\n"
        );
    }

    #[test]
    fn policies_read_statement_by_statement_and_data_loss_and_protection_are_said() {
        let allow = |action: &str| json!({"Effect": "Allow", "Action": action, "Resource": "*"});
        let doc = |actions: &[&str]| {
            let statements: Vec<Value> = actions.iter().map(|a| allow(a)).collect();
            json!({"Version": "2012-10-17", "Statement": statements}).to_string()
        };
        let mut update = change(
            Action::Update,
            Some("role-1"),
            None,
            vec![field(
                "inline_policy",
                Some(json!(doc(&["s3:GetObject", "s3:PutObject"]))),
                Planned::Known(json!(doc(&["s3:GetObject", "kms:Decrypt"]))),
                false,
            )],
        );
        update.kind = Kind::new("iam.role");
        let mut table = change(Action::Replace, Some("sessions"), Some("key_schema cannot change"), vec![]);
        table.kind = Kind::new("dynamodb.table");
        let plan = Plan { changes: vec![update, table] };
        let targets = vec!["storage".to_owned()];
        let heading = Heading {
            stack: "prod".into(),
            account: Some("333333333333"),
            region: "us-east-1",
            targets: &targets,
            destroy: false,
            protected: Some("prod"),
        };
        let text = plan_text(&plan, &heading);
        assert!(text.starts_with("This plan is partial: only `storage` and what they depend on."), "{text}");
        assert!(text.contains("changes to `prod` (account 333333333333, us-east-1):"), "{text}");
        assert!(
            text.contains("      inline_policy:\n        + {\"Effect\":\"Allow\",\"Action\":\"kms:Decrypt\""),
            "{text}"
        );
        assert!(text.contains("        - {\"Effect\":\"Allow\",\"Action\":\"s3:PutObject\""), "{text}");
        assert!(!text.contains("s3:GetObject"), "an unchanged statement is not shown: {text}");
        assert!(text.contains("sessions  # key_schema cannot change  # data loss"), "{text}");
        assert!(
            text.ends_with(
                "`prod` is protected: this deletes or replaces 1 resource, so it needs `--override-protection`.\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn drift_and_parity_read_lists_maps_and_policies_item_by_item() {
        let lines = item_diff(&json!([1, 2]), &json!([2, 3])).unwrap();
        assert_eq!(lines, ["+ 3", "- 1"]);
        let lines = item_diff(&json!({"a": 1, "b": 2}), &json!({"a": 1, "b": 3, "c": 4})).unwrap();
        assert_eq!(lines, ["~ b: 2 → 3", "+ c: 4"]);
        let policy = |action: &str| json!({"Statement": [{"Action": action}]}).to_string();
        let lines = item_diff(&json!(policy("s3:*")), &json!(policy("s3:GetObject"))).unwrap();
        assert_eq!(lines, ["+ {\"Action\":\"s3:GetObject\"}", "- {\"Action\":\"s3:*\"}"]);
        assert_eq!(item_diff(&json!(7), &json!(1)), None, "a scalar reads best whole");
    }
}
