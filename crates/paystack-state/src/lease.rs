//! The lock every backend shares: a lease on one record per stack, changed only by
//! compare-and-swap on the record's version.
//!
//! The record names its holder and when the lease lapses. The holder renews it while it
//! runs; a crashed holder's lease lapses and the next run takes it over. Every acquisition
//! takes a larger fencing number. When a run takes over a lapsed lease, or a lock that was
//! unlocked by id, it first writes the state under its new number. That write moves the
//! state's version, so the previous holder, if it is still alive, fails its next
//! compare-and-swap write instead of overwriting the new holder's state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::{LockInfo, StateBackend, StateError, new_document};
use paystack_core::StateDocument;

/// Wall-clock seconds since the Unix epoch; lease expiry is compared in it.
pub trait Clock: Send + Sync {
    fn now(&self) -> u64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }
}

/// A clock that moves only when told, so tests can let a lease lapse without waiting.
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(start: u64) -> Self {
        Self(AtomicU64::new(start))
    }

    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The stored lock of one stack.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LockRecord {
    /// Grows with every change; every change is conditional on it.
    pub version: u64,
    /// Grows with every acquisition.
    pub fence: u64,
    pub holder: Option<LockInfo>,
    /// The last holder did not release it itself: it was unlocked by id.
    #[serde(default)]
    pub broken: bool,
}

/// Where a backend keeps its lock records.
#[async_trait]
pub trait LockStore: Send + Sync {
    fn location(&self) -> String;

    async fn load(&self) -> Result<Option<LockRecord>, StateError>;

    /// Stores `next` if the stored record is still at version `expected` (`None`: there is
    /// no record yet). Returns `false`, changing nothing, if it is not.
    async fn replace(&self, expected: Option<u64>, next: &LockRecord) -> Result<bool, StateError>;
}

#[derive(Clone)]
pub struct LockOptions {
    /// How long the lock stays valid without renewal.
    pub lease: Duration,
    pub renew_every: Duration,
    /// How long to wait for a held lock; zero fails at once.
    pub timeout: Duration,
    /// How often a waiting run looks again.
    pub poll: Duration,
    pub clock: Arc<dyn Clock>,
}

impl LockOptions {
    pub fn new(lease: Duration) -> Self {
        Self {
            lease,
            renew_every: lease / 3,
            timeout: Duration::ZERO,
            poll: Duration::from_secs(1),
            clock: Arc::new(SystemClock),
        }
    }
}

/// A held lock. Its lease is renewed in the background until [`Lock::release`]; state is
/// written through it, so a run that lost its lease cannot write.
pub struct Lock {
    backend: Arc<dyn StateBackend>,
    stack: String,
    info: LockInfo,
    fence: u64,
    took_over: Option<LockInfo>,
    holder_was_gone: bool,
    shared: Arc<Shared>,
    heartbeat: tokio::task::JoinHandle<()>,
    clock: Arc<dyn Clock>,
}

struct Shared {
    version: AtomicU64,
    expires: AtomicU64,
    lost: CancellationToken,
}

/// Takes the lock of `stack`. A held lock is waited for up to `options.timeout`, calling
/// `on_wait` once per holder, then refused with [`StateError::Locked`]. A lapsed one is
/// taken over.
pub async fn acquire(
    backend: Arc<dyn StateBackend>,
    stack: &str,
    info: LockInfo,
    options: &LockOptions,
    on_wait: &(dyn Fn(&LockInfo, u64) + Sync),
) -> Result<Lock, StateError> {
    let store = backend.locks();
    let deadline = tokio::time::Instant::now() + options.timeout;
    let lease = options.lease.as_secs().max(1);
    let mut announced: Option<String> = None;
    loop {
        let current = store.load().await?;
        let now = options.clock.now();
        let expected = current.as_ref().map(|r| r.version);
        let previous = current.unwrap_or_default();
        let dead = previous.holder.as_ref().is_some_and(|h| h.expires > now && h.is_gone_from_this_host(&info));
        if let Some(holder) = &previous.holder
            && holder.expires > now
            && !dead
        {
            let lease_left = holder.expires - now;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                let waited = options.timeout.as_secs();
                return Err(StateError::Locked { stack: stack.to_owned(), holder: holder.clone(), lease_left, waited });
            }
            if announced.as_deref() != Some(holder.id.as_str()) {
                on_wait(holder, lease_left);
                announced = Some(holder.id.clone());
            }
            tokio::time::sleep(options.poll.min(left)).await;
            continue;
        }
        let mut mine = info.clone();
        mine.expires = now + lease;
        let next = LockRecord {
            version: previous.version + 1,
            fence: previous.fence + 1,
            holder: Some(mine.clone()),
            broken: false,
        };
        if !with_retries("take the lock", || store.replace(expected, &next)).await? {
            // Our write may have landed with its answer lost (the retry then fails its own
            // condition): the record is ours if it names this run.
            let now_held = store.load().await?;
            if !now_held
                .is_some_and(|r| r.version == next.version && r.holder.as_ref().is_some_and(|h| h.id == mine.id))
            {
                // Another run changed the record between our read and our write; look again.
                continue;
            }
        }
        let shared = Arc::new(Shared {
            version: AtomicU64::new(next.version),
            expires: AtomicU64::new(now + lease),
            lost: CancellationToken::new(),
        });
        let heartbeat = tokio::spawn(renew(Arc::clone(&store), next.clone(), Arc::clone(&shared), options.clone()));
        let lock = Lock {
            backend,
            stack: stack.to_owned(),
            info: mine,
            fence: next.fence,
            took_over: previous.holder.clone(),
            holder_was_gone: dead,
            shared,
            heartbeat,
            clock: Arc::clone(&options.clock),
        };
        if previous.holder.is_some() || previous.broken {
            tracing::info!(stack, fence = next.fence, previous = ?previous.holder, "took over a lock its holder did not release");
            // Fence off the previous holder: move the state's version under the new number.
            let fenced = match lock.backend.read().await {
                Ok(doc) => {
                    let mut doc = doc.unwrap_or_else(|| new_document(stack));
                    lock.write(&mut doc).await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = fenced {
                lock.release().await;
                return Err(e);
            }
        }
        return Ok(lock);
    }
}

async fn renew(store: Arc<dyn LockStore>, mut record: LockRecord, shared: Arc<Shared>, options: LockOptions) {
    let lease = options.lease.as_secs().max(1);
    loop {
        tokio::select! {
            () = tokio::time::sleep(options.renew_every) => {}
            () = shared.lost.cancelled() => return,
        }
        let version = shared.version.load(Ordering::SeqCst);
        let now = options.clock.now();
        let mut next = record.clone();
        next.version = version + 1;
        if let Some(holder) = &mut next.holder {
            holder.expires = now + lease;
        }
        match with_retries("renew the lock", || store.replace(Some(version), &next)).await {
            Ok(true) => {
                shared.version.store(next.version, Ordering::SeqCst);
                shared.expires.store(now + lease, Ordering::SeqCst);
                record = next;
            }
            // The renewal landed and its answer was lost: the record is the one we wrote.
            Ok(false) if is_record(&*store, &next).await => {
                shared.version.store(next.version, Ordering::SeqCst);
                shared.expires.store(now + lease, Ordering::SeqCst);
                record = next;
            }
            Ok(false) => {
                tracing::error!(
                    location = store.location(),
                    "the lock was taken over or unlocked while this run held it"
                );
                shared.lost.cancel();
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the lock; trying again");
                if options.clock.now() >= shared.expires.load(Ordering::SeqCst) {
                    shared.lost.cancel();
                    return;
                }
            }
        }
    }
}

impl Lock {
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    pub fn fence(&self) -> u64 {
        self.fence
    }

    /// The holder whose lapsed or broken lock this run took over, if any.
    pub fn took_over(&self) -> Option<&LockInfo> {
        self.took_over.as_ref()
    }

    /// Whether the holder taken over was a process of this host that had ended, before its
    /// lease lapsed.
    pub fn holder_was_gone(&self) -> bool {
        self.holder_was_gone
    }

    /// Cancelled when the lease is lost; a run should stop starting work then.
    pub fn lost(&self) -> CancellationToken {
        self.shared.lost.clone()
    }

    /// Writes `doc` under this lock's fencing number, unless the lease was lost.
    pub async fn write(&self, doc: &mut StateDocument) -> Result<(), StateError> {
        if self.shared.lost.is_cancelled() {
            return Err(StateError::LeaseLost { stack: self.stack.clone() });
        }
        // `doc` follows the stored version (the write's compare-and-swap makes sure of it),
        // so its fence is the number of the last lock that wrote: a later one fences us off.
        if doc.fence > self.fence {
            return Err(StateError::Fenced { stack: self.stack.clone(), fence: self.fence, newer: doc.fence });
        }
        doc.fence = self.fence;
        self.backend.write(doc).await
    }

    /// Stops renewing and clears the record, unless someone else holds it by now.
    pub async fn release(self) -> Released {
        self.heartbeat.abort();
        if self.shared.lost.is_cancelled() {
            return Released::NotHeld;
        }
        let store = self.backend.locks();
        let version = self.shared.version.load(Ordering::SeqCst);
        let next = LockRecord { version: version + 1, fence: self.fence, holder: None, broken: false };
        match with_retries("release the lock", || store.replace(Some(version), &next)).await {
            Ok(true) => Released::Released,
            // The release landed and its answer was lost.
            Ok(false) if is_record(&*store, &next).await => Released::Released,
            Ok(false) => {
                tracing::warn!(location = store.location(), "the lock had already been taken by someone else");
                Released::NotHeld
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot release the lock; it lapses with its lease");
                let lease_left = self.shared.expires.load(Ordering::SeqCst).saturating_sub(self.clock.now());
                Released::Lapses { lease_left, error: e }
            }
        }
    }
}

/// What became of a lock at its release.
#[derive(Debug)]
pub enum Released {
    Released,
    /// Taken over or unlocked while this run held it: there was nothing of ours to release.
    NotHeld,
    /// The release failed; the lock stays until its lease lapses, in `lease_left` seconds.
    Lapses {
        lease_left: u64,
        error: StateError,
    },
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// Releases the lock of `stack` if its id is `id`, whoever holds it: for a holder that
/// crashed and will not come back. The next run to take it fences the old holder off.
pub async fn unlock(store: &dyn LockStore, stack: &str, id: &str) -> Result<LockInfo, StateError> {
    loop {
        let record = store.load().await?.unwrap_or_default();
        match record.holder {
            Some(holder) if holder.id == id => {
                let next = LockRecord { version: record.version + 1, fence: record.fence, holder: None, broken: true };
                if store.replace(Some(record.version), &next).await? {
                    return Ok(holder);
                }
                // The holder renewed its lease in between; look again.
            }
            other => return Err(StateError::LockNotHeld { stack: stack.to_owned(), id: id.to_owned(), holder: other }),
        }
    }
}

/// Runs a change of the lock record, again after a short pause while it fails with an error
/// that may pass (a throttled or unanswered request), at most four times: a lock that
/// cannot be renewed or released over a passing fault would stop the run, or leave a lock
/// the next run must wait out.
async fn with_retries<F, Fut>(what: &str, mut attempt: F) -> Result<bool, StateError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, StateError>>,
{
    let mut pause = Duration::from_millis(250);
    for _ in 1..4 {
        match attempt().await {
            Err(e) if e.may_pass() => {
                tracing::warn!(error = %e, "cannot {what}; trying again");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            other => return other,
        }
    }
    attempt().await
}

/// Whether the stored record is `next`: a change whose answer was lost landed.
async fn is_record(store: &dyn LockStore, next: &LockRecord) -> bool {
    store.load().await.is_ok_and(|r| r.as_ref() == Some(next))
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
