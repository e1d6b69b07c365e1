//! The live view of an apply or destroy on a terminal: a bar of done over total, one spinner
//! line per resource in flight with its elapsed time, and a line kept above them for each
//! resource finished, failed or skipped, so failures stay on screen. Pipes and CI logs get
//! [`super::ProgressLines`] instead: one line per event, which a log keeps.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use owo_colors::Style;
use paystack_core::{Action, ResourceId};
use paystack_engine::{Event, Progress};

use super::{err_paint, symbol};

pub(crate) struct LiveView {
    multi: MultiProgress,
    bar: ProgressBar,
    in_flight: Mutex<BTreeMap<ResourceId, ProgressBar>>,
}

impl LiveView {
    /// A view of `total` changes, drawn on stderr.
    pub(crate) fn new(total: usize) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let bar = multi.add(ProgressBar::new(total as u64));
        bar.set_style(
            ProgressStyle::with_template("{bar:32.cyan/blue} {pos}/{len} done  {elapsed_precise}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("█▉▊▋▌▍▎▏ "),
        );
        Self { multi, bar, in_flight: Mutex::new(BTreeMap::new()) }
    }

    /// Keeps `line` on screen above the bars.
    fn keep(&self, line: String) {
        let _ = self.multi.println(line);
    }

    fn spinner(&self, id: &ResourceId, verb: &str) {
        let spinner = self.multi.insert_before(&self.bar, ProgressBar::new_spinner());
        spinner.set_style(
            ProgressStyle::with_template("  {spinner} {prefix} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        spinner.set_prefix(id.to_string());
        spinner.set_message(format!("{verb}…"));
        spinner.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut m) = self.in_flight.lock() {
            m.insert(id.clone(), spinner);
        }
    }

    fn message(&self, id: &ResourceId, message: String) {
        if let Ok(m) = self.in_flight.lock()
            && let Some(spinner) = m.get(id)
        {
            spinner.set_message(message);
        }
    }

    fn done_with(&self, id: &ResourceId) {
        if let Ok(mut m) = self.in_flight.lock()
            && let Some(spinner) = m.remove(id)
        {
            spinner.finish_and_clear();
            self.multi.remove(&spinner);
        }
    }

    /// Clears the bars, leaving the kept lines: the report follows below them.
    pub(crate) fn finish(&self) {
        if let Ok(mut m) = self.in_flight.lock() {
            for (_, spinner) in std::mem::take(&mut *m) {
                spinner.finish_and_clear();
            }
        }
        self.bar.finish_and_clear();
        let _ = self.multi.clear();
    }
}

impl Progress for LiveView {
    fn event(&self, event: Event) {
        match event {
            Event::Started { id, action } => self.spinner(&id, verb(action, false)),
            Event::Waiting { id } => self.message(&id, "waiting for AWS to settle…".to_owned()),
            Event::Calling { .. } | Event::Called { .. } => {}
            Event::Retrying { id, attempt, error } => {
                self.message(&id, format!("retrying (attempt {attempt} failed: {error})"))
            }
            Event::Finished { id, action, elapsed } => {
                self.done_with(&id);
                self.bar.inc(1);
                let (sym, style) = symbol(action);
                self.keep(format!(
                    "{} {id}: {} in {:.1}s",
                    err_paint(sym, style),
                    verb(action, true),
                    elapsed.as_secs_f64()
                ));
            }
            Event::Failed { id, error } => {
                self.done_with(&id);
                self.keep(format!("{} {id}: failed: {error}", err_paint("!", Style::new().red().bold())));
            }
            Event::Skipped { id, because } => self.keep(format!("  {id}: skipped, because {because} failed")),
        }
    }
}

/// `creating` while it runs, `created` once done.
pub(super) fn verb(action: Action, done: bool) -> &'static str {
    match (action, done) {
        (Action::Create, false) => "creating",
        (Action::Update, false) => "updating",
        (Action::Replace, false) => "replacing",
        (Action::Delete, false) => "deleting",
        (Action::NoOp, false) => "checking",
        (Action::Create, true) => "created",
        (Action::Update, true) => "updated",
        (Action::Replace, true) => "replaced",
        (Action::Delete, true) => "deleted",
        (Action::NoOp, true) => "ready",
    }
}
