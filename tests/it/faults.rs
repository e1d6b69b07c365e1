//! AWS's faults: dev is applied, planned and destroyed through [`FaultProxy`], which
//! throttles, answers 503, or loses the answer after the emulator acted, on 10% of requests.
//! One run converges, nothing exists twice, a plan straight after is empty, and destroy
//! leaves nothing. `PAYSTACK_FAULT_SEED` and `PAYSTACK_FAULT_RATE` choose the run
//! (`scripts/faults` runs several).

use crate::support::{Run, Stack, assert_exactly_what_state_records, endpoint, expected_total, live_resources};
use paystack_proxy::FaultProxy;

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test]
async fn dev_converges_in_one_run_through_ten_percent_faults() {
    let (seed, rate) = (setting("PAYSTACK_FAULT_SEED", 7_u64), setting("PAYSTACK_FAULT_RATE", 0.10_f64));
    let stack = Stack::new("dev", "faults");
    let proxy = FaultProxy::start(&endpoint(), seed, rate);
    let through = |args: &[&str]| Run::from(stack.command(args).env("AWS_ENDPOINT_URL", &proxy.url).output().unwrap());
    let when = format!("seed {seed}, rate {rate}");

    let applied = through(&["apply", "--yes"]);
    assert_eq!(applied.code, 0, "{when}: one apply converges; {}\n{}", proxy.counts, applied.stderr);
    let after_apply = proxy.counts.to_string();
    assert_exactly_what_state_records(&stack, expected_total("dev"), &when).await;
    let plan = through(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{when}: a plan straight after is empty:\n{}{}", plan.stdout, plan.stderr);

    let destroyed = through(&["destroy", "--yes"]);
    assert_eq!(destroyed.code, 0, "{when}: destroy converges; {}\n{}", proxy.counts, destroyed.stderr);
    let left = live_resources(&stack).await;
    assert!(left.is_empty(), "{when}: destroy leaves nothing: {left:#?}");
    assert!(proxy.counts.faults() > 0, "{when}: the proxy injected no fault: {}", proxy.counts);
    // The figures, for the record (shown with --no-capture).
    println!("faults, {when}: after apply {after_apply}; in all {}", proxy.counts);
}
