//! Where state lives: the [`StateBackend`] trait and its local-file implementation.
//!
//! Only this crate turns a state document into bytes and back. A write never silently
//! replaces a document it has not seen: it checks the serial and lineage on disk first, so a
//! stale writer fails loudly instead of losing someone else's changes.

mod local;

use async_trait::async_trait;
use paystack_core::StateDocument;
use serde::{Deserialize, Serialize};

pub use local::LocalBackend;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the state of `{stack}` is locked by {holder}")]
    Locked { stack: String, holder: LockInfo },
    #[error("state changed underneath this run: it is at serial {on_disk}, this run last saw {expected}")]
    Stale { expected: u64, on_disk: u64 },
    #[error("the state at {location} belongs to lineage {on_disk}, not {expected}")]
    LineageMismatch { location: String, expected: String, on_disk: String },
    #[error("the state at {location} has schema version {version}, newer than this paystack understands ({supported})")]
    TooNew { location: String, version: u32, supported: u32 },
    #[error("the state at {location} is not valid: {reason}")]
    Corrupt { location: String, reason: String },
    #[error("{action} {location}: {source}")]
    Io { action: &'static str, location: String, source: std::io::Error },
}

/// Who holds a lock, recorded with it so that a second user is told whom to ask.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub who: String,
    pub host: String,
    pub pid: u32,
    pub operation: String,
    /// Seconds since the Unix epoch.
    pub started: u64,
}

impl LockInfo {
    /// Describes the current process running `operation`.
    pub fn current(operation: &str) -> Self {
        let who = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            who,
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
            operation: operation.to_owned(),
            started: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        }
    }
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}@{} (pid {}, `{}`, lock {}, since unix time {})",
            self.who, self.host, self.pid, self.operation, self.id, self.started
        )
    }
}

/// Released when dropped.
pub trait LockGuard: Send + Sync {
    fn info(&self) -> &LockInfo;
}

#[async_trait]
pub trait StateBackend: Send + Sync {
    /// A human-readable location for messages, such as a path or an `s3://` URL.
    fn location(&self) -> String;

    /// The current document, or `None` if the stack has none yet.
    async fn read(&self) -> Result<Option<StateDocument>, StateError>;

    /// Writes `doc` as the next version: fails with [`StateError::Stale`] unless what is
    /// stored is still at `doc.serial`, then advances `doc.serial`.
    async fn write(&self, doc: &mut StateDocument) -> Result<(), StateError>;

    /// Takes the stack's lock, or fails at once naming its holder.
    async fn lock(&self, info: LockInfo) -> Result<Box<dyn LockGuard>, StateError>;
}

/// A new, empty document for `stack`, with a fresh lineage.
pub fn new_document(stack: &str) -> StateDocument {
    StateDocument::new(stack.to_owned(), uuid::Uuid::new_v4().to_string())
}

/// Serializes a document; the one place that chooses the format.
pub(crate) fn encode(doc: &StateDocument) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(doc).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

pub(crate) fn decode(bytes: &[u8], location: &str) -> Result<StateDocument, StateError> {
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
