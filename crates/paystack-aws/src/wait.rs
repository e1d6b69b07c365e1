//! Waiting for AWS to finish making or deleting something: the SDK's waiter orchestrator,
//! with a cadence of paystack's own.
//!
//! The generated waiters (`wait_until_*`) back off exponentially up to their model's
//! longest delay between looks: 30 minutes for RDS, 10 for ECS, 2 for EC2, ELB and Route 53.
//! An Aurora instance that is ready after 10 minutes may then be seen ready 8 minutes late,
//! and everything after it in the plan starts late. These waits run on the same orchestrator
//! (`aws_smithy_runtime::client::waiters`), with the same success and failure states as the
//! SDK's waiters for these operations, but look at least every [`Cadence::every`].
//!
//! The clock of a wait is real time, but for the latency benchmark ([`WaitClock`]).

use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep, Sleep};
use aws_smithy_async::time::{SharedTimeSource, TimeSource};
use aws_smithy_runtime::client::waiters::{AcceptorState, WaiterOrchestrator};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::{CreateUnhandledError, SdkError};
use aws_smithy_runtime_api::client::waiters::FinalPoll;
use aws_smithy_runtime_api::client::waiters::error::WaiterError;

/// The environment variable that sets [`WaitClock::from_env`].
pub const WAIT_CLOCK_SCALE: &str = "PAYSTACK_WAIT_CLOCK_SCALE";

/// How fast the clock of every wait runs. Real time, except in the latency benchmark: there
/// the test proxy plays AWS's durations at a fraction of real time, and the pauses between a
/// wait's looks must shrink by the same fraction, or they, not the plan, would decide how
/// long the run takes. A scaled clock scales a wait's pauses and its limit alike, and
/// nothing else: calls keep their real timeouts and retry delays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WaitClock {
    scale: f64,
}

impl WaitClock {
    pub const REAL: Self = Self { scale: 1.0 };

    /// A clock at `scale` (0 < scale ≤ 1) of real time.
    pub fn scaled(scale: f64) -> Result<Self, String> {
        if scale > 0.0 && scale <= 1.0 {
            Ok(Self { scale })
        } else {
            Err(format!("the wait clock's scale must be above 0 and at most 1, not {scale}"))
        }
    }

    /// The clock [`WAIT_CLOCK_SCALE`] sets; real time when it is unset.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var(WAIT_CLOCK_SCALE) {
            Err(_) => Ok(Self::REAL),
            Ok(v) => v
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("{WAIT_CLOCK_SCALE}=`{v}` is not a number"))
                .and_then(Self::scaled)
                .map_err(|e| format!("{WAIT_CLOCK_SCALE}: {e}")),
        }
    }

    fn sleep(self) -> SharedAsyncSleep {
        SharedAsyncSleep::new(Scaled { scale: self.scale, origin: SystemTime::now() })
    }

    fn time(self) -> SharedTimeSource {
        SharedTimeSource::new(Scaled { scale: self.scale, origin: SystemTime::now() })
    }
}

/// Sleeps for `scale` of each pause, and tells a time that runs `1 / scale` as fast as real
/// time from `origin` on.
#[derive(Debug)]
struct Scaled {
    scale: f64,
    origin: SystemTime,
}

impl AsyncSleep for Scaled {
    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(tokio::time::sleep(duration.mul_f64(self.scale)))
    }
}

impl TimeSource for Scaled {
    fn now(&self) -> SystemTime {
        let real = SystemTime::now().duration_since(self.origin).unwrap_or_default();
        self.origin + real.div_f64(self.scale)
    }
}

/// How often a wait looks: first after `first`, then after a pause that doubles, with jitter,
/// up to `every`. A wait overshoots AWS's finish by half a pause on average, so the pause is
/// short next to what is waited for; each look is one Describe call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cadence {
    pub(crate) first: Duration,
    pub(crate) every: Duration,
}

impl Cadence {
    /// For everything paystack waits for: it takes minutes, or tens of them.
    pub(crate) const STEADY: Self = Self { first: Duration::from_secs(5), every: Duration::from_secs(15) };
}

/// One kind's waits: how long they may take (`[waits]` in the configuration) and the clock
/// they keep.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wait {
    pub(crate) limit: Duration,
    pub(crate) clock: WaitClock,
}

/// What a wait ends with: the last answer, or why it gave up.
pub(crate) type Waited<O, E> = Result<FinalPoll<O, SdkError<E, HttpResponse>>, WaiterError<O, E>>;

impl Wait {
    pub(crate) fn new(limit: Duration, clock: WaitClock) -> Self {
        Self { limit, clock }
    }

    /// Calls `operation` until `acceptor` calls its answer success or failure, or the limit
    /// has passed.
    pub(crate) async fn until<O, E, Op, Fut, A>(&self, cadence: Cadence, operation: Op, acceptor: A) -> Waited<O, E>
    where
        Op: Fn() -> Fut,
        Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
        A: Fn(Result<&O, &E>) -> AcceptorState,
        E: CreateUnhandledError + std::error::Error + Send + Sync + 'static,
    {
        WaiterOrchestrator::builder()
            .min_delay(cadence.first)
            .max_delay(cadence.every)
            .max_wait(self.limit)
            .time_source(self.clock.time())
            .sleep_impl(self.clock.sleep())
            .acceptor(acceptor)
            .operation(operation)
            .build()
            .orchestrate()
            .await
    }
}

/// The acceptor state of a list of statuses: success when there is at least one and each
/// is `ready`, failure when any is one of `failed`, else look again.
pub(crate) fn all_or_any<S: AsRef<str>>(
    statuses: impl IntoIterator<Item = S>,
    ready: &str,
    failed: &[&str],
) -> AcceptorState {
    let statuses: Vec<S> = statuses.into_iter().collect();
    if !statuses.is_empty() && statuses.iter().all(|s| s.as_ref() == ready) {
        AcceptorState::Success
    } else if statuses.iter().any(|s| failed.contains(&s.as_ref())) {
        AcceptorState::Failure
    } else {
        AcceptorState::Retry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_needs_every_status_ready_and_at_least_one() {
        let failed = &["failed", "deleting"];
        assert_eq!(all_or_any(["available", "available"], "available", failed), AcceptorState::Success);
        assert_eq!(all_or_any(["available", "creating"], "available", failed), AcceptorState::Retry);
        assert_eq!(all_or_any(["available", "deleting"], "available", failed), AcceptorState::Failure);
        assert_eq!(all_or_any([""; 0], "available", failed), AcceptorState::Retry);
    }

    #[test]
    fn a_clock_scale_is_a_fraction_of_real_time() {
        assert!(WaitClock::scaled(0.005).is_ok());
        assert!(WaitClock::scaled(1.0).is_ok());
        for bad in [0.0, -1.0, 1.5, f64::NAN] {
            assert!(WaitClock::scaled(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_scaled_clock_shortens_pauses_and_stretches_time_alike() {
        let clock = WaitClock::scaled(0.01).unwrap();
        let (sleep, time) = (clock.sleep(), clock.time());
        let (t0, real) = (time.now(), tokio::time::Instant::now());
        sleep.sleep(Duration::from_secs(100)).await;
        assert_eq!(real.elapsed(), Duration::from_secs(1), "100 s of the clock is 1 s of real time");
        // The time source reads the system clock, which a paused tokio clock does not move:
        // it has moved by at most the real time the test took, stretched.
        assert!(time.now() >= t0);
    }

    /// A wait that never sees success gives up at its limit, in the clock's time.
    #[tokio::test]
    async fn a_wait_gives_up_at_its_limit_in_the_clock_s_time() {
        use aws_sdk_ec2::operation::describe_nat_gateways::{DescribeNatGatewaysError, DescribeNatGatewaysOutput};
        let wait = Wait::new(Duration::from_secs(60), WaitClock::scaled(0.001).unwrap());
        let looks = std::sync::atomic::AtomicU32::new(0);
        let started = std::time::Instant::now();
        let waited: Waited<DescribeNatGatewaysOutput, DescribeNatGatewaysError> = wait
            .until(
                Cadence::STEADY,
                || {
                    looks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    async { Ok(DescribeNatGatewaysOutput::builder().build()) }
                },
                |_| AcceptorState::Retry,
            )
            .await;
        let Err(WaiterError::ExceededMaxWait(out)) = waited else { panic!("{waited:?}") };
        assert!(out.elapsed() >= Duration::from_secs(60), "{:?}", out.elapsed());
        assert!(started.elapsed() < Duration::from_secs(5), "60 s of a 1/1000 clock: {:?}", started.elapsed());
        // Every 5-15 s over a minute.
        let looks = looks.into_inner();
        assert!((4..=13).contains(&looks), "{looks} looks");
    }
}
