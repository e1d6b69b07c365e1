//! AWS's durations, through the proxy's latency mode: NAT gateways, the S3 endpoint, Aurora
//! clusters and instances, the load balancer and Route 53 changes report themselves in
//! progress for their typical duration (`aws-latency.toml`, at 1/200), and the one-call
//! creates take theirs, so the real reconcilers' waiters wait and the executor orders what
//! follows after them. Prod is applied, planned and destroyed through it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Run, Stack, assert_exactly_what_state_records, endpoint, expected_total, live_resources};
use paystack_proxy::{FaultProxy, Latency, Seen};

/// When the first answer of `describe` showed something settled.
fn first_settled(timeline: &[Seen], describe: &str) -> Duration {
    let seen = timeline.iter().find(|s| s.action == describe && !s.settled.is_empty());
    seen.unwrap_or_else(|| panic!("no {describe} answer showed anything settled")).at
}

/// When each `action` request was made.
fn sent(timeline: &[Seen], action: &str) -> Vec<Duration> {
    timeline.iter().filter(|s| s.action == action).map(|s| s.at).collect()
}

/// The lines of an `apply --json`, in order.
fn events(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

fn field<'v>(event: &'v Value, name: &str) -> &'v str {
    event[name].as_str().unwrap_or_else(|| panic!("no `{name}` in {event}"))
}

/// Every change started only after each change it depends on (as state records the
/// dependencies) had finished: made, and reported ready by its waiter.
fn started_only_after_what_they_depend_on_was_ready(events: &[Value], state: &Value) {
    let changed: BTreeSet<&str> = events[0]["plan"]["changes"]
        .as_array()
        .expect("the first line is the plan")
        .iter()
        .filter(|c| c["action"] != "no-op")
        .map(|c| field(c, "id"))
        .collect();
    let (mut ready, mut started) = (BTreeSet::new(), 0);
    for e in events {
        match field(e, "event") {
            "started" => {
                started += 1;
                let id = field(e, "resource");
                let depends_on = state["resources"][id]["depends_on"].as_array().unwrap_or_else(|| panic!("{id}"));
                for dep in depends_on.iter().filter_map(Value::as_str).filter(|d| changed.contains(d)) {
                    assert!(ready.contains(dep), "{id} started before {dep}, which it depends on, was ready");
                }
            }
            "finished" => {
                ready.insert(field(e, "resource"));
            }
            _ => {}
        }
    }
    assert_eq!((started, ready.len()), (changed.len(), changed.len()), "every change started and finished");
}

/// In-flight calls never exceeded `slots` per service and placement, while more resources of
/// one service than that were waiting for AWS at once.
fn waits_held_no_slot(events: &[Value], slots: usize) {
    let mut calls: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut service_of: BTreeMap<&str, &str> = BTreeMap::new();
    let mut waiting: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut most_waiting: BTreeMap<&str, usize> = BTreeMap::new();
    for e in events {
        let id = e["resource"].as_str().unwrap_or_default();
        match field(e, "event") {
            "calling" => {
                service_of.insert(id, field(e, "service"));
                let n = calls.entry((field(e, "service"), field(e, "placement"))).or_default();
                *n += 1;
                assert!(*n <= slots, "{n} calls in flight at {e}");
            }
            "called" => *calls.entry((field(e, "service"), field(e, "placement"))).or_default() -= 1,
            "waiting" => {
                let service = service_of[id];
                let now = waiting.entry(service).or_default();
                now.insert(id);
                let most = most_waiting.entry(service).or_default();
                *most = (*most).max(now.len());
            }
            "finished" | "failed" => {
                waiting.values_mut().for_each(|w| {
                    w.remove(id);
                });
            }
            _ => {}
        }
    }
    println!("most resources waiting at once, by service, with {slots} call slot(s) each: {most_waiting:?}");
    assert!(calls.values().all(|n| *n == 0), "every call returned: {calls:?}");
    assert!(most_waiting.values().any(|n| *n > slots), "more resources waited than there are slots: {most_waiting:?}");
}

#[tokio::test]
async fn prod_waits_for_what_aws_is_still_making_and_converges() {
    let stack = Stack::new("prod", "latency");
    let proxy = FaultProxy::with_latency(&endpoint(), Latency { scale: 1.0 / 200.0, stuck: None });
    let through = |args: &[&str]| Run::from(stack.command(args).env("AWS_ENDPOINT_URL", &proxy.url).output().unwrap());

    // One call in flight per service and region: more resources of a service wait at once
    // than it has slots, which only works if waiting holds none.
    let applied = through(&["apply", "--yes", "--json", "--parallelism", "1"]);
    let rewrites = proxy.rewrites();
    assert_eq!(applied.code, 0, "{}\n{}", applied.stderr, rewrites.join("\n"));
    let state = stack.state().await.unwrap();
    started_only_after_what_they_depend_on_was_ready(&events(&applied.stdout), &state);
    waits_held_no_slot(&events(&applied.stdout), 1);
    println!("latency, apply of prod at 1/200: {} answers rewritten\n{}", rewrites.len(), rewrites.join("\n"));
    for (describe, status) in [
        ("DescribeNatGateways", "available -> pending"),
        ("DescribeDBClusters", "available -> creating"),
        ("DescribeDBInstances", "available -> creating"),
        ("DescribeLoadBalancers", "active -> provisioning"),
        ("DescribeVpcEndpoints", "available -> pending"),
        ("GetChange", "INSYNC -> PENDING"),
    ] {
        assert!(
            rewrites.iter().any(|l| l.contains(describe) && l.ends_with(status)),
            "AWS's settling was played for {describe}: {rewrites:#?}"
        );
    }
    // What refers to a resource AWS is still making starts only once it has settled.
    let timeline = proxy.timeline();
    let cluster_ready = first_settled(&timeline, "DescribeDBClusters");
    let instances = sent(&timeline, "CreateDBInstance");
    assert_eq!(instances.len(), 3, "a writer and two readers");
    assert!(instances.iter().all(|at| *at > cluster_ready), "instances before the cluster settled");
    let balancer_ready = first_settled(&timeline, "DescribeLoadBalancers");
    let listeners = sent(&timeline, "CreateListener");
    assert!(!listeners.is_empty() && listeners.iter().all(|at| *at > balancer_ready), "listeners came too early");
    assert_exactly_what_state_records(&stack, expected_total("prod"), "after an apply through AWS's latency").await;

    let plan = through(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "a plan straight after is empty:\n{}{}", plan.stdout, plan.stderr);

    let destroyed = through(&["destroy", "--yes", "--override-protection"]);
    assert_eq!(destroyed.code, 0, "{}", destroyed.stderr);
    let deleting = proxy.rewrites().into_iter().filter(|l| l.ends_with("deleted -> deleting")).count();
    assert!(deleting > 0, "the NAT gateways' deletion was played");
    // A NAT gateway's Elastic IP is released only once AWS has finished deleting it.
    let timeline = proxy.timeline();
    let nats_gone: Vec<Duration> = timeline
        .iter()
        .filter(|s| s.action == "DescribeNatGateways")
        .flat_map(|s| s.gone.iter().map(move |_| s.at))
        .collect();
    assert!(nats_gone.len() >= 3, "each of the three gateways was seen gone: {nats_gone:?}");
    let released = sent(&timeline, "ReleaseAddress");
    let first_gone = nats_gone.iter().min().copied().unwrap_or_default();
    assert!(released.len() == 3 && released.iter().all(|at| *at > first_gone), "addresses released too early");
    let left = live_resources(&stack).await;
    assert!(left.is_empty(), "destroy leaves nothing: {left:#?}");
}

/// A NAT gateway that never becomes available: its wait gives up at the configured limit
/// naming it and how long it waited; what depends on it is skipped and the rest is made;
/// state records it; and the next run waits for that same gateway instead of making another.
#[tokio::test]
async fn a_resource_that_never_settles_fails_its_wait_and_the_rest_goes_on() {
    let stack = Stack::new("dev", "stuck");
    stack.edit_config("dev.toml", |t| t + "\n[waits]\nnat_gateway_seconds = 20\n");
    let stuck = FaultProxy::with_latency(&endpoint(), Latency { scale: 1.0 / 200.0, stuck: Some("nat_gateway") });
    let applied = Run::from(stack.command(&["apply", "--yes"]).env("AWS_ENDPOINT_URL", &stuck.url).output().unwrap());
    println!("stuck NAT gateway, apply:\n{}{}", applied.stdout, applied.stderr);
    assert_eq!(applied.code, 1, "{}", applied.stderr);
    let nat = stack.state().await.unwrap()["resources"]["network.nat.a"]["aws_id"].as_str().unwrap().to_owned();
    assert!(
        applied.stdout.contains(&format!("waiting for NAT gateway {nat}"))
            || applied.stderr.contains(&format!("waiting for NAT gateway {nat}")),
        "the failure names the gateway: {}{}",
        applied.stdout,
        applied.stderr
    );
    let said = format!("{}{}", applied.stdout, applied.stderr);
    assert!(said.contains("still `pending`"), "the status it was stuck in: {said}");
    assert!(said.contains("the limit is 20s, set under [waits]"), "and how long it waited: {said}");
    assert!(said.contains("skipped, because network.nat.a failed"), "what depends on it is skipped: {said}");
    let counts = crate::support::live_counts(&stack).await;
    assert_eq!((counts["db_cluster"], counts["nat_gateway"]), (1, 1), "the rest is made: {counts:?}");

    // AWS finishes it; the next run waits for the same gateway and makes no other.
    drop(stuck);
    let settling = FaultProxy::with_latency(&endpoint(), Latency { scale: 1.0 / 200.0, stuck: None });
    let rerun = Run::from(stack.command(&["apply", "--yes"]).env("AWS_ENDPOINT_URL", &settling.url).output().unwrap());
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert!(sent(&settling.timeline(), "CreateNatGateway").is_empty(), "no second gateway was made");
    assert_exactly_what_state_records(&stack, expected_total("dev"), "after the stuck gateway settled").await;
    stack.run(&["destroy", "--yes"]).success();
    assert!(live_resources(&stack).await.is_empty());
}

/// Ctrl-C while Aurora is still being made: the run stops non-zero with what it made
/// recorded, and the next run waits for that same cluster instead of making another.
#[tokio::test]
async fn interrupted_during_the_aurora_wait_the_next_run_waits_for_the_same_cluster() {
    let stack = Stack::new("dev", "slowint");
    let proxy = FaultProxy::with_latency(&endpoint(), Latency { scale: 1.0 / 20.0, stuck: None });
    let child = stack
        .command(&["apply", "--yes"])
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the cluster's first Describe has been answered "creating".
    let waiting = |p: &FaultProxy| p.rewrites().iter().any(|l| l.contains("DescribeDBClusters"));
    let start = std::time::Instant::now();
    while !waiting(&proxy) && start.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(waiting(&proxy), "the apply reached the cluster's wait");
    let sent_int = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent_int.success());
    let run = Run::from(child.wait_with_output().unwrap());
    println!("interrupted during the Aurora wait:\n{}{}", run.stdout, run.stderr);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("Interrupted"), "{}", run.stderr);
    let state = stack.state().await.unwrap();
    let cluster =
        state["resources"]["database.cluster"]["aws_id"].as_str().expect("the cluster is recorded").to_owned();

    let rerun = Run::from(stack.command(&["apply", "--yes"]).env("AWS_ENDPOINT_URL", &proxy.url).output().unwrap());
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert_eq!(sent(&proxy.timeline(), "CreateDBCluster").len(), 1, "no second cluster was made");
    assert_eq!(stack.state().await.unwrap()["resources"]["database.cluster"]["aws_id"], cluster.as_str());
    assert_exactly_what_state_records(&stack, expected_total("dev"), "after the interrupted apply was finished").await;
    stack.run(&["destroy", "--yes"]).success();
    assert!(live_resources(&stack).await.is_empty());
}
