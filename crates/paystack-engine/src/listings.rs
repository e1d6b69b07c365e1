//! Listings shared by the kinds of one placement for one read of the live stack.
//!
//! Some listings serve several kinds: the load balancers serve the load balancer, its
//! attributes' owner and the listeners; the secrets serve the secret, its policy and its
//! rotation. `observe_all` gives each placement's reads one `Listings`, so each such listing
//! is made once per pass, by whichever kind asks first, while the others wait for it.
//!
//! It lives no longer than that pass: a `Scope` made anywhere else has none, and every read
//! through it goes to AWS. A create that looks for what a lost response made (the
//! executor's `find`) must see AWS as it is now, never a listing from before the create.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use crate::reconciler::ReconcileError;

type Shared = Arc<dyn Any + Send + Sync>;
/// Each listing's cell, by its key and type: filled once, awaited by every other asker.
type Cells = HashMap<(String, TypeId), Arc<OnceCell<Shared>>>;

/// The listings made so far in one pass, by key and type.
#[derive(Clone, Default)]
pub(crate) struct Listings {
    made: Arc<Mutex<Cells>>,
}

impl fmt::Debug for Listings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Listings")
    }
}

impl Listings {
    /// The listing `key` of type `T`: made by `read` the first time it is asked for, and
    /// shared after. A failed read is not kept: the next asker reads again.
    pub(crate) async fn get<T, F, Fut>(&self, key: &str, read: F) -> Result<Arc<T>, ReconcileError>
    where
        T: Any + Send + Sync,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ReconcileError>>,
    {
        let cell = {
            let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(made.entry((key.to_owned(), TypeId::of::<T>())).or_default())
        };
        let shared = cell.get_or_try_init(|| async { read().await.map(|value| Arc::new(value) as Shared) }).await?;
        // Keyed by the type too, so the cast holds by construction.
        Arc::clone(shared)
            .downcast::<T>()
            .map_err(|_| ReconcileError::permanent(format!("the shared listing {key} has another type")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_listing_is_made_once_for_every_asker_and_a_failure_is_not_kept() {
        let listings = Listings::default();
        let reads = AtomicUsize::new(0);
        let read = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ReconcileError>(vec!["lb-1".to_owned()])
        };
        let (a, b) = tokio::join!(listings.get("lbs", read), listings.get("lbs", read));
        assert_eq!(*a.unwrap(), ["lb-1"]);
        assert_eq!(*b.unwrap(), ["lb-1"]);
        assert_eq!(reads.load(Ordering::SeqCst), 1, "the second asker waited for the first read");

        let failed =
            listings.get::<Vec<String>, _, _>("secrets", || async { Err(ReconcileError::retryable("throttled")) });
        assert!(failed.await.is_err());
        let again = listings.get("secrets", || async { Ok::<_, ReconcileError>(vec!["s".to_owned()]) }).await;
        assert_eq!(*again.unwrap(), ["s"], "a failed read is made again");

        let other = listings.get("lbs", || async { Ok::<_, ReconcileError>(7_u32) }).await;
        assert_eq!(*other.unwrap(), 7, "the same key with another type is another listing");
    }
}
