//! Product output: plans, progress, reports and outputs. Tables and lines for people on
//! stdout/stderr, JSON for programs.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use owo_colors::{OwoColorize, Stream, Style};
use paystack_core::{Action, Fields, Planned, ResourceId};
use paystack_engine::{ApplyReport, DriftKind, DriftReport, Event, Outcome, ParityReport, Progress, Unexplained};
use serde_json::{Value, json};

pub(crate) mod cost;
pub(crate) mod graph;
mod live;
mod plan;
pub(crate) use live::LiveView;
pub(crate) use plan::{Heading, count, plan_json, plan_text};
use plan::{compact, item_diff, paint, planned, symbol};

fn drift_counts(report: &DriftReport) -> String {
    format!(
        "{} modified, {} deleted, {} unmanaged",
        report.count(DriftKind::Modified),
        report.count(DriftKind::Deleted),
        report.count(DriftKind::Unmanaged)
    )
}

pub(crate) fn drift_text(report: &DriftReport, stack: &str, region: &str) -> String {
    let mut out = if report.has_drift() {
        format!("Drift in `{stack}` ({region}): {}.\n\n", drift_counts(report))
    } else {
        format!("No drift. The live resources of `{stack}` ({region}) are as paystack left them.\n")
    };
    for f in &report.findings {
        let target = f.aws_id.as_deref().unwrap_or(&f.name);
        let (sym, style, what) = match f.drift {
            DriftKind::Modified => ("~", Style::new().yellow(), "modified out of band"),
            DriftKind::Deleted => ("-", Style::new().red(), "deleted out of band"),
            DriftKind::Unmanaged => ("?", Style::new().magenta(), "carries this stack's tags but is not in state"),
        };
        out.push_str(&format!(
            "  {} {} ({}) {target}  {}\n",
            paint(sym, style),
            paint(f.id.as_str(), Style::new().bold()),
            f.kind,
            paint(&format!("# {what}"), Style::new().dimmed())
        ));
        for d in &f.fields {
            // A list, a map or a policy: what apply would add (+) and take away (-).
            if let (Planned::Known(expected), Some(actual)) = (&d.expected, &d.actual)
                && let Some(lines) = item_diff(actual, expected)
            {
                out.push_str(&format!("      {}: apply would set back\n", d.field));
                for line in lines {
                    out.push_str(&format!("        {line}\n"));
                }
                continue;
            }
            let actual = d.actual.as_ref().map_or_else(|| "(unset)".to_owned(), compact);
            out.push_str(&format!("      {}: expected {}, actual {actual}\n", d.field, planned(&d.expected)));
        }
    }
    for i in &report.ignored {
        let actual = i.actual.as_ref().map_or_else(|| "(unset)".to_owned(), compact);
        out.push_str(&paint(
            &format!("  (ignored: {} {} = {actual}, owned by {})\n", i.id, i.field, i.owner),
            Style::new().dimmed(),
        ));
    }
    out
}

pub(crate) fn drift_json(report: &DriftReport, env: &str, stack: &str) -> Value {
    json!({
        "format_version": 1,
        "environment": env,
        "stack": stack,
        "drift": report.has_drift(),
        "counts": {
            "modified": report.count(DriftKind::Modified),
            "deleted": report.count(DriftKind::Deleted),
            "unmanaged": report.count(DriftKind::Unmanaged),
        },
        "findings": report.findings,
        "ignored": report.ignored,
    })
}

/// The one message `drift --notify` publishes: a subject and the first `limit` findings.
pub(crate) fn drift_message(report: &DriftReport, env: &str, stack: &str, limit: usize) -> (String, String) {
    let subject = format!("paystack drift in {stack}: {}", drift_counts(report));
    let mut body = format!("Environment {env}, stack {stack}: {}.\n\n", drift_counts(report));
    let mut lines = 0;
    for f in &report.findings {
        let target = f.aws_id.as_deref().unwrap_or(&f.name);
        if f.fields.is_empty() {
            body.push_str(&format!("- {} ({target}): {:?}\n", f.id, f.drift));
            lines += 1;
        }
        for d in &f.fields {
            let actual = d.actual.as_ref().map_or_else(|| "(unset)".to_owned(), compact);
            body.push_str(&format!("- {} {}: expected {}, actual {actual}\n", f.id, d.field, planned(&d.expected)));
            lines += 1;
        }
        if lines >= limit {
            body.push_str(&format!("\n(first {limit} shown; `paystack drift --env {env}` lists all)\n"));
            break;
        }
    }
    (subject, body)
}

/// `parity`: the structure, the configured differences, then the unexplained ones, which
/// are what a reader acts on.
pub(crate) fn parity_text(report: &ParityReport, a: &str, b: &str) -> String {
    let value = |v: &Option<Value>| v.as_ref().map_or_else(|| "(unset)".to_owned(), compact);
    let mut out = format!("Parity of `{a}` and `{b}`.\n\n");
    out.push_str(&format!("Structure: {} logical resources in both", report.shared));
    for (only, env) in [(&report.only_in_a, a), (&report.only_in_b, b)] {
        if !only.is_empty() {
            let ids: Vec<&str> = only.iter().map(ResourceId::as_str).collect();
            out.push_str(&format!("; {} only in `{env}`'s configuration: {}", only.len(), ids.join(", ")));
        }
    }
    out.push_str(".\n");
    out.push_str(&format!("\nConfigured differences ({}):\n", report.configured.len()));
    for c in &report.configured {
        out.push_str(&format!("  {} {}: {a} {}, {b} {}\n", c.id, c.field, value(&c.a), value(&c.b)));
    }
    if !report.has_unexplained() {
        out.push_str("\nNo unexplained differences: everything that differs, the configurations say so.\n");
        return out;
    }
    out.push_str(&paint(
        &format!("\nUnexplained differences ({}):\n", report.unexplained.len()),
        Style::new().bold().red(),
    ));
    for d in &report.unexplained {
        let id = paint(d.id.as_str(), Style::new().bold());
        match (&d.kind, &d.field) {
            (Unexplained::Field, Some(field)) => {
                let items = d.a.as_ref().zip(d.b.as_ref()).and_then(|(va, vb)| item_diff(va, vb));
                match items {
                    // A list, a map or a policy: what `b` has that `a` lacks (+), and the reverse (-).
                    Some(lines) => {
                        out.push_str(&format!("  ~ {id} {field}: live in `{b}` against `{a}`  "));
                        out.push_str(&paint("# the configurations agree", Style::new().dimmed()));
                        for line in lines {
                            out.push_str(&format!("\n      {line}"));
                        }
                    }
                    None => {
                        out.push_str(&format!("  ~ {id} {field}: live {a} {}, {b} {}  ", value(&d.a), value(&d.b)));
                        out.push_str(&paint("# the configurations agree", Style::new().dimmed()));
                    }
                }
            }
            _ => {
                out.push_str(&format!("  ? {id}: {} live in `{a}`, {} in `{b}`  ", value(&d.a), value(&d.b)));
                out.push_str(&paint("# the configurations do not say so", Style::new().dimmed()));
            }
        }
        out.push('\n');
    }
    out.push_str(
        "\n`paystack drift` on each environment tells which one moved out of band; `paystack plan` shows what apply would set back.\n",
    );
    out
}

pub(crate) fn parity_json(report: &ParityReport, a: (&str, &str), b: (&str, &str)) -> Value {
    json!({
        "format_version": 1,
        "a": { "environment": a.0, "stack": a.1 },
        "b": { "environment": b.0, "stack": b.1 },
        "unexplained_differences": report.has_unexplained(),
        "structure": { "shared": report.shared, "only_in_a": report.only_in_a, "only_in_b": report.only_in_b },
        "configured": report.configured,
        "unexplained": report.unexplained,
    })
}

/// What `init` found and did, one line per setting.
/// What `init` or `bootstrap` did, step by step, then whether `subject` needed any change.
pub(crate) fn steps_text(steps: &[paystack_aws::InitStep], subject: &str) -> String {
    use paystack_aws::Outcome;
    let mut out = String::new();
    for step in steps {
        let what = match step.outcome {
            Outcome::Created => "created",
            Outcome::Changed => "set",
            Outcome::Unchanged => "ok",
            Outcome::Reapplied => "set (no change if it was so)",
        };
        out.push_str(&format!("{:<56} {what}\n", step.what));
    }
    let changed = steps.iter().filter(|s| matches!(s.outcome, Outcome::Created | Outcome::Changed)).count();
    let reapplied = steps.iter().filter(|s| matches!(s.outcome, Outcome::Reapplied)).count();
    let settings = if reapplied == 1 { "setting AWS cannot show was" } else { "settings AWS cannot show were" };
    match (changed, reapplied) {
        (0, 0) => out.push_str(&format!("\n{subject} is ready; nothing needed changing.\n")),
        (0, n) => out.push_str(&format!(
            "\n{subject} is ready; nothing needed changing ({n} {settings} put again, which changes nothing if they were so).\n"
        )),
        (n, _) => out.push_str(&format!("\n{subject} is ready ({} made).\n", count(n, "change"))),
    }
    out
}

pub(crate) fn outputs_text(outputs: &Fields) -> String {
    let width = outputs.keys().map(String::len).max().unwrap_or(0);
    outputs.iter().map(|(k, v)| format!("{k:width$} = {}\n", compact(v))).collect()
}

/// Progress lines on stderr as resources start and settle, and a reminder for any that is
/// still going after a while (a NAT gateway or a database takes minutes).
pub(crate) struct ProgressLines {
    /// Put before every line, when several environments run at once.
    label: String,
    started: Instant,
    total: usize,
    done: AtomicUsize,
    in_flight: Mutex<BTreeMap<ResourceId, (&'static str, Instant)>>,
    out: Mutex<std::io::Stderr>,
}

impl ProgressLines {
    /// How long a resource runs before `heartbeat` mentions it.
    pub(crate) const HEARTBEAT: Duration = Duration::from_secs(10);

    pub(crate) fn new(total: usize) -> Self {
        Self {
            label: String::new(),
            started: Instant::now(),
            total,
            done: AtomicUsize::new(0),
            in_flight: Mutex::new(BTreeMap::new()),
            out: Mutex::new(std::io::stderr()),
        }
    }

    /// One line for each resource that has been working longer than [`Self::HEARTBEAT`].
    pub(crate) fn heartbeat(&self) {
        let slow: Vec<(ResourceId, &'static str, Duration)> = match self.in_flight.lock() {
            Ok(m) => m
                .iter()
                .map(|(id, (verb, since))| (id.clone(), *verb, since.elapsed()))
                .filter(|(_, _, e)| *e >= Self::HEARTBEAT)
                .collect(),
            Err(_) => return,
        };
        for (id, verb, elapsed) in slow {
            self.line(format!("  {id}: still {verb}… ({}s elapsed)", elapsed.as_secs()));
        }
    }

    fn track(&self, id: &ResourceId, verb: Option<&'static str>) {
        if let Ok(mut m) = self.in_flight.lock() {
            match verb {
                Some(v) => m.insert(id.clone(), (v, Instant::now())),
                None => m.remove(id),
            };
        }
    }

    /// Lines that start with `env`: for a run of several environments, whose lines mix.
    pub(crate) fn labelled(self, env: &str) -> Self {
        Self { label: format!("{env}: "), ..self }
    }

    fn line(&self, text: String) {
        let t = self.started.elapsed().as_secs_f64();
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{}[{t:6.1}s] {text}", self.label);
        }
    }
}

fn err_paint(s: &str, style: Style) -> String {
    s.if_supports_color(Stream::Stderr, |t| t.style(style)).to_string()
}

impl Progress for ProgressLines {
    fn event(&self, event: Event) {
        match event {
            Event::Started { id, action } => {
                let (sym, style) = symbol(action);
                let verb = live::verb(action, false);
                self.track(&id, Some(verb));
                self.line(format!("{} {id}: {verb}…", err_paint(sym, style)));
            }
            // Most waits end at once; the heartbeat reports the ones that do not. Calls are
            // for `--json` to follow.
            Event::Waiting { .. } | Event::Calling { .. } | Event::Called { .. } => {}
            Event::Retrying { id, attempt, error } => {
                self.line(format!("  {id}: attempt {attempt} failed, retrying: {error}"))
            }
            Event::Finished { id, action, elapsed } => {
                self.track(&id, None);
                let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
                let (sym, style) = symbol(action);
                let verb = live::verb(action, true);
                self.line(format!(
                    "{} {id}: {verb} in {:.1}s [{n}/{}]",
                    err_paint(sym, style),
                    elapsed.as_secs_f64(),
                    self.total
                ));
            }
            Event::Failed { id, error } => {
                self.line(format!("{} {id}: failed: {error}", err_paint("!", Style::new().red().bold())))
            }
            Event::Skipped { id, because } => self.line(format!("  {id}: skipped, because {because} failed")),
        }
    }
}

/// The closing summary of an apply or destroy, with what failed and what was skipped.
pub(crate) fn report_text(report: &ApplyReport, verb: &str, took: Duration) -> String {
    let done = |a: Action| report.count(|o| *o == Outcome::Done(a));
    let mut out = String::new();
    if report.succeeded() {
        // What happened, and only that: a destroy creates nothing.
        let parts: Vec<String> = [
            (Action::Create, "created"),
            (Action::Update, "updated"),
            (Action::Replace, "replaced"),
            (Action::Delete, "deleted"),
        ]
        .into_iter()
        .filter(|(a, _)| done(*a) > 0)
        .map(|(a, what)| format!("{} {what}", done(a)))
        .collect();
        let what = if parts.is_empty() { "nothing changed".to_owned() } else { parts.join(", ") };
        out.push_str(&format!("{verb} complete: {what}, in {}.\n", elapsed(took)));
        out.push_str(&keys_pending_deletion(report));
        return out;
    }
    out.push_str(&format!("{verb} did not finish.\n"));
    for (change, outcome) in &report.outcomes {
        let line = match outcome {
            Outcome::Failed(e) => format!("  failed:      {} ({}): {e}\n", change.id, change.kind),
            Outcome::Skipped { because } => format!("  skipped:     {} (depends on {because})\n", change.id),
            Outcome::Interrupted => format!("  interrupted: {}\n", change.id),
            Outcome::NotStarted if change.action.is_change() => format!("  not started: {}\n", change.id),
            _ => continue,
        };
        out.push_str(&line);
    }
    if let Some(e) = &report.state_error {
        out.push_str(&format!("  state could not be saved: {e}\n"));
    }
    out.push_str(&keys_pending_deletion(report));
    out
}

/// `42s`, `3m 05s`.
pub(crate) fn elapsed(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 { format!("{secs}s") } else { format!("{}m {:02}s", secs / 60, secs % 60) }
}

/// What became of the KMS keys the run deleted: AWS only schedules a key's deletion.
fn keys_pending_deletion(report: &ApplyReport) -> String {
    use paystack_platform::kinds::{KEY_DELETION_DAYS, KMS_KEY};
    let mut out = String::new();
    for (change, outcome) in &report.outcomes {
        let deleted = matches!(outcome, Outcome::Done(Action::Delete | Action::Replace));
        let (true, Some(key)) = (deleted && change.kind.as_str() == KMS_KEY.name, &change.aws_id) else { continue };
        out.push_str(&format!(
            "KMS key {key} ({}, {}) is scheduled for deletion in {KEY_DELETION_DAYS} days, the shortest AWS allows: until then what it encrypted can still be read, and `aws kms cancel-key-deletion --key-id {key}` keeps it.\n",
            change.name, change.placement
        ));
    }
    out
}
