//! One suite that every backend passes unchanged: [`suite!`](crate::conformance_suite)
//! expands to one test per check for a given [`Opener`].
//!
//! Each check opens its own stack, and opens it more than once where two processes would:
//! every handle is a separate view, as a second `paystack` process would have.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use paystack_core::StateDocument;

use crate::{LockInfo, LockOptions, ManualClock, StateBackend, StateError, acquire, new_document, unlock};

/// Opens a new handle on a backend for `stack`.
#[async_trait]
pub trait Opener: Sync {
    async fn open(&self, stack: &str) -> Arc<dyn StateBackend>;
}

/// Expands to one `#[tokio::test]` per check, each calling `$opener` for its backend.
#[macro_export]
macro_rules! conformance_suite {
    ($opener:expr) => {
        $crate::conformance_suite!(@tests $opener;
            read_write_advance_the_serial_and_keep_the_lineage,
            a_stale_writer_overwrites_nothing,
            a_write_whose_answer_was_lost_is_not_a_conflict,
            a_foreign_lineage_is_refused,
            a_held_lock_is_refused_naming_its_holder,
            a_lapsed_lease_is_taken_over_and_its_holder_fenced_off,
            a_lock_whose_process_has_ended_on_this_host_is_taken_at_once,
            a_lock_is_released_by_its_id,
            a_live_lease_is_renewed
        );
    };
    (@tests $opener:expr; $($check:ident),*) => {
        $(
            #[tokio::test]
            async fn $check() {
                $crate::conformance::$check(&$opener).await;
            }
        )*
    };
}

const LEASE: Duration = Duration::from_secs(30);

fn stack(check: &str) -> String {
    format!("{check}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

fn manual(clock: &Arc<ManualClock>) -> LockOptions {
    LockOptions { clock: Arc::clone(clock) as _, ..LockOptions::new(LEASE) }
}

async fn take(backend: &Arc<dyn StateBackend>, stack: &str, operation: &str, options: &LockOptions) -> crate::Lock {
    match acquire(Arc::clone(backend), stack, LockInfo::current(operation), options, &|_, _| {}).await {
        Ok(lock) => lock,
        Err(e) => panic!("cannot take a free lock on {stack}: {e}"),
    }
}

async fn stored(backend: &Arc<dyn StateBackend>) -> StateDocument {
    backend.read().await.expect("read").expect("a stored document")
}

pub async fn read_write_advance_the_serial_and_keep_the_lineage(opener: &dyn Opener) {
    let stack = stack("rw");
    let backend = opener.open(&stack).await;
    assert_eq!(backend.read().await.expect("read"), None, "a new stack has no state");
    let mut doc = new_document(&stack);
    let lineage = doc.lineage.clone();
    backend.write(&mut doc).await.expect("first write");
    assert_eq!(doc.serial, 1);
    doc.fence = 7;
    backend.write(&mut doc).await.expect("second write");
    assert_eq!(doc.serial, 2);

    let other = opener.open(&stack).await;
    let seen = stored(&other).await;
    assert_eq!(seen, doc, "another process reads exactly what was written");
    assert_eq!(seen.lineage, lineage);
    let mut seen = seen;
    other.write(&mut seen).await.expect("a writer that read the latest version may write");
    assert_eq!(seen.serial, 3);
    assert_eq!(stored(&backend).await.lineage, lineage);
}

pub async fn a_stale_writer_overwrites_nothing(opener: &dyn Opener) {
    let stack = stack("cas");
    let (a, b) = (opener.open(&stack).await, opener.open(&stack).await);
    let mut first = new_document(&stack);
    a.write(&mut first).await.expect("first write");
    let mut mine = stored(&a).await;
    let mut theirs = stored(&b).await;
    mine.fence = 1;
    a.write(&mut mine).await.expect("write from the latest version");
    theirs.fence = 99;
    let err = b.write(&mut theirs).await.expect_err("a write from an old version must fail");
    assert!(matches!(err, StateError::Stale { expected: 1, on_disk: 2 }), "{err}");
    assert_eq!(theirs.serial, 1, "a refused write leaves the caller's serial alone");
    assert_eq!(stored(&b).await, mine, "the stored state is the winner's");

    // A new stack: two first writes race; one wins.
    let stack = format!("{stack}-new");
    let (a, b) = (opener.open(&stack).await, opener.open(&stack).await);
    let (mut x, mut y) = (new_document(&stack), new_document(&stack));
    a.write(&mut x).await.expect("first writer");
    let err = b.write(&mut y).await.expect_err("a second first write must fail");
    assert!(matches!(err, StateError::Stale { .. } | StateError::LineageMismatch { .. }), "{err}");
    assert_eq!(stored(&a).await.lineage, x.lineage);
}

/// A write lands but its answer is lost, so the writer still holds the version before it and
/// writes again: that is its own write, not someone else's, and the retry lands on top of it.
/// Another writer holding that old version is still refused.
pub async fn a_write_whose_answer_was_lost_is_not_a_conflict(opener: &dyn Opener) {
    let stack = stack("lost");
    let backend = opener.open(&stack).await;
    let mut doc = new_document(&stack);
    backend.write(&mut doc).await.expect("first write");
    let before = doc.clone();
    let mut landed = before.clone();
    landed.fence = 7;
    backend.write(&mut landed).await.expect("the write whose answer is lost");
    let mut retry = before.clone();
    retry.fence = 7;
    backend.write(&mut retry).await.expect("a retry after a lost answer is not a conflict");
    assert_eq!(retry.serial, before.serial + 2, "the retry lands on top of the write it repeats");
    assert_eq!(stored(&backend).await, retry, "what is stored is the retry");
    assert!(!retry.write_id.is_empty() && retry.write_id != landed.write_id, "each write has its own id");

    let other = opener.open(&stack).await;
    let mut theirs = before.clone();
    let err = other.write(&mut theirs).await.expect_err("another writer of the old version must fail");
    assert!(matches!(err, StateError::Stale { .. }), "{err}");
    assert_eq!(stored(&other).await, retry, "and overwrites nothing");
}

pub async fn a_foreign_lineage_is_refused(opener: &dyn Opener) {
    let stack = stack("lineage");
    let backend = opener.open(&stack).await;
    let mut doc = new_document(&stack);
    backend.write(&mut doc).await.expect("write");
    let mut foreign = new_document(&stack);
    foreign.serial = doc.serial;
    let err = backend.write(&mut foreign).await.expect_err("another lineage must be refused");
    assert!(matches!(err, StateError::LineageMismatch { .. } | StateError::Stale { .. }), "{err}");
    assert_eq!(stored(&backend).await.lineage, doc.lineage);

    let fresh = opener.open(&format!("{stack}-fresh")).await;
    let mut later = new_document(&stack);
    later.serial = 3;
    let err = fresh.write(&mut later).await.expect_err("a later version of nothing must be refused");
    assert!(matches!(err, StateError::Stale { expected: 3, on_disk: 0 }), "{err}");
    assert_eq!(fresh.read().await.expect("read"), None);
}

pub async fn a_held_lock_is_refused_naming_its_holder(opener: &dyn Opener) {
    let stack = stack("lock");
    let clock = Arc::new(ManualClock::new(1_000_000));
    let options = manual(&clock);
    let (a, b) = (opener.open(&stack).await, opener.open(&stack).await);
    let held = take(&a, &stack, "apply", &options).await;
    clock.advance(10);
    let err = match acquire(Arc::clone(&b), &stack, LockInfo::current("destroy"), &options, &|_, _| {}).await {
        Err(e) => e,
        Ok(_) => panic!("a held lock was taken twice"),
    };
    let StateError::Locked { holder, lease_left, .. } = &err else { panic!("{err}") };
    assert_eq!(holder.id, held.info().id);
    assert_eq!(holder.operation, "apply");
    assert_eq!(*lease_left, LEASE.as_secs() - 10, "the message says when the lease ends");
    let fence = held.fence();
    held.release().await;
    let next = take(&b, &stack, "destroy", &options).await;
    assert!(next.fence() > fence, "every acquisition gets a larger fencing number");
    assert!(next.took_over().is_none(), "a released lock is taken, not taken over");
    next.release().await;
}

/// A holder on this host whose process has ended cannot renew or release its lock: the lock
/// is taken at once, without waiting out its lease. A holder on another host still is.
pub async fn a_lock_whose_process_has_ended_on_this_host_is_taken_at_once(opener: &dyn Opener) {
    let stack = stack("dead");
    let clock = Arc::new(ManualClock::new(3_000_000));
    let options = manual(&clock);
    let backend = opener.open(&stack).await;
    // No process has this number: Linux's largest is 4194304.
    let gone = LockInfo { pid: 999_999_999, ..LockInfo::current("apply") };
    let held = acquire(Arc::clone(&backend), &stack, gone.clone(), &options, &|_, _| {}).await.expect("a free lock");
    drop(held); // As a killed process leaves it: recorded, unreleased, its lease running.

    let next = take(&opener.open(&stack).await, &stack, "apply", &options).await;
    assert_eq!(next.took_over().map(|h| h.id.as_str()), Some(gone.id.as_str()), "taken at once");
    assert!(next.holder_was_gone(), "and said to be so");
    next.release().await;

    let elsewhere = LockInfo { host: format!("{}-elsewhere", gone.host), ..gone };
    let held = acquire(Arc::clone(&backend), &stack, elsewhere, &options, &|_, _| {}).await.expect("a free lock");
    drop(held);
    let err = match acquire(opener.open(&stack).await, &stack, LockInfo::current("apply"), &options, &|_, _| {}).await {
        Err(e) => e,
        Ok(_) => panic!("another host's process cannot be seen, so its lease must still govern"),
    };
    assert!(matches!(err, StateError::Locked { waited: 0, .. }), "{err}");
}

pub async fn a_lapsed_lease_is_taken_over_and_its_holder_fenced_off(opener: &dyn Opener) {
    let stack = stack("lapse");
    let clock = Arc::new(ManualClock::new(2_000_000));
    // Renewal is off: this holder has stalled, as a paused or partitioned process would.
    let options = LockOptions { renew_every: Duration::from_secs(3600), ..manual(&clock) };
    let (a, b) = (opener.open(&stack).await, opener.open(&stack).await);
    let stale = take(&a, &stack, "apply", &options).await;
    let mut view = a.read().await.expect("read").unwrap_or_else(|| new_document(&stack));
    stale.write(&mut view).await.expect("the holder writes while its lease is live");

    clock.advance(LEASE.as_secs() + 1);
    let fresh = take(&b, &stack, "apply", &options).await;
    assert_eq!(fresh.took_over().map(|h| h.id.as_str()), Some(stale.info().id.as_str()));
    assert!(fresh.fence() > stale.fence());
    let after_takeover = stored(&b).await;
    assert_eq!(after_takeover.fence, fresh.fence(), "the new holder fenced the state at once");

    view.stack.push_str("-stale");
    let err = stale.write(&mut view).await.expect_err("a holder that lost its lease must not write");
    assert!(matches!(err, StateError::Stale { .. } | StateError::LeaseLost { .. }), "{err}");
    assert_eq!(stored(&b).await, after_takeover, "the stale write changed nothing");
    // Even from a fresh read of the new state, the old holder may not write.
    let mut fresh_view = stored(&a).await;
    let err = stale.write(&mut fresh_view).await.expect_err("a fenced-off holder must not write");
    assert!(matches!(err, StateError::Fenced { .. } | StateError::LeaseLost { .. }), "{err}");
    assert_eq!(stored(&b).await, after_takeover);

    let mut doc = after_takeover;
    fresh.write(&mut doc).await.expect("the new holder writes");
    fresh.release().await;
    drop(stale);
}

pub async fn a_lock_is_released_by_its_id(opener: &dyn Opener) {
    let stack = stack("unlock");
    let clock = Arc::new(ManualClock::new(3_000_000));
    let options = LockOptions { renew_every: Duration::from_secs(3600), ..manual(&clock) };
    let (a, b) = (opener.open(&stack).await, opener.open(&stack).await);
    let crashed = take(&a, &stack, "apply", &options).await;
    let mut view = new_document(&stack);
    crashed.write(&mut view).await.expect("write");

    let err = unlock(&*b.locks(), &stack, "not-the-id").await.expect_err("a wrong id unlocks nothing");
    let StateError::LockNotHeld { holder: Some(holder), .. } = &err else { panic!("{err}") };
    assert_eq!(holder.id, crashed.info().id, "the refusal names the real holder");

    let released = unlock(&*b.locks(), &stack, &crashed.info().id).await.expect("unlock by id");
    assert_eq!(released.id, crashed.info().id);
    let next = take(&b, &stack, "apply", &options).await;
    assert!(next.fence() > crashed.fence());
    let err = crashed.write(&mut view).await.expect_err("the unlocked holder is fenced off");
    assert!(matches!(err, StateError::Stale { .. } | StateError::LeaseLost { .. }), "{err}");
    next.release().await;
    let err = unlock(&*b.locks(), &stack, &crashed.info().id).await.expect_err("nothing left to unlock");
    assert!(matches!(err, StateError::LockNotHeld { holder: None, .. }), "{err}");
}

pub async fn a_live_lease_is_renewed(opener: &dyn Opener) {
    let stack = stack("renew");
    let clock = Arc::new(ManualClock::new(4_000_000));
    let options = LockOptions { renew_every: Duration::from_millis(50), ..manual(&clock) };
    let (a, b) = (opener.open(&stack).await, opener.open(&stack).await);
    let held = take(&a, &stack, "apply", &options).await;
    // Twice the lease passes in steps, each followed by a chance to renew.
    for _ in 0..6 {
        clock.advance(LEASE.as_secs() / 3);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(!held.lost().is_cancelled());
    let err = match acquire(Arc::clone(&b), &stack, LockInfo::current("plan"), &options, &|_, _| {}).await {
        Err(e) => e,
        Ok(_) => panic!("a renewed lease was taken over"),
    };
    assert!(matches!(err, StateError::Locked { .. }), "{err}");

    // Once unlocked by id, the holder notices at its next renewal and may not write.
    unlock(&*b.locks(), &stack, &held.info().id).await.expect("unlock");
    tokio::time::timeout(Duration::from_secs(10), held.lost().cancelled()).await.expect("the holder notices");
    let mut doc = new_document(&stack);
    assert!(matches!(held.write(&mut doc).await, Err(StateError::LeaseLost { .. })));
    assert_eq!(b.read().await.expect("read"), None);
}
