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
        LockOptions { renew_every, clock: Arc::clone(&self.clock) as _, ..LockOptions::new(Duration::from_secs(LEASE)) }
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
