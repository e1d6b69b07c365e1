//! The engine's promises: idempotent, never a duplicate, nothing lost to a crash, no AWS call
//! before configuration validates, one writer at a time, production protected.

use std::io::Read;
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Stack, ec2, expected_counts, live_counts};

#[tokio::test]
async fn with_its_state_lost_a_stack_is_adopted_not_duplicated() {
    let stack = Stack::new("dev", "lost");
    stack.apply();
    std::fs::remove_file(stack.state_file()).unwrap();
    // Every live resource is found again by its ownership tags.
    let plan = stack.run(&["plan", "--detailed-exitcode"]).code(0);
    assert!(plan.stdout.starts_with("No changes."), "{}", plan.stdout);
    let applied = stack.run(&["apply", "--yes"]).success();
    assert!(applied.stdout.starts_with("No changes."), "{}", applied.stdout);
    assert_eq!(live_counts(&ec2().await, &stack).await, expected_counts(1));
}

/// `kill -9` at moments spread over a whole apply; after each, a re-run converges with every
/// resource present exactly once and recorded. The moments are state writes, not sleeps:
/// the k-th kill lands just after the apply's k-th state write, whatever the machine's speed.
/// `PAYSTACK_KILL_POINTS` sets how many (default 4).
#[tokio::test]
async fn killed_at_any_moment_a_rerun_converges_without_duplicates() {
    // One write before the first call, then one per create and one per settle.
    const WRITES: u64 = 1 + 2 * 18;
    let points: u64 = std::env::var("PAYSTACK_KILL_POINTS").ok().and_then(|v| v.parse().ok()).unwrap_or(4);
    let client = ec2().await;
    let mut partial = 0;
    for i in 0..points {
        let stack = Stack::new("dev", "kill");
        let kill_after = 1 + i * (WRITES - 1) / points.max(1);
        let mut child = stack.command(&["apply", "--yes"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let serial = || -> u64 {
            let text = std::fs::read_to_string(stack.state_file()).unwrap_or_default();
            serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v["serial"].as_u64()).unwrap_or(0)
        };
        while serial() < kill_after && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let before: usize = live_counts(&client, &stack).await.values().sum();
        if (1..18).contains(&before) {
            partial += 1;
        }

        stack.run(&["apply", "--yes"]).success();
        assert_eq!(live_counts(&client, &stack).await, expected_counts(1), "after a kill at state write {kill_after}");
        stack.run(&["plan", "--detailed-exitcode"]).code(0);
        let state: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(stack.state_file()).unwrap()).unwrap();
        assert_eq!(state["resources"].as_object().unwrap().len(), 18, "state records every resource");
    }
    assert!(
        partial * 2 >= points,
        "only {partial} of {points} kills left a half-built stack: the kills miss the apply"
    );
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
async fn a_second_operation_is_refused_while_the_lock_is_held() {
    use paystack_state::{LocalBackend, LockInfo, StateBackend};
    let stack = Stack::new("dev", "locked");
    let backend = LocalBackend::new(stack.state.path(), &stack.key());
    let mut holder = LockInfo::current("apply");
    holder.who = "release-bot".into();
    let guard = backend.lock(holder).await.unwrap();
    let refused = stack.run(&["apply", "--yes"]).code(1);
    assert!(
        refused.stderr.contains(&format!("the state of `{}` is locked by release-bot@", stack.key())),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("`apply`"), "{}", refused.stderr);
    assert!(live_counts(&ec2().await, &stack).await.values().all(|n| *n == 0), "nothing was created");
    drop(guard);
    stack.apply();
}

#[tokio::test]
async fn a_protected_environment_is_not_destroyed_without_the_override() {
    let stack = Stack::new("prod", "guard");
    stack.apply();
    let client = ec2().await;
    let refused = stack.run(&["destroy", "--yes"]).code(1);
    assert!(refused.stderr.contains("`prod` is protected"), "{}", refused.stderr);
    assert!(refused.stderr.contains("--override-protection"), "{}", refused.stderr);
    assert_eq!(live_counts(&client, &stack).await, expected_counts(3), "nothing was touched");

    stack.run(&["destroy", "--yes", "--override-protection"]).success();
    assert!(live_counts(&client, &stack).await.values().all(|n| *n == 0));
}

/// Ctrl-C in the middle of an apply: nothing new starts, what was made is recorded, the run
/// exits non-zero and says how to finish, and the next run finishes without duplicates.
#[tokio::test]
async fn ctrl_c_stops_at_a_safe_point_and_the_next_run_finishes() {
    let stack = Stack::new("dev", "ctrlc");
    let child = stack.command(&["apply", "--yes"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let serial = || -> u64 {
        let text = std::fs::read_to_string(stack.state_file()).unwrap_or_default();
        serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v["serial"].as_u64()).unwrap_or(0)
    };
    // Interrupt once the first resource exists.
    let start = Instant::now();
    while serial() < 2 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let sent = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let run = crate::support::Run::from(child.wait_with_output().unwrap()).code(1);
    assert!(run.stderr.contains("Interrupted: starting nothing new"), "{}", run.stderr);
    assert!(run.stdout.contains("Apply did not finish."), "{}", run.stdout);
    assert!(run.stderr.contains("run `paystack apply --env dev` again to finish"), "{}", run.stderr);

    let client = ec2().await;
    let made: usize = live_counts(&client, &stack).await.values().sum();
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(stack.state_file()).unwrap()).unwrap();
    assert!(made < 18, "the interrupt stopped the apply early ({made} of 18 made)");
    assert_eq!(state["resources"].as_object().unwrap().len(), made, "everything made is recorded");

    stack.apply();
    assert_eq!(live_counts(&client, &stack).await, expected_counts(1));
    stack.run(&["plan", "--detailed-exitcode"]).code(0);
}
