//! Where state lives: the [`StateBackend`] trait, the lease lock every backend shares, and
//! the local-file backend. The S3/DynamoDB backend implements the same traits in
//! `paystack-aws`, and [`conformance`] checks both against one suite.
//!
//! Only this crate turns a state document into bytes and back. A write never silently
//! replaces a document it has not seen: every write is a compare-and-swap on the version the
//! writer last read, so a stale writer fails loudly instead of losing someone else's changes.

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod lease;
mod local;
mod user;
pub mod when;

use async_trait::async_trait;
use paystack_core::StateDocument;
use serde::{Deserialize, Serialize};

pub use lease::{Clock, Lock, LockOptions, LockRecord, LockStore, ManualClock, Released, SystemClock, acquire, unlock};
pub use local::LocalBackend;
pub use user::current as current_user;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the state of `{stack}` is locked by {holder}; its lease ends in {lease_left}s")]
    Locked {
        stack: String,
        holder: LockInfo,
        lease_left: u64,
        /// How long this run waited for it (`--lock-timeout`), in seconds.
        waited: u64,
    },
    #[error("state changed underneath this run: it is at serial {on_disk}, this run last saw {expected}")]
    Stale { expected: u64, on_disk: u64 },
    #[error("the state at {location} belongs to lineage {on_disk}, not {expected}")]
    LineageMismatch { location: String, expected: String, on_disk: String },
    #[error("the state at {location} has schema version {version}, newer than this paystack understands ({supported})")]
    TooNew { location: String, version: u32, supported: u32 },
    #[error("the state at {location} is not valid: {reason}")]
    Corrupt { location: String, reason: String },
    #[error("the state backend is not initialised: {missing} does not exist")]
    NotInitialised { missing: String },
    #[error("this run lost its lock on `{stack}`: it was taken over or unlocked, so it may not write state")]
    LeaseLost { stack: String },
    #[error(
        "a later lock on `{stack}` (fencing number {newer}) has written its state, so this run (fencing number {fence}) may not"
    )]
    Fenced { stack: String, fence: u64, newer: u64 },
    #[error("`{stack}` is not locked by {id}")]
    LockNotHeld { stack: String, id: String, holder: Option<LockInfo> },
    #[error("{action} {location}: {source}")]
    Io { action: &'static str, location: String, source: std::io::Error },
    #[error("{action} {location}: {message}")]
    Remote {
        action: &'static str,
        location: String,
        message: String,
        /// A throttled, refused or unanswered request, which may pass if sent again.
        retryable: bool,
    },
}

/// Who holds a lock, recorded with it so that a second user is told whom to ask and until
/// when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub who: String,
    pub host: String,
    pub pid: u32,
    pub operation: String,
    /// Seconds since the Unix epoch.
    pub started: u64,
    /// When the lease lapses unless it is renewed, in seconds since the Unix epoch.
    #[serde(default)]
    pub expires: u64,
}

impl StateError {
    /// Whether the error may pass if the same request is sent again (a throttled, refused or
    /// unanswered request to the remote backend).
    pub fn may_pass(&self) -> bool {
        matches!(self, Self::Remote { retryable: true, .. })
    }
}

impl LockInfo {
    /// Whether the holder is a process of this host that has ended: `this` is the run that
    /// asks. Where the host cannot tell (no `/proc`), the holder counts as alive.
    pub fn is_gone_from_this_host(&self, this: &LockInfo) -> bool {
        let proc = std::path::Path::new("/proc");
        self.host == this.host
            && self.pid != this.pid
            && proc.join("self").exists()
            && !proc.join(self.pid.to_string()).exists()
    }

    /// Describes the current process running `operation`.
    pub fn current(operation: &str) -> Self {
        let who = user::current();
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            who,
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
            operation: operation.to_owned(),
            started: SystemClock.now(),
            expires: 0,
        }
    }
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let started = when::local(self.started);
        let age = when::age(SystemClock.now().saturating_sub(self.started));
        write!(
            f,
            "{}@{} (pid {}, `{}`, lock {}, started {started}, {age} ago)",
            self.who, self.host, self.pid, self.operation, self.id
        )
    }
}

#[async_trait]
pub trait StateBackend: Send + Sync {
    /// A human-readable location for messages, such as a path or an `s3://` URL.
    fn location(&self) -> String;

    /// The current document, or `None` if the stack has none yet.
    async fn read(&self) -> Result<Option<StateDocument>, StateError>;

    /// Writes `doc` as the next version: fails with [`StateError::Stale`] unless what is
    /// stored is still the version at `doc.serial` this backend last read or wrote, then
    /// advances `doc.serial`. The check and the write are one atomic step.
    async fn write(&self, doc: &mut StateDocument) -> Result<(), StateError>;

    /// Where the stack's lock record lives.
    fn locks(&self) -> std::sync::Arc<dyn LockStore>;
}

/// A new, empty document for `stack`, with a fresh lineage.
pub fn new_document(stack: &str) -> StateDocument {
    StateDocument::new(stack.to_owned(), uuid::Uuid::new_v4().to_string())
}

/// Serializes a document; the one place that chooses the format.
pub fn encode(doc: &StateDocument) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(doc).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Parses a stored document, refusing one written by a newer paystack.
pub fn decode(bytes: &[u8], location: &str) -> Result<StateDocument, StateError> {
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let corrupt = |e: serde_json::Error| StateError::Corrupt { location: location.to_owned(), reason: e.to_string() };
    let v: Version = serde_json::from_slice(bytes).map_err(corrupt)?;
    if v.version > paystack_core::state::SCHEMA_VERSION {
        return Err(StateError::TooNew {
            location: location.to_owned(),
            version: v.version,
            supported: paystack_core::state::SCHEMA_VERSION,
        });
    }
    serde_json::from_slice(bytes).map_err(corrupt)
}

/// The write ids one backend handle has sent. A stored document with one of them is this
/// handle's own write, even when the answer to it was lost: a retry writes on top of it
/// instead of calling it someone else's change.
#[derive(Debug, Default)]
pub struct Writes(std::sync::Mutex<std::collections::HashSet<String>>);

impl Writes {
    /// A fresh id for the next write, remembered as sent.
    pub fn next(&self) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        if let Ok(mut sent) = self.0.lock() {
            sent.insert(id.clone());
        }
        id
    }

    /// Whether `stored` was written through this handle.
    pub fn wrote(&self, stored: &StateDocument) -> bool {
        !stored.write_id.is_empty() && self.0.lock().is_ok_and(|sent| sent.contains(&stored.write_id))
    }
}

/// The serial a write of `doc` goes on top of: what is stored must be the version `doc`
/// follows, or a later one this handle wrote itself (its answer lost). Anything else is
/// someone else's write, and a conflict.
pub fn base_serial(
    stored: Option<&StateDocument>,
    doc: &StateDocument,
    writes: &Writes,
    location: &str,
) -> Result<u64, StateError> {
    match stored {
        Some(s) if s.lineage == doc.lineage && s.serial > doc.serial && writes.wrote(s) => Ok(s.serial),
        _ => check_successor(stored, doc, location).map(|()| doc.serial),
    }
}

/// Checks a write of `doc` against the version `stored` that is there now.
pub fn check_successor(stored: Option<&StateDocument>, doc: &StateDocument, location: &str) -> Result<(), StateError> {
    match stored {
        Some(s) if s.lineage != doc.lineage => Err(StateError::LineageMismatch {
            location: location.to_owned(),
            expected: doc.lineage.clone(),
            on_disk: s.lineage.clone(),
        }),
        Some(s) if s.serial != doc.serial => Err(StateError::Stale { expected: doc.serial, on_disk: s.serial }),
        None if doc.serial != 0 => Err(StateError::Stale { expected: doc.serial, on_disk: 0 }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_reads_with_its_user_its_start_in_local_time_and_its_age() {
        let started = SystemClock.now() - 185;
        let holder = LockInfo {
            id: "0b5e".into(),
            who: "deploy".into(),
            host: "ci-7".into(),
            pid: 4242,
            operation: "apply".into(),
            started,
            expires: started + 300,
        };
        let text = holder.to_string();
        assert!(text.starts_with("deploy@ci-7 (pid 4242, `apply`, lock 0b5e, started "), "{text}");
        assert!(text.contains(&when::local(started)) && text.ends_with(", 3m ago)"), "{text}");
        assert!(!text.contains("unix"), "{text}");
    }
}
