//! The engine's promises: idempotent, never a duplicate, nothing lost to a crash, no AWS call
//! before configuration validates, one writer at a time, production protected.

use std::io::Read;
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{
    Stack, assert_exactly_what_state_records, expected_counts, expected_specs, expected_total, live_counts,
    live_resources,
};

#[tokio::test]
async fn with_its_state_lost_a_stack_is_adopted_not_duplicated() {
    let stack = Stack::new("dev", "lost");
    stack.apply();
    stack.delete_state().await;
    // Every live resource is found again by its ownership tags.
    let plan = stack.run(&["plan", "--detailed-exitcode"]).code(0);
    assert!(plan.stdout.starts_with("No changes."), "{}", plan.stdout);
    let applied = stack.run(&["apply", "--yes"]).success();
    assert!(applied.stdout.starts_with("No changes."), "{}", applied.stdout);
    assert_eq!(live_counts(&stack).await, expected_counts("dev"));
    // The apply with nothing to change wrote what it found back to state.
    let state = stack.state().await.expect("state was written back");
    assert_eq!(state["resources"].as_object().map(|r| r.len()), Some(expected_specs("dev")), "every resource recorded");
    assert_exactly_what_state_records(&stack, expected_total("dev"), "after adopting a stack whose state was lost")
        .await;
}

/// `kill -9` at N random moments of `apply --env prod`. After each kill the apply is run
/// again, and every resource in the emulator is checked against the state, by ownership tag
/// and by name: nothing missing, nothing twice, nothing untracked.
///
/// `PAYSTACK_KILL_POINTS` sets N (default 3); `PAYSTACK_KILL_SEED` replays a run's moments.
/// `scripts/kill-harness N` runs it alone with a larger N.
#[tokio::test]
async fn killed_at_random_moments_an_apply_of_prod_converges_exactly() {
    let points: u64 = std::env::var("PAYSTACK_KILL_POINTS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let seed: u64 = std::env::var("PAYSTACK_KILL_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("kill harness: {points} kills, PAYSTACK_KILL_SEED={seed}");

    // How many state writes a whole apply of prod makes: the kills land among them, so they
    // fall inside the apply however fast or loaded the machine is.
    let probe = Stack::new("prod", "killcal");
    probe.apply();
    let writes = probe.serial().await;
    probe.run(&["destroy", "--yes", "--override-protection"]).success();

    let mut rng = seed | 1;
    let mut next = move || {
        // xorshift64: enough randomness for spreading kills, and replayable from the seed.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut partial, mut landed) = (0, 0);
    for i in 0..points {
        // A random moment: after a random state write, plus up to 20 ms.
        let after_write = 1 + next() % (writes - 1);
        let delay = Duration::from_micros(next() % 20_000);
        let at = format!("{delay:?} after state write {after_write} of {writes}");
        let stack = Stack::new("prod", "kill");
        // A short lease, so the re-run takes over the killed run's lock within seconds.
        stack.edit_config("shared.toml", |t| t.replace("lock_lease_seconds = 30", "lock_lease_seconds = 3"));
        let mut child = stack.command(&["apply", "--yes"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        while stack.serial().await < after_write && child.try_wait().unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(delay).await;
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        // Killed while it ran, not after it had finished on its own.
        if std::os::unix::process::ExitStatusExt::signal(&status) == Some(9) {
            landed += 1;
        } else {
            eprintln!("kill {i} at {at:?} came after the apply had ended: {status}");
        }
        // Half-built: something made, and something (a resource, or a setting on one, which
        // comes last) not yet.
        let before = live_resources(&stack).await.len();
        let recorded = stack.state().await.and_then(|s| s["resources"].as_object().map(serde_json::Map::len));
        if (1..expected_total("prod")).contains(&before)
            || (before > 0 && recorded.unwrap_or(0) < expected_specs("prod"))
        {
            partial += 1;
        }

        let rerun = stack.run(&["apply", "--yes", "--lock-timeout", "60s"]);
        assert_eq!(rerun.code, 0, "re-run after kill {i} at {at:?} (seed {seed}) failed:\n{}", rerun.stderr);
        assert_exactly_what_state_records(&stack, expected_total("prod"), &format!("kill {i} at {at:?}, seed {seed}"))
            .await;
        stack.run(&["plan", "--detailed-exitcode"]).code(0);
    }
    assert!(landed * 2 >= points, "only {landed} of {points} kills landed while the apply ran (seed {seed})");
    assert!(partial * 2 >= points, "only {partial} of {points} kills left a half-built stack (seed {seed})");
}

/// A TCP listener standing in for AWS, counting the connections made to it.
fn fake_aws() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut s) = stream {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
            }
        }
    });
    (url, seen)
}

#[test]
fn no_aws_call_is_made_before_the_configuration_validates() {
    let (url, seen) = fake_aws();
    let stack = Stack::new("dev", "nocall");
    stack.edit_config("staging.toml", |t| t.replace("10.1.0.0/16", "10.0.128.0/17"));
    let run =
        crate::support::Run::from(stack.command(&["plan"]).env("AWS_ENDPOINT_URL", &url).output().unwrap()).code(1);
    assert!(run.stderr.contains("staging.toml:4:8"), "{}", run.stderr);
    assert!(run.stderr.contains("overlaps 10.0.0.0/16 of `dev`"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was sent to AWS"), "{}", run.stderr);

    stack.edit_config("staging.toml", |t| t.replace("10.0.128.0/17", "10.1.0.0/16"));
    let unknown = crate::support::Run::from(
        std::process::Command::new(crate::support::binary())
            .args(["--config", &stack.config.path().display().to_string(), "plan", "--env", "qa"])
            .env("AWS_ENDPOINT_URL", &url)
            .output()
            .unwrap(),
    )
    .code(1);
    assert!(unknown.stderr.contains("unknown environment `qa`"), "{}", unknown.stderr);
    assert_eq!(seen.load(Ordering::SeqCst), 0, "no connection reached AWS");

    // The control: with a valid configuration the same command does reach the endpoint, so
    // the count above could have failed.
    let mut child = stack
        .command(&["plan"])
        .env("AWS_ENDPOINT_URL", &url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while seen.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(seen.load(Ordering::SeqCst) > 0, "a valid plan contacts AWS");
}

#[tokio::test]
async fn a_held_lock_refuses_a_second_run_and_is_released_by_its_id() {
    use paystack_state::{LockInfo, LockOptions, acquire};
    let stack = Stack::new("dev", "locked");
    let mut holder = LockInfo::current("apply");
    holder.who = "release-bot".into();
    let held =
        acquire(stack.backend().await, &stack.key(), holder, &LockOptions::new(Duration::from_secs(300)), &|_, _| {})
            .await
            .unwrap();
    let refused = stack.run(&["apply", "--yes"]).code(1);
    assert!(
        refused.stderr.contains(&format!("the state of `{}` is locked by release-bot@", stack.key())),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("`apply`"), "{}", refused.stderr);
    assert!(refused.stderr.contains("its lease ends in"), "{}", refused.stderr);
    let unlock = format!("paystack unlock {} {}", stack.typed(), held.info().id);
    assert!(refused.stderr.contains(&unlock), "the refusal says how to release it: {}", refused.stderr);
    assert!(live_counts(&stack).await.values().all(|n| *n == 0), "nothing was created");

    // As if the holder had crashed: released by its id, and fenced off from state.
    let wrong = stack.run(&["unlock", "not-the-id"]).code(1);
    assert!(wrong.stderr.contains("release-bot@"), "the refusal names the real holder: {}", wrong.stderr);
    stack.run(&["unlock", &held.info().id]).success();
    stack.apply();
    let mut doc = stack.backend().await.read().await.unwrap().unwrap();
    let err = held.write(&mut doc).await.expect_err("the unlocked holder may not write state");
    assert!(matches!(err, paystack_state::StateError::Fenced { .. }), "{err}");
    assert_eq!(stack.state().await.unwrap()["resources"].as_object().unwrap().len(), expected_specs("dev"));
}

/// Two `apply` processes started together on one stack, ten times: exactly one proceeds,
/// the other names the holder, and S3 keeps one version per state write: none is lost.
#[tokio::test]
async fn concurrent_applies_one_proceeds_and_no_state_write_is_lost() {
    let stack = Stack::new("dev", "race");
    for round in 0..10 {
        // Each round has work to do, so the winner holds the lock while the loser starts.
        let port = 8080 + round;
        stack.edit_config("shared.toml", |t| {
            t.lines()
                .map(|l| if l.starts_with("app_port") { format!("app_port = {port}") } else { l.to_owned() })
                .collect::<Vec<_>>()
                .join("\n")
        });
        let spawn =
            || stack.command(&["apply", "--yes"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let (a, b) = (spawn(), spawn());
        let runs = [a, b].map(|c| crate::support::Run::from(c.wait_with_output().unwrap()));
        let winners = runs.iter().filter(|r| r.code == 0).count();
        assert_eq!(
            winners,
            1,
            "round {round}: exactly one proceeds: {:?}",
            runs.iter().map(|r| &r.stderr).collect::<Vec<_>>()
        );
        let loser = runs.iter().find(|r| r.code != 0).unwrap();
        assert_eq!(loser.code, 1);
        assert!(loser.stderr.contains("is locked by"), "round {round}: {}", loser.stderr);
        assert!(loser.stderr.contains("`apply`"), "round {round}: {}", loser.stderr);
        // The world, not only the writer: one of everything, each recorded.
        assert_exactly_what_state_records(&stack, expected_total("dev"), &format!("round {round}")).await;
    }
    stack.run(&["plan", "--detailed-exitcode"]).code(0);
    let serial = stack.serial().await;
    assert_eq!(stack.state_versions().await, (1..=serial).collect::<Vec<_>>(), "every write is kept, in order");
}

#[tokio::test]
async fn a_protected_environment_is_not_destroyed_without_the_override() {
    let stack = Stack::new("prod", "guard");
    stack.apply();
    let refused = stack.run(&["destroy", "--yes"]).code(1);
    assert!(refused.stderr.contains("`prod` is protected"), "{}", refused.stderr);
    assert!(refused.stderr.contains("--override-protection"), "{}", refused.stderr);
    assert_eq!(live_counts(&stack).await, expected_counts("prod"), "nothing was touched");
    let serial = stack.serial().await;

    // An apply that would replace: a new VPC range replaces the VPC and what is in it.
    stack.edit_config("prod.toml", |t| t.replace("10.2.0.0/16", "10.20.0.0/16"));
    let refused = stack.run(&["apply", "--yes"]).code(1);
    assert!(refused.stderr.contains("`prod` is protected, and this would delete or replace"), "{}", refused.stderr);
    assert!(refused.stderr.contains("vpc"), "the refusal names what would be replaced: {}", refused.stderr);
    stack.edit_config("prod.toml", |t| t.replace("10.20.0.0/16", "10.2.0.0/16"));
    let vpcs = crate::support::ec2().await.describe_vpcs().filters(stack.filter()).send().await.unwrap();
    let cidrs: Vec<_> = vpcs.vpcs().iter().filter_map(|v| v.cidr_block()).collect();
    assert_eq!(cidrs, ["10.2.0.0/16"], "the VPC was not replaced");

    // A drift fix that would delete a resource paystack never made, carrying its tags.
    let stranger = crate::support::plant_unmanaged_security_group(&stack).await;
    let refused = stack.run(&["drift", "--fix", "--prune", "--yes"]).code(1);
    assert!(refused.stderr.contains("`prod` is protected"), "{}", refused.stderr);
    let groups = crate::support::ec2().await.describe_security_groups().group_ids(&stranger).send().await.unwrap();
    assert_eq!(groups.security_groups().len(), 1, "the unmanaged group is still there");
    crate::support::ec2().await.delete_security_group().group_id(&stranger).send().await.unwrap();
    assert_eq!(live_counts(&stack).await, expected_counts("prod"), "nothing was touched");
    assert_eq!(stack.serial().await, serial, "and no refused run wrote state");

    stack.run(&["destroy", "--yes", "--override-protection"]).success();
    assert!(live_counts(&stack).await.values().all(|n| *n == 0));
}

/// Ctrl-C in the middle of an apply: nothing new starts, what was made is recorded, the run
/// exits non-zero and says how to finish, and the next run finishes without duplicates.
#[tokio::test]
async fn ctrl_c_stops_at_a_safe_point_and_the_next_run_finishes() {
    let stack = Stack::new("dev", "ctrlc");
    let child = stack.command(&["apply", "--yes"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Interrupt once the first resource exists: the first write before any call, then the
    // journal entry, then the first create.
    let start = Instant::now();
    while stack.serial().await < 3 && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let sent = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let run = crate::support::Run::from(child.wait_with_output().unwrap()).code(1);
    assert!(run.stderr.contains("Interrupted: starting nothing new"), "{}", run.stderr);
    assert!(run.stdout.contains("Apply did not finish."), "{}", run.stdout);
    let again = format!("run `paystack apply {}` again to finish", stack.typed());
    assert!(run.stderr.contains(&again), "{}", run.stderr);

    let made: usize = live_counts(&stack).await.values().sum();
    let state = stack.state().await.unwrap();
    assert!(made < expected_total("dev"), "the interrupt stopped the apply early ({made} made)");
    assert_eq!(state["resources"].as_object().unwrap().len(), made, "everything made is recorded");

    stack.apply();
    assert_eq!(live_counts(&stack).await, expected_counts("dev"));
    stack.run(&["plan", "--detailed-exitcode"]).code(0);
}

#[tokio::test]
async fn a_run_that_waits_for_a_lock_gives_up_when_its_time_runs_out() {
    use paystack_state::{LockInfo, LockOptions, acquire};
    let stack = Stack::new("dev", "waits");
    let held = acquire(
        stack.backend().await,
        &stack.key(),
        LockInfo::current("apply"),
        &LockOptions::new(Duration::from_secs(300)),
        &|_, _| {},
    )
    .await
    .unwrap();
    let refused = stack.run(&["apply", "--yes", "--lock-timeout", "2s"]).code(1);
    assert!(
        refused.stderr.contains("waiting for the lock") || refused.stderr.contains("locked by"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("this run waited 2s"), "it says how long it waited: {}", refused.stderr);
    assert!(!refused.stderr.contains("--lock-timeout"), "and does not suggest waiting: {}", refused.stderr);
    assert!(live_counts(&stack).await.values().all(|n| *n == 0), "nothing was created");
    held.release().await;
    assert_eq!(stack.serial().await, 0, "and no state was written");
}
