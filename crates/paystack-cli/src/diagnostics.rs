//! Errors as the user sees them: what happened, where, and what to do next.

use miette::{Diagnostic, NamedSource, SourceSpan};
use paystack_config::{ConfigError, ConfigErrors};
use paystack_state::StateError;

/// One configuration error with the offending line shown.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
pub(crate) struct ConfigDiagnostic {
    message: String,
    #[source_code]
    source_code: Option<NamedSource<String>>,
    #[label("{label}")]
    span: Option<SourceSpan>,
    label: String,
    #[help]
    help: Option<String>,
    #[related]
    related: Vec<RelatedLocation>,
}

#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{label}")]
pub(crate) struct RelatedLocation {
    label: String,
    #[source_code]
    source_code: NamedSource<String>,
    #[label("here")]
    span: SourceSpan,
}

impl From<&ConfigError> for ConfigDiagnostic {
    fn from(e: &ConfigError) -> Self {
        let source =
            |l: &paystack_config::Location| NamedSource::new(l.file.display().to_string(), l.source.to_string());
        let span = |l: &paystack_config::Location| SourceSpan::from(l.span.clone());
        Self {
            message: e.message.clone(),
            source_code: e.location.as_ref().map(source),
            span: e.location.as_ref().map(span),
            label: "here".into(),
            help: e.help.clone(),
            related: e
                .related
                .iter()
                .map(|(label, l)| RelatedLocation {
                    label: format!("{label} at {l}"),
                    source_code: source(l),
                    span: span(l),
                })
                .collect(),
        }
    }
}

/// Every configuration error found, reported together.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("the configuration is invalid ({} problem{}); nothing was sent to AWS", .errors.len(), if .errors.len() == 1 { "" } else { "s" })]
pub(crate) struct InvalidConfig {
    #[related]
    errors: Vec<ConfigDiagnostic>,
}

impl From<ConfigErrors> for InvalidConfig {
    fn from(e: ConfigErrors) -> Self {
        Self { errors: e.0.iter().map(ConfigDiagnostic::from).collect() }
    }
}

impl From<ConfigError> for InvalidConfig {
    fn from(e: ConfigError) -> Self {
        Self { errors: vec![ConfigDiagnostic::from(&e)] }
    }
}

/// A configuration error as the user meets it: a mistake in a file shows the file; one about
/// what was typed (an unknown environment, a bad `--suffix`) is not called invalid
/// configuration.
pub(crate) fn config_error(e: impl Into<ConfigErrors>) -> miette::Report {
    let e: ConfigErrors = e.into();
    match e.0.as_slice() {
        [one] if one.location.is_none() => match &one.help {
            Some(help) => miette::miette!(help = help.clone(), "{}; nothing was sent to AWS", one.message),
            None => miette::miette!("{}; nothing was sent to AWS", one.message),
        },
        _ => InvalidConfig::from(e).into(),
    }
}

/// A state error with the next step for the user.
/// `command("unlock")` is the command a user pastes to run `unlock` on the same stack.
pub(crate) fn state_error(e: StateError, command: impl Fn(&str) -> String, stack: &str) -> miette::Report {
    let help = match &e {
        StateError::Locked { holder, lease_left, waited: 0, .. } => format!(
            "another paystack run is working on `{stack}`: wait for it to finish, or pass --lock-timeout 10m to wait here. \
             If that run crashed, its lock can be taken once the lease lapses in {lease_left}s; to release it now, run \
             `{} {}`",
            command("unlock"),
            holder.id
        ),
        StateError::Locked { holder, lease_left, waited, .. } => format!(
            "this run waited {} and `{stack}` is still locked: that run is still working, or is stuck. \
             If it crashed, its lock can be taken once the lease lapses in {lease_left}s; to release it now, run \
             `{} {}`",
            paystack_state::when::age(*waited),
            command("unlock"),
            holder.id
        ),
        StateError::Stale { .. } => {
            "another run wrote state since this one read it; run the command again to plan from the new state"
                .to_owned()
        }
        StateError::LineageMismatch { .. } => {
            "this state belongs to a different stack history; check --suffix, --state-dir and `state.bucket`".to_owned()
        }
        StateError::TooNew { .. } => "upgrade paystack to the version that wrote this state".to_owned(),
        StateError::Corrupt { .. } => {
            "restore the previous version (the state bucket is versioned; a local file has no history), or move it aside and run plan to see what is live".to_owned()
        }
        StateError::NotInitialised { .. } => format!(
            "run `{}` to create the state bucket and lock table; if they exist under other names, set `state.bucket` and `state.lock_table`",
            command("init")
        ),
        StateError::LeaseLost { .. } | StateError::Fenced { .. } => format!(
            "another run took this lock over; see where things stand with `{}`, then run again",
            command("plan")
        ),
        StateError::LockNotHeld { holder: Some(holder), .. } => {
            format!("the lock is held by {holder}; pass that lock id to release it")
        }
        StateError::LockNotHeld { holder: None, .. } => format!("`{stack}` is not locked; nothing to release"),
        StateError::Io { .. } => "check that the state directory exists and is writable".to_owned(),
        StateError::Remote { .. } => {
            "check AWS credentials, the region, AWS_ENDPOINT_URL, and access to the state bucket and lock table".to_owned()
        }
    };
    miette::miette!(help = help, "{e}")
}
