//! The event stream of `apply --json` and `destroy --json`: one JSON object per line on
//! stdout, for programs that follow a run. The first line is the plan, then one line per
//! step of each change as it happens, then the result.
//!
//! Every line has `"event"`, `"environment"` and `"at"` (seconds since the environment's
//! run started). The steps:
//! - `started`: a change began (`resource`, `action`);
//! - `calling` / `called`: an API call took, then gave back, one of its service's slots in
//!   its placement (`resource`, `service`, `placement`);
//! - `waiting`: the call is done and AWS is settling; a wait holds no slot;
//! - `retrying` (`attempt`, `error`), `failed` (`error`), `skipped` (`because`);
//! - `finished`: the change is done and what it made is ready (`action`, `elapsed`).

use std::time::Instant;

use paystack_core::Action;
use paystack_engine::{ApplyReport, Event, Outcome, Progress};
use serde_json::{Value, json};

/// Writes each event as a line on stdout.
pub(crate) struct JsonEvents {
    started: Instant,
    environment: String,
}

impl JsonEvents {
    pub(crate) fn new(environment: &str) -> Self {
        Self { started: Instant::now(), environment: environment.to_owned() }
    }

    fn line(&self, event: &str, mut fields: Value) {
        if let Value::Object(map) = &mut fields {
            map.insert("event".into(), event.into());
            map.insert("environment".into(), self.environment.clone().into());
            map.insert("at".into(), json!(self.started.elapsed().as_secs_f64()));
        }
        outln!("{}", fields);
    }

    /// The first line: the plan the run carries out.
    pub(crate) fn plan(&self, plan: Value) {
        self.line("plan", json!({ "plan": plan }));
    }

    /// The last line: what became of every change.
    pub(crate) fn result(&self, report: &ApplyReport) {
        self.line("result", result(report));
    }
}

/// The counts of a finished run, as the `result` line carries them.
fn result(report: &ApplyReport) -> Value {
    let done = |a: Action| report.count(|o| *o == Outcome::Done(a));
    let pending = |p: fn(&Outcome) -> bool| {
        report.outcomes.iter().filter(|(c, o)| c.action.is_change() && p(o)).map(|(c, _)| c.id.as_str()).collect()
    };
    let failed: Vec<&str> = pending(|o| matches!(o, Outcome::Failed(_)));
    let skipped: Vec<&str> = pending(|o| matches!(o, Outcome::Skipped { .. }));
    let unfinished: Vec<&str> = pending(|o| matches!(o, Outcome::Interrupted | Outcome::NotStarted));
    json!({
        "succeeded": report.succeeded(),
        "cancelled": report.cancelled,
        "created": done(Action::Create),
        "updated": done(Action::Update),
        "replaced": done(Action::Replace),
        "deleted": done(Action::Delete),
        "failed": failed,
        "skipped": skipped,
        "not_finished": unfinished,
        "state_error": report.state_error.as_ref().map(ToString::to_string),
    })
}

impl Progress for JsonEvents {
    fn event(&self, event: Event) {
        match event {
            Event::Started { id, action } => self.line("started", json!({ "resource": id, "action": action })),
            Event::Calling { id, service, placement } => {
                self.line("calling", json!({ "resource": id, "service": service, "placement": placement.to_string() }))
            }
            Event::Called { id, service, placement } => {
                self.line("called", json!({ "resource": id, "service": service, "placement": placement.to_string() }))
            }
            Event::Waiting { id } => self.line("waiting", json!({ "resource": id })),
            Event::Retrying { id, attempt, error } => {
                self.line("retrying", json!({ "resource": id, "attempt": attempt, "error": error }))
            }
            Event::Finished { id, action, elapsed } => {
                self.line("finished", json!({ "resource": id, "action": action, "elapsed": elapsed.as_secs_f64() }))
            }
            Event::Failed { id, error } => self.line("failed", json!({ "resource": id, "error": error })),
            Event::Skipped { id, because } => self.line("skipped", json!({ "resource": id, "because": because })),
        }
    }
}

#[cfg(test)]
mod tests {
    use paystack_core::{Change, Kind, ResourceId};

    use super::*;

    fn change(id: &str, action: Action) -> Change {
        Change {
            id: ResourceId::new(id),
            kind: Kind::new("ec2.vpc"),
            placement: Default::default(),
            name: id.into(),
            action,
            reason: None,
            aws_id: None,
            fields: Vec::new(),
        }
    }

    #[test]
    fn the_result_names_what_did_not_finish() {
        let report = ApplyReport {
            outcomes: vec![
                (change("a", Action::Create), Outcome::Done(Action::Create)),
                (change("b", Action::Create), Outcome::Failed("no".into())),
                (change("c", Action::Create), Outcome::Skipped { because: ResourceId::new("b") }),
                (change("d", Action::Update), Outcome::NotStarted),
                (change("e", Action::NoOp), Outcome::NotStarted),
            ],
            state_error: None,
            cancelled: true,
        };
        assert_eq!(
            result(&report),
            json!({
                "succeeded": false, "cancelled": true,
                "created": 1, "updated": 0, "replaced": 0, "deleted": 0,
                "failed": ["b"], "skipped": ["c"], "not_finished": ["d"], "state_error": null,
            })
        );
    }
}
