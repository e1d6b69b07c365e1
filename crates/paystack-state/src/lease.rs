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
mod tests {
    //! The lease's arithmetic and its behaviour over a store that fails on purpose: exact
    //! versions, fences and expiries, so that an off-by-one or a wrong operator shows.

    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    const START: u64 = 1_000_000;
    const LEASE: u64 = 30;

    /// What the next changes of the lock record do.
    #[derive(Clone, Copy, PartialEq)]
    enum Fault {
        /// Refused with an error that may pass; nothing changes.
        Refuse,
        /// Refused with an error that will not pass; nothing changes.
        Fail,
        /// The change lands, and its answer is lost.
        LoseAnswer,
        /// Another run takes the lock first, at the version this change would have made.
        Race,
        /// No fault: the change is made as asked.
        Pass,
    }

    /// State and a lock record in memory, with faults queued on the record's changes.
    #[derive(Default)]
    struct Memory {
        doc: Mutex<Option<StateDocument>>,
        record: Mutex<Option<LockRecord>>,
        faults: Mutex<Vec<Fault>>,
        /// Every change of the record tried, including refused ones.
        changes: AtomicUsize,
    }

    fn remote(retryable: bool) -> StateError {
        StateError::Remote { action: "change", location: "memory".into(), message: "injected".into(), retryable }
    }

    impl Memory {
        fn record(&self) -> LockRecord {
            self.record.lock().unwrap().clone().expect("a lock record")
        }

        fn fail_next(&self, faults: &[Fault]) {
            *self.faults.lock().unwrap() = faults.iter().rev().copied().collect();
        }
    }

    #[async_trait]
    impl LockStore for Memory {
        fn location(&self) -> String {
            "memory".into()
        }

        async fn load(&self) -> Result<Option<LockRecord>, StateError> {
            Ok(self.record.lock().unwrap().clone())
        }

        async fn replace(&self, expected: Option<u64>, next: &LockRecord) -> Result<bool, StateError> {
            self.changes.fetch_add(1, Ordering::SeqCst);
            let fault = self.faults.lock().unwrap().pop();
            let mut record = self.record.lock().unwrap();
            match fault {
                Some(Fault::Refuse) => return Err(remote(true)),
                Some(Fault::Fail) => return Err(remote(false)),
                Some(Fault::Race) => {
                    let mut other = LockInfo::current("apply");
                    other.expires = u64::MAX;
                    let version = record.as_ref().map_or(0, |r| r.version) + 1;
                    *record = Some(LockRecord { version, fence: version, holder: Some(other), broken: false });
                    return Ok(false);
                }
                Some(Fault::LoseAnswer | Fault::Pass) | None => {}
            }
            if record.as_ref().map(|r| r.version) != expected {
                return Ok(false);
            }
            *record = Some(next.clone());
            if fault == Some(Fault::LoseAnswer) { Err(remote(true)) } else { Ok(true) }
        }
    }

    /// The backend over one shared [`Memory`].
    struct Backend(Arc<Memory>);

    #[async_trait]
    impl StateBackend for Backend {
        fn location(&self) -> String {
            "memory".into()
        }

        async fn read(&self) -> Result<Option<StateDocument>, StateError> {
            Ok(self.0.doc.lock().unwrap().clone())
        }

        async fn write(&self, doc: &mut StateDocument) -> Result<(), StateError> {
            let mut stored = self.0.doc.lock().unwrap();
            crate::check_successor(stored.as_ref(), doc, "memory")?;
            doc.serial += 1;
            *stored = Some(doc.clone());
            Ok(())
        }

        fn locks(&self) -> Arc<dyn LockStore> {
            Arc::clone(&self.0) as _
        }
    }

    struct World {
        memory: Arc<Memory>,
        backend: Arc<dyn StateBackend>,
        clock: Arc<ManualClock>,
    }

    fn world() -> World {
        let memory = Arc::new(Memory::default());
        let backend: Arc<dyn StateBackend> = Arc::new(Backend(Arc::clone(&memory)));
        World { memory, backend, clock: Arc::new(ManualClock::new(START)) }
    }

    impl World {
        /// Options whose renewal runs only when `renew_every` says.
        fn options(&self, renew_every: Duration) -> LockOptions {
            LockOptions {
                renew_every,
                clock: Arc::clone(&self.clock) as _,
                ..LockOptions::new(Duration::from_secs(LEASE))
            }
        }

        async fn take(&self, options: &LockOptions) -> Result<Lock, StateError> {
            acquire(Arc::clone(&self.backend), "dev", LockInfo::current("apply"), options, &|_, _| {}).await
        }

        /// Waits until the record's version reaches `version`, or fails the test.
        async fn until_version(&self, version: u64) {
            let reached = async {
                while self.memory.record().version < version {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            };
            let waited = tokio::time::timeout(Duration::from_secs(10), reached).await;
            assert!(waited.is_ok(), "the record never reached version {version}: {:?}", self.memory.record());
        }
    }

    const NEVER: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn each_acquisition_records_its_lease_version_and_fence_exactly() {
        let w = world();
        let lock = w.take(&w.options(NEVER)).await.expect("a free lock");
        let record = w.memory.record();
        assert_eq!((record.version, record.fence, lock.fence()), (1, 1, 1));
        assert_eq!(record.holder.as_ref().map(|h| h.expires), Some(START + LEASE), "the lease runs from now");
        assert!(!record.broken);
        assert!(lock.took_over().is_none() && !lock.holder_was_gone());

        assert!(matches!(lock.release().await, Released::Released));
        let record = w.memory.record();
        assert_eq!((record.version, record.fence, record.holder), (2, 1, None), "release moves the version on");

        w.clock.advance(5);
        let lock = w.take(&w.options(NEVER)).await.expect("a released lock");
        let record = w.memory.record();
        assert_eq!((record.version, record.fence, lock.fence()), (3, 2, 2), "each acquisition has a larger fence");
        assert_eq!(record.holder.map(|h| h.expires), Some(START + 5 + LEASE));
        assert!(lock.took_over().is_none());
    }

    #[tokio::test]
    async fn a_lease_is_held_until_its_last_second_and_lapsed_at_it() {
        let w = world();
        let first = w.take(&w.options(NEVER)).await.expect("a free lock");
        w.clock.advance(LEASE - 1);
        let err = w.take(&w.options(NEVER)).await.err().expect("a live lease is refused");
        assert!(matches!(err, StateError::Locked { lease_left: 1, .. }), "{err}");

        w.clock.advance(1);
        let second = w.take(&w.options(NEVER)).await.expect("a lease lapses at its expiry");
        assert_eq!(second.took_over().map(|h| h.id.as_str()), Some(first.info().id.as_str()));
        assert!(!second.holder_was_gone(), "its holder is alive: this process");
        assert_eq!(w.memory.doc.lock().unwrap().as_ref().map(|d| d.fence), Some(2), "the state is fenced");
        assert!(matches!(first.release().await, Released::NotHeld), "the old holder has nothing to release");
        assert!(w.memory.record().holder.is_some(), "and leaves the new holder's record alone");
        assert!(matches!(second.release().await, Released::Released));
    }

    #[tokio::test]
    async fn a_lapsed_lock_of_an_ended_process_is_said_to_have_lapsed() {
        let w = world();
        let gone = LockInfo { pid: 999_999_999, ..LockInfo::current("apply") };
        let options = w.options(NEVER);
        let held = acquire(Arc::clone(&w.backend), "dev", gone, &options, &|_, _| {}).await.expect("a free lock");
        drop(held);
        w.clock.advance(LEASE);
        let next = w.take(&options).await.expect("a lapsed lock");
        assert!(next.took_over().is_some());
        assert!(!next.holder_was_gone(), "its lease had run out: that, not the ended process, freed it");
    }

    #[tokio::test]
    async fn renewal_moves_the_version_on_by_one_and_the_lease_from_now() {
        let w = world();
        let lock = w.take(&w.options(Duration::from_millis(20))).await.expect("a free lock");
        w.clock.advance(10);
        w.until_version(2).await;
        let record = w.memory.record();
        assert!(record.version >= 2, "renewed");
        assert_eq!(record.fence, 1, "renewal keeps the fence");
        let expires = record.holder.map(|h| h.expires);
        assert!(expires == Some(START + 10 + LEASE), "the renewed lease runs from the renewal: {expires:?}");
        // The run knows its lease runs from the renewal too: a release that fails now leaves
        // the whole renewed lease to lapse.
        w.memory.fail_next(&[Fault::Fail; 64]);
        let released = lock.release().await;
        assert!(matches!(released, Released::Lapses { lease_left: LEASE, .. }), "{released:?}");
    }

    #[tokio::test]
    async fn a_renewal_that_keeps_failing_loses_the_lock_only_once_the_lease_has_run_out() {
        let w = world();
        let lock = w.take(&w.options(Duration::from_millis(20))).await.expect("a free lock");
        w.memory.fail_next(&[Fault::Fail; 64]);
        let tried = w.memory.changes.load(Ordering::SeqCst);
        while w.memory.changes.load(Ordering::SeqCst) < tried + 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!lock.lost().is_cancelled(), "a failed renewal within the lease keeps the lock");

        w.clock.advance(LEASE);
        tokio::time::timeout(Duration::from_secs(10), lock.lost().cancelled())
            .await
            .expect("a lease that ran out unrenewed is lost");
        let mut doc = crate::new_document("dev");
        assert!(matches!(lock.write(&mut doc).await, Err(StateError::LeaseLost { .. })));
    }

    #[tokio::test]
    async fn changes_of_the_record_go_through_faults_that_pass() {
        let w = world();
        w.memory.fail_next(&[Fault::Refuse, Fault::LoseAnswer]);
        let lock = w.take(&w.options(Duration::from_millis(20))).await.expect("taken through two faults");
        assert_eq!(w.memory.record().version, 1, "taken once");
        assert_eq!(lock.fence(), 1);

        w.memory.fail_next(&[Fault::LoseAnswer]);
        w.clock.advance(10);
        w.until_version(3).await;
        assert!(!lock.lost().is_cancelled(), "a renewal whose answer was lost landed");

        w.memory.fail_next(&[Fault::Refuse, Fault::LoseAnswer]);
        assert!(matches!(lock.release().await, Released::Released), "released through two faults");
        assert!(w.memory.record().holder.is_none());
        let next = w.take(&w.options(NEVER)).await.expect("a released lock is free");
        assert!(next.took_over().is_none(), "it was released, not left to lapse");
        next.release().await;
    }

    #[tokio::test]
    async fn a_run_that_loses_the_race_for_a_free_lock_does_not_hold_it() {
        let w = world();
        w.memory.fail_next(&[Fault::Race]);
        let err = w.take(&w.options(NEVER)).await.err().expect("the other run holds it");
        assert!(matches!(err, StateError::Locked { .. }), "{err}");
        assert_ne!(w.memory.record().holder.map(|h| h.operation), None);
    }

    #[tokio::test]
    async fn a_renewal_whose_answer_was_lost_still_extends_the_lease() {
        let w = world();
        let lock = w.take(&w.options(Duration::from_millis(20))).await.expect("a free lock");
        let mut faults = vec![Fault::LoseAnswer, Fault::Pass];
        faults.extend([Fault::Fail; 64]);
        w.memory.fail_next(&faults);
        w.clock.advance(10);
        w.until_version(2).await;
        // The renewal's repeat (after its pause) finds the record it wrote and keeps it.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let released = lock.release().await;
        assert!(matches!(released, Released::Lapses { lease_left: LEASE, .. }), "{released:?}");
    }

    #[tokio::test]
    async fn a_lock_that_cannot_be_released_is_left_to_lapse() {
        let w = world();
        let lock = w.take(&w.options(NEVER)).await.expect("a free lock");
        w.memory.fail_next(&[Fault::Fail]);
        w.clock.advance(10);
        let released = lock.release().await;
        assert!(matches!(released, Released::Lapses { lease_left: 20, .. }), "{released:?}");
        assert!(w.memory.record().holder.is_some(), "the failed release changed nothing");
        w.clock.advance(LEASE - 10);
        let next = w.take(&w.options(NEVER)).await.expect("the lease lapses");
        assert!(next.took_over().is_some());
        next.release().await;
    }

    #[tokio::test]
    async fn dropping_a_lock_stops_its_renewal() {
        let w = world();
        let lock = w.take(&w.options(Duration::from_millis(10))).await.expect("a free lock");
        w.until_version(2).await;
        drop(lock);
        // Let the aborted renewal finish a change it may have been making.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let version = w.memory.record().version;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(w.memory.record().version, version, "a dropped lock is not renewed, so its lease can lapse");
    }

    #[tokio::test]
    async fn unlocking_moves_the_version_on_by_one_and_marks_the_record_broken() {
        let w = world();
        let lock = w.take(&w.options(NEVER)).await.expect("a free lock");
        let held = w.memory.record();
        unlock(&*w.memory, "dev", &lock.info().id).await.expect("unlock by id");
        let record = w.memory.record();
        assert_eq!(record.version, held.version + 1);
        assert_eq!(record.fence, held.fence);
        assert!(record.broken && record.holder.is_none());
        drop(lock);
    }
}
