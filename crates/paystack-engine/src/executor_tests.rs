//! The executor against the in-memory cloud.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use paystack_core::{Action, Placement, ResourceId, StateDocument};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::events::Event;
use crate::executor::{ApplyReport, ExecOptions, Executor, Outcome, StateWriteError};
use crate::graph::ResourceGraph;
use crate::planner::{Inventory, plan, plan_destroy};
use crate::reconciler::{Registries, Scope};
use crate::testing::{CHILD, EXCLUSIVE, FakeCloud, MemoryWriter, SLOW, THING, spec, spec_of};

struct Harness {
    cloud: FakeCloud,
    /// Where the run's reconcilers are: the cloud's default placement unless a test places
    /// resources elsewhere.
    registries: Registries,
    writer: MemoryWriter,
    events: Mutex<Vec<Event>>,
    state: StateDocument,
    options: ExecOptions,
}

impl Harness {
    fn new() -> Self {
        let cloud = FakeCloud::default();
        Self {
            registries: cloud.registries(),
            cloud,
            writer: MemoryWriter::default(),
            events: Mutex::new(Vec::new()),
            state: StateDocument::new("dev".into(), "lineage".into()),
            options: ExecOptions {
                default_slots: 4,
                service_slots: Default::default(),
                max_attempts: 3,
                retry_delay: Duration::from_secs(1),
            },
        }
    }

    async fn inventory(&self) -> Inventory {
        crate::observe_all(&self.registries, &Scope::new("dev")).await.unwrap()
    }

    async fn apply_with(&mut self, graph: &ResourceGraph, cancel: CancellationToken) -> ApplyReport {
        let registry = self.registries.clone();
        let inventory = self.inventory().await;
        let p = plan(graph, &registry, &self.state, &inventory);
        let progress = |e: Event| self.events.lock().unwrap().push(e);
        let exec = Executor {
            registries: &registry,
            scope: &Scope::new("dev"),
            options: self.options.clone(),
            progress: &progress,
            writer: &self.writer,
        };
        exec.apply(&p, graph, &inventory, &mut self.state, cancel).await.unwrap()
    }

    async fn apply(&mut self, graph: &ResourceGraph) -> ApplyReport {
        self.apply_with(graph, CancellationToken::new()).await
    }

    /// Destroys everything live, planned against `recorded`, recording into the harness's state.
    async fn destroy(&mut self, recorded: StateDocument) -> ApplyReport {
        let registry = self.cloud.registries();
        let inventory = self.inventory().await;
        let p = plan_destroy(&inventory, &recorded);
        let progress = |_: Event| {};
        let exec = Executor {
            registries: &registry,
            scope: &Scope::new("dev"),
            options: self.options.clone(),
            progress: &progress,
            writer: &self.writer,
        };
        exec.apply(&p, &graph(vec![]), &inventory, &mut self.state, CancellationToken::new()).await.unwrap()
    }

    fn outcome<'a>(report: &'a ApplyReport, id: &str) -> &'a Outcome {
        &report.outcomes.iter().find(|(c, _)| c.id.as_str() == id).unwrap().1
    }
}

fn graph(specs: Vec<paystack_core::Spec>) -> ResourceGraph {
    ResourceGraph::build(specs).unwrap()
}

#[tokio::test(start_paused = true)]
async fn creates_in_dependency_order_and_a_rerun_changes_nothing() {
    let mut h = Harness::new();
    let g = graph(vec![spec("vpc", &[]), spec("subnet", &["vpc"]), spec("nat", &["subnet"])]);
    let report = h.apply(&g).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(h.cloud.calls(), ["create:vpc", "create:subnet", "create:nat"]);
    // The subnet was created with the VPC's real id.
    let vpc_id = h.state.resources[&ResourceId::new("vpc")].aws_id.clone();
    assert_eq!(h.state.resources[&ResourceId::new("subnet")].attributes["ref0"], json!(vpc_id));

    let again = h.apply(&g).await;
    assert!(again.succeeded());
    assert!(again.outcomes.iter().all(|(_, o)| *o == Outcome::Done(Action::NoOp)));
    assert_eq!(h.cloud.calls().len(), 3, "a converged re-run makes no calls");
}

#[tokio::test(start_paused = true)]
async fn state_is_written_as_each_resource_settles() {
    let mut h = Harness::new();
    let g = graph(vec![spec("a", &[]), spec("b", &["a"])]);
    h.apply(&g).await;
    let writes = h.writer.writes.lock().unwrap();
    let seen: Vec<(usize, Vec<&str>)> =
        writes.iter().map(|d| (d.resources.len(), d.pending.keys().map(ResourceId::as_str).collect())).collect();
    // Before any call; a's intent; after a's create; after a settles; then the same for b.
    assert_eq!(seen, [(0, vec![]), (0, vec!["a"]), (1, vec![]), (1, vec![]), (1, vec!["b"]), (2, vec![]), (2, vec![])]);
    let serials: Vec<u64> = writes.iter().map(|d| d.serial).collect();
    assert_eq!(serials, [1, 2, 3, 4, 5, 6, 7]);
}

#[tokio::test(start_paused = true)]
async fn creates_started_together_are_journaled_in_one_write() {
    let mut h = Harness::new();
    let g = graph(vec![spec("a", &[]), spec("b", &[]), spec("c", &[])]);
    h.apply(&g).await;
    let writes = h.writer.writes.lock().unwrap();
    let first = &writes[1];
    assert_eq!(first.pending.keys().map(ResourceId::as_str).collect::<Vec<_>>(), ["a", "b", "c"]);
    assert!(first.resources.is_empty(), "the journal is written before any create call");
    assert!(writes.last().unwrap().pending.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_journaled_create_is_adopted_if_it_happened_and_redone_if_not() {
    let mut h = Harness::new();
    let g = graph(vec![spec("made", &[]), spec("lost", &[])]);
    h.apply(&g).await;
    // A run that stopped after its intents were written: one create reached AWS and was
    // never recorded, the other never reached it.
    let lost_id = h.state.resources[&ResourceId::new("lost")].aws_id.clone();
    h.cloud.with(|i| {
        i.live.remove(&lost_id);
    });
    for id in ["made", "lost"] {
        let record = h.state.resources.remove(&ResourceId::new(id)).unwrap();
        let intent = paystack_core::Intent { kind: record.kind, name: record.name, started: 0 };
        h.state.pending.insert(ResourceId::new(id), intent);
    }
    let token = h.state.pending[&ResourceId::new("lost")].token(&h.state.stack, &ResourceId::new("lost"));
    // And an intent of something no longer in the configuration at all.
    let gone = paystack_core::Intent { kind: paystack_core::Kind::new(THING), name: "gone".into(), started: 0 };
    h.state.pending.insert(ResourceId::new("gone"), gone);
    let calls = h.cloud.calls().len();
    let report = h.apply(&g).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(h.cloud.calls()[calls..], ["create:lost"], "only what never happened is created again");
    let sent = h.cloud.with(|i| i.tokens.iter().filter(|(id, _)| id == "lost").map(|(_, t)| t.clone()).next_back());
    assert_eq!(sent, Some(token), "with the token of the crashed run's intent");
    assert_eq!(h.state.resources.len(), 2);
    assert!(h.state.pending.is_empty(), "the journal is clear, the intent of what is gone too");
}

#[tokio::test(start_paused = true)]
async fn in_flight_calls_stay_within_the_service_slots() {
    let mut h = Harness::new();
    h.options.service_slots.insert("test".into(), 2);
    // Waits end while later calls are in flight: a wait's end frees no slot, for it held none.
    h.cloud.with(|i| {
        i.call_time = Duration::from_secs(1);
        i.wait_time = Duration::from_millis(1500);
    });
    let g = graph((0..10).map(|i| spec(&format!("r{i}"), &[])).collect());
    assert!(h.apply(&g).await.succeeded());
    assert_eq!(h.cloud.with(|i| i.max_in_flight), 2);
}

/// AWS throttles each account and region on its own, so the slots are per placement too.
#[tokio::test(start_paused = true)]
async fn each_placement_has_its_own_service_slots() {
    let mut h = Harness::new();
    h.options.service_slots.insert("test".into(), 1);
    h.cloud.with(|i| i.call_time = Duration::from_secs(1));
    let regions = ["us-east-1", "eu-west-1"];
    let mut registries = Registries::default();
    for region in regions {
        let at = paystack_core::Placement::regional(None, region);
        registries.insert(at.clone(), h.cloud.registry_in(&at));
    }
    h.registries = registries;
    let specs = (0..6)
        .map(|i| spec(&format!("r{i}"), &[]).placed(paystack_core::Placement::regional(None, regions[i % 2])))
        .collect();
    let g = graph(specs);
    assert!(h.apply(&g).await.succeeded());
    assert_eq!(h.cloud.with(|i| i.max_in_flight), 2, "one call in flight in each region");
    let placed = |region| {
        h.cloud.with(|i| i.live.values().filter(|(_, o)| o.placement.region.as_deref() == Some(region)).count())
    };
    assert_eq!((placed("us-east-1"), placed("eu-west-1")), (3, 3), "each made by its own region's reconciler");
    let again = h.apply(&g).await;
    assert!(again.outcomes.iter().all(|(_, o)| *o == Outcome::Done(Action::NoOp)), "each read back there: {again:?}");
}

#[tokio::test(start_paused = true)]
async fn a_resource_that_moves_is_made_in_its_new_placement_and_removed_from_its_old() {
    let mut h = Harness::new();
    let (us, eu) = (Placement::regional(None, "us-east-1"), Placement::regional(None, "eu-west-1"));
    let mut registries = Registries::at(us.clone(), h.cloud.registry_in(&us));
    registries.insert(eu.clone(), h.cloud.registry_in(&eu));
    h.registries = registries;
    assert!(h.apply(&graph(vec![spec("bucket", &[]).placed(us.clone())])).await.succeeded());
    let report = h.apply(&graph(vec![spec("bucket", &[]).placed(eu.clone())])).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(Harness::outcome(&report, "bucket"), &Outcome::Done(Action::Replace));
    let live: Vec<Placement> = h.cloud.with(|i| i.live.values().map(|(_, o)| o.placement.clone()).collect());
    assert_eq!(live, std::slice::from_ref(&eu), "made in eu-west-1, and gone from us-east-1");
    assert_eq!(h.state.resources[&ResourceId::new("bucket")].placement, eu);
}

#[tokio::test(start_paused = true)]
async fn waiting_for_aws_holds_no_slot() {
    let mut h = Harness::new();
    h.options.service_slots.insert("test".into(), 1);
    h.cloud.with(|i| {
        i.call_time = Duration::from_secs(1);
        i.wait_time = Duration::from_secs(100);
    });
    let g = graph((0..3).map(|i| spec(&format!("r{i}"), &[])).collect());
    assert!(h.apply(&g).await.succeeded());
    // One slot, and every create's wait is long: had waiting held the slot, each create
    // would follow the previous one's end of waiting.
    let log = h.cloud.log();
    assert!(log[..3].iter().all(|l| l.starts_with("create:")), "{log:?}");
    assert!(log[3..].iter().all(|l| l.starts_with("ready:")), "{log:?}");
    // The events say the same, as `apply --json` prints them: never two calls in flight,
    // and at one point all three resources waiting.
    let (mut calls, mut waiting, mut most_waiting) = (0, BTreeSet::new(), 0);
    for e in h.events.lock().unwrap().iter() {
        match e {
            Event::Calling { service: "test", .. } => calls += 1,
            Event::Called { service: "test", .. } => calls -= 1,
            Event::Waiting { id } => {
                waiting.insert(id.clone());
            }
            Event::Finished { id, .. } => {
                waiting.remove(id);
            }
            _ => {}
        }
        assert!(calls <= 1, "a second call took the only slot at {e:?}");
        most_waiting = most_waiting.max(waiting.len());
    }
    assert_eq!((calls, most_waiting), (0, 3), "every call returned, and all three waited at once");
}

#[tokio::test(start_paused = true)]
async fn the_longest_remaining_chain_starts_first() {
    let mut h = Harness::new();
    h.options.service_slots.insert("test".into(), 1);
    // Discovery order puts the quick ones first; the slow chain must still lead.
    let g = graph(vec![
        spec("a-quick", &[]),
        spec("b-quick", &[]),
        spec_of(SLOW, "c-db", &[]),
        spec_of(SLOW, "d-db-instance", &["c-db"]),
    ]);
    h.cloud.with(|i| i.call_time = Duration::from_secs(1));
    assert!(h.apply(&g).await.succeeded());
    // The slow chain leads. While the database settles its slot is free, so a quick one
    // runs; as soon as the instance is ready it outranks the quick one still waiting.
    let calls = h.cloud.calls();
    assert_eq!(calls[0], "create:c-db");
    assert!(calls[1].ends_with("-quick"), "{calls:?}");
    assert_eq!(calls[2], "create:d-db-instance");
}

#[tokio::test(start_paused = true)]
async fn a_failure_skips_only_its_dependents() {
    let mut h = Harness::new();
    h.cloud.with(|i| i.fail.insert("subnet".into()));
    let g = graph(vec![
        spec("vpc", &[]),
        spec("subnet", &["vpc"]),
        spec("nat", &["subnet"]),
        spec("route", &["nat"]),
        spec("sg", &["vpc"]),
    ]);
    let report = h.apply(&g).await;
    assert!(!report.succeeded());
    assert_eq!(Harness::outcome(&report, "subnet"), &Outcome::Failed("subnet refused".into()));
    let skipped = Outcome::Skipped { because: ResourceId::new("subnet") };
    assert_eq!(Harness::outcome(&report, "nat"), &skipped);
    assert_eq!(Harness::outcome(&report, "route"), &skipped);
    assert_eq!(Harness::outcome(&report, "vpc"), &Outcome::Done(Action::Create));
    assert_eq!(Harness::outcome(&report, "sg"), &Outcome::Done(Action::Create));
    assert!(!h.cloud.calls().iter().any(|c| c.ends_with(":nat") || c.ends_with(":route")));
}

#[tokio::test(start_paused = true)]
async fn retryable_errors_are_retried_with_backoff() {
    let mut h = Harness::new();
    h.cloud.with(|i| i.fail_once.insert("a".into()));
    let report = h.apply(&graph(vec![spec("a", &[])])).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(h.cloud.calls(), ["create:a", "create:a"]);
    assert!(h.events.lock().unwrap().iter().any(|e| matches!(e, Event::Retrying { attempt: 1, .. })));
}

#[tokio::test(start_paused = true)]
async fn a_resource_created_before_a_crash_is_adopted_not_duplicated() {
    let mut h = Harness::new();
    // The last run created `a` and died before writing state.
    h.cloud.seed(THING, "a", json!({}));
    let report = h.apply(&graph(vec![spec("a", &[]), spec("b", &["a"])])).await;
    assert!(report.succeeded());
    assert_eq!(h.cloud.calls(), ["create:b"]);
    assert_eq!(h.cloud.with(|i| i.live.len()), 2);
    assert!(h.state.resources.contains_key(&ResourceId::new("a")));
}

#[tokio::test(start_paused = true)]
async fn cancelling_stops_at_a_safe_point_and_keeps_what_was_created() {
    let mut h = Harness::new();
    h.cloud.with(|i| i.wait_time = Duration::from_secs(600));
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    // Ctrl-C arrives while `a` waits for AWS to settle.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        trigger.cancel();
    });
    let g = graph(vec![spec("a", &[]), spec("b", &["a"])]);
    let report = h.apply_with(&g, cancel).await;
    assert!(report.cancelled);
    assert_eq!(Harness::outcome(&report, "a"), &Outcome::Interrupted);
    assert_eq!(Harness::outcome(&report, "b"), &Outcome::NotStarted);
    assert_eq!(h.cloud.calls(), ["create:a"]);
    // The state on disk knows about `a`, so the next run adopts it.
    let last = h.writer.writes.lock().unwrap().last().cloned().unwrap();
    assert!(last.resources.contains_key(&ResourceId::new("a")));

    let report = h.apply(&g).await;
    assert!(report.succeeded());
    assert_eq!(h.cloud.calls(), ["create:a", "create:b"]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_state_write_stops_new_work() {
    // Write 3 records `a` after its create.
    let mut h = Harness::new();
    h.writer.fail.insert(3, "disk full".into());
    let report = h.apply(&graph(vec![spec("a", &[]), spec("b", &["a"])])).await;
    assert_eq!(report.state_error, Some(StateWriteError::Failed("disk full".into())));
    assert_eq!(h.cloud.calls(), ["create:a"], "nothing starts after state could not be saved");

    // Write 2 is the journal entry for `a`: if it cannot be saved, `a` is not created.
    let mut h = Harness::new();
    h.writer.fail.insert(2, "disk full".into());
    let report = h.apply(&graph(vec![spec("a", &[]), spec("b", &["a"])])).await;
    assert_eq!(report.state_error, Some(StateWriteError::Failed("disk full".into())));
    assert!(h.cloud.calls().is_empty(), "no create without its journal entry");
    assert!(!report.succeeded());

    // Write 1 brings state in line before the first call: without it, nothing is called.
    let mut h = Harness::new();
    h.writer.fail.insert(1, "disk full".into());
    let report = h.apply(&graph(vec![spec("a", &[])])).await;
    assert_eq!(report.state_error, Some(StateWriteError::Failed("disk full".into())));
    assert!(h.cloud.calls().is_empty() && report.outcomes.is_empty() && !report.succeeded());
}

#[tokio::test(start_paused = true)]
async fn the_report_counts_each_outcome() {
    let mut h = Harness::new();
    h.cloud.with(|i| i.fail.insert("broken".into()));
    let g = graph(vec![spec("a", &[]), spec("b", &[]), spec("broken", &[]), spec("after", &["broken"])]);
    let report = h.apply(&g).await;
    assert_eq!(report.count(|o| matches!(o, Outcome::Done(_))), 2);
    assert_eq!(report.count(|o| matches!(o, Outcome::Failed(_))), 1);
    assert_eq!(report.count(|o| matches!(o, Outcome::Skipped { .. })), 1);
    assert_eq!(report.count(|o| matches!(o, Outcome::Interrupted)), 0);
    assert!(!report.succeeded());
}

#[tokio::test(start_paused = true)]
async fn updates_in_place_and_replaces_when_needed() {
    let mut h = Harness::new();
    let g = graph(vec![spec("vpc", &[]).field("cidr", "10.0.0.0/16").field("dns", false), spec("subnet", &["vpc"])]);
    h.apply(&g).await;
    let g2 = graph(vec![spec("vpc", &[]).field("cidr", "10.0.0.0/16").field("dns", true), spec("subnet", &["vpc"])]);
    let report = h.apply(&g2).await;
    assert_eq!(Harness::outcome(&report, "vpc"), &Outcome::Done(Action::Update));
    assert_eq!(h.cloud.with(|i| i.changed.clone()), [("vpc".to_owned(), vec!["dns".to_owned()])], "told what changed");
    assert_eq!(Harness::outcome(&report, "subnet"), &Outcome::Done(Action::NoOp));

    let g3 = graph(vec![spec("vpc", &[]).field("cidr", "10.9.0.0/16").field("dns", true), spec("subnet", &["vpc"])]);
    let report = h.apply(&g3).await;
    assert!(report.succeeded(), "{report:?} {:?}", h.cloud.calls());
    assert_eq!(Harness::outcome(&report, "vpc"), &Outcome::Done(Action::Replace));
    assert_eq!(Harness::outcome(&report, "subnet"), &Outcome::Done(Action::Update));
    let new_vpc = h.state.resources[&ResourceId::new("vpc")].aws_id.clone();
    assert_eq!(h.state.resources[&ResourceId::new("subnet")].attributes["ref0"], json!(new_vpc));
    assert_eq!(h.cloud.with(|i| i.live.len()), 2);
}

#[tokio::test(start_paused = true)]
async fn destroy_deletes_dependents_first() {
    let mut h = Harness::new();
    let g = graph(vec![spec("vpc", &[]), spec("subnet", &["vpc"]), spec("nat", &["subnet"])]);
    h.apply(&g).await;
    let report = h.destroy(StateDocument::new("s".into(), "l".into())).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(&h.cloud.calls()[3..], ["delete:nat", "delete:subnet", "delete:vpc"]);
    assert!(h.state.resources.is_empty());
    assert_eq!(h.cloud.with(|i| i.live.len()), 0);
}

#[tokio::test(start_paused = true)]
async fn deletions_that_finish_together_share_one_state_write() {
    let mut h = Harness::new();
    let g = graph(vec![spec("a", &[]), spec("b", &[]), spec("c", &[]), spec("d", &["a"])]);
    h.apply(&g).await;
    let before = h.writer.writes.lock().unwrap().len();
    let report = h.destroy(h.state.clone()).await;
    assert!(report.succeeded(), "{report:?}");
    assert!(h.state.resources.is_empty());
    let writes = h.writer.writes.lock().unwrap();
    let left: Vec<usize> = writes[before..].iter().map(|d| d.resources.len()).collect();
    // The run's first write, before any call; then b, c and d, deleted at once, in one write;
    // then a, which waited for d's deletion to be written.
    assert_eq!(left, [4, 1, 0]);
}

#[tokio::test(start_paused = true)]
async fn a_replace_removes_old_dependents_first_and_creates_new_ones_after() {
    let mut h = Harness::new();
    // A subnet with a NAT gateway in it and a route table pointing at the NAT.
    let specs = |cidr: &str| {
        graph(vec![
            spec("subnet", &[]).field("cidr", cidr),
            spec_of(CHILD, "nat", &["subnet"]),
            spec("routes", &["nat"]),
        ])
    };
    assert!(h.apply(&specs("10.0.0.0/24")).await.succeeded());
    let report = h.apply(&specs("10.0.1.0/24")).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(Harness::outcome(&report, "subnet"), &Outcome::Done(Action::Replace));
    assert_eq!(Harness::outcome(&report, "nat"), &Outcome::Done(Action::Replace));
    assert_eq!(Harness::outcome(&report, "routes"), &Outcome::Done(Action::Update));
    // The fake cloud refuses to delete anything still referred to, as AWS does: the new
    // subnet and NAT come first, the route table moves to the new NAT, and only then do the
    // old NAT and, after it, the old subnet go.
    assert_eq!(
        &h.cloud.calls()[3..],
        ["create:subnet", "create:nat", "update:routes", "delete:nat", "delete:subnet"].map(String::from),
        "{:?}",
        h.cloud.calls()
    );
    assert_eq!(h.cloud.with(|i| i.live.len()), 3);
}

#[tokio::test(start_paused = true)]
async fn a_replace_is_reported_once_from_start_to_finish() {
    let mut h = Harness::new();
    h.apply(&graph(vec![spec("vpc", &[]).field("cidr", "10.0.0.0/16")])).await;
    h.events.lock().unwrap().clear();
    h.cloud.with(|i| {
        i.call_time = Duration::from_secs(1);
        i.wait_time = Duration::from_secs(1);
    });
    h.apply(&graph(vec![spec("vpc", &[]).field("cidr", "10.9.0.0/16")])).await;
    let events = h.events.lock().unwrap();
    let started = events.iter().filter(|e| matches!(e, Event::Started { action: Action::Replace, .. })).count();
    let finished = events.iter().filter(|e| matches!(e, Event::Finished { action: Action::Replace, .. })).count();
    assert_eq!((started, finished), (1, 1), "{events:?}");
    assert!(matches!(events.first(), Some(Event::Started { .. })), "started before its first call: {events:?}");
    assert!(matches!(events.last(), Some(Event::Finished { .. })), "finished only once the old one is gone");
    // Timed from the start of its first half to the end of its second: the create, its
    // wait and the delete, a second each in virtual time.
    let Some(Event::Finished { elapsed, .. }) = events.last() else { unreachable!() };
    assert_eq!(elapsed.as_secs(), 3, "{elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn a_kind_replaced_old_first_frees_what_it_holds_before_its_successor_is_made() {
    let mut h = Harness::new();
    // A NAT gateway (holding its Elastic IP) in a subnet, with a route table pointing at it.
    let specs = |cidr: &str| {
        graph(vec![
            spec("subnet", &[]).field("cidr", cidr),
            spec_of(EXCLUSIVE, "nat", &["subnet"]),
            spec("routes", &["nat"]),
        ])
    };
    assert!(h.apply(&specs("10.0.0.0/24")).await.succeeded());
    let report = h.apply(&specs("10.0.1.0/24")).await;
    assert!(report.succeeded(), "{report:?} {:?}", h.cloud.calls());
    let calls = h.cloud.calls()[3..].to_vec();
    let at = |c: &str| calls.iter().position(|x| x == c).unwrap_or_else(|| panic!("no {c} in {calls:?}"));
    assert!(at("delete:nat") < at("create:nat"), "the old NAT goes first: {calls:?}");
    assert!(at("create:subnet") < at("create:nat"), "{calls:?}");
    assert!(at("create:nat") < at("update:routes"), "routes move to the new NAT: {calls:?}");
    assert!(at("delete:nat") < at("delete:subnet"), "the old subnet outlives its NAT: {calls:?}");
    assert_eq!(h.cloud.with(|i| i.live.len()), 3);
}

#[tokio::test(start_paused = true)]
async fn a_plan_with_nothing_to_change_still_records_what_state_lacks() {
    let mut h = Harness::new();
    let g = graph(vec![spec("a", &[]), spec("b", &["a"])]);
    h.apply(&g).await;
    let registry = h.cloud.registries();
    let inventory = h.inventory().await;
    let p = plan(&g, &registry, &h.state, &inventory);
    assert!(!crate::state_lags(&p, &inventory, &h.state), "a converged stack's state is current");

    // A create reached AWS and the run died before recording it.
    let record = h.state.resources.remove(&ResourceId::new("b")).unwrap();
    h.state
        .pending
        .insert(ResourceId::new("b"), paystack_core::Intent { kind: record.kind, name: record.name, started: 0 });
    let p = plan(&g, &registry, &h.state, &inventory);
    assert!(!p.has_changes(), "the live resource is adopted, not created again");
    assert!(crate::state_lags(&p, &inventory, &h.state));
    let calls = h.cloud.calls().len();
    h.apply(&g).await;
    assert_eq!(h.cloud.calls().len(), calls, "recording makes no AWS call");
    assert_eq!(h.state.resources.len(), 2);
    assert!(h.state.pending.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_create_whose_answer_was_lost_is_adopted_not_made_again() {
    let mut h = Harness::new();
    h.cloud.with(|i| {
        i.lose_answer.insert("vpc".into());
        i.fail_once.insert("subnet".into());
    });
    let report = h.apply(&graph(vec![spec("vpc", &[]), spec("subnet", &["vpc"])])).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(h.cloud.with(|i| i.live.len()), 2, "one VPC and one subnet, nothing twice");
    let creates = h.cloud.calls().iter().filter(|c| c.as_str() == "create:vpc").count();
    assert_eq!(creates, 1, "the VPC was found by its tags, not created again");
    assert!(!h.cloud.calls().contains(&"update:vpc".to_owned()), "and, found as wanted, not updated");
    let vpc = &h.state.resources[&ResourceId::new("vpc")];
    assert!(h.cloud.with(|i| i.live.contains_key(&vpc.aws_id)), "and the one found is recorded");
    let tokens: Vec<String> =
        h.cloud.with(|i| i.tokens.iter().filter(|(id, _)| id == "subnet").map(|(_, t)| t.clone()).collect());
    assert_eq!(tokens.len(), 2, "the subnet's create was tried twice");
    assert!(tokens[0].len() == 32 && tokens[0] == tokens[1], "with one idempotency token: {tokens:?}");
    assert!(h.state.pending.is_empty(), "and the journal is clear");
}

#[tokio::test(start_paused = true)]
async fn a_name_someone_else_holds_fails_as_a_conflict_and_is_never_adopted() {
    let mut h = Harness::new();
    h.cloud.with(|i| i.taken.insert("vpc".into()));
    // Someone else's resource, without this stack's tags.
    h.cloud.seed_in("someone-else", THING, "vpc", json!({}));
    let report = h.apply(&graph(vec![spec("vpc", &[])])).await;
    let Outcome::Failed(error) = Harness::outcome(&report, "vpc") else { panic!("{report:?}") };
    assert!(error.contains("AlreadyExists") && error.contains("left alone"), "{error}");
    assert_eq!(h.cloud.with(|i| i.live.len()), 1, "nothing was created, and theirs is untouched");
    assert!(!h.state.resources.contains_key(&ResourceId::new("vpc")), "and nothing adopted");
}

#[tokio::test(start_paused = true)]
async fn a_create_that_stopped_part_way_is_finished_as_an_update() {
    let mut h = Harness::new();
    h.cloud.with(|i| i.stop_part_way.insert("acl".into()));
    let report = h.apply(&graph(vec![spec("acl", &[]).field("entries", json!(["allow 443"]))])).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(h.cloud.calls(), ["create:acl", "update:acl"], "found, then finished; not made twice");
    let live: Vec<_> = h.cloud.with(|i| i.live.values().map(|(_, o)| o.attributes.clone()).collect());
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].get("entries"), Some(&json!(["allow 443"])), "its fields are set");
}

#[tokio::test(start_paused = true)]
async fn an_update_whose_unknown_values_turn_out_unchanged_makes_no_call() {
    let mut h = Harness::new();
    h.apply(&graph(vec![spec("a", &[]).field("cidr", "10.0.0.0/16"), spec("b", &["a"])])).await;
    // `a` is replaced, so what `b` refers to is known only once the new `a` exists. It gets
    // the next id, which `b` already holds.
    let b = h.state.resources[&ResourceId::new("b")].aws_id.clone();
    h.cloud.with(|i| i.live.get_mut(&b).unwrap().1.attributes.insert("ref0".into(), json!("x-3")));
    let g = graph(vec![spec("a", &[]).field("cidr", "10.9.0.0/16"), spec("b", &["a"])]);
    let calls = h.cloud.calls().len();
    let log = h.cloud.log().len();
    let report = h.apply(&g).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(h.cloud.calls()[calls..], ["create:a", "delete:a"], "nothing to update in `b`");
    assert!(!h.cloud.log()[log..].contains(&"ready:b".to_owned()), "and nothing to wait for");
}

#[tokio::test(start_paused = true)]
async fn a_resource_still_becoming_ready_is_waited_for_and_no_other() {
    let mut h = Harness::new();
    let g = graph(vec![spec("a", &[]), spec("b", &[])]);
    h.apply(&g).await;
    let a = h.state.resources[&ResourceId::new("a")].aws_id.clone();
    h.cloud.with(|i| i.live.get_mut(&a).unwrap().1.pending = true);
    let (calls, log) = (h.cloud.calls().len(), h.cloud.log().len());
    assert!(h.apply(&g).await.succeeded());
    assert_eq!(h.cloud.calls().len(), calls, "no call");
    assert_eq!(h.cloud.log()[log..], ["ready:a"], "only the one still becoming ready is waited for");
}

#[tokio::test(start_paused = true)]
async fn a_removed_resource_goes_only_after_what_referred_to_it_has_moved() {
    let mut h = Harness::new();
    h.apply(&graph(vec![spec("a", &[]), spec("b", &["a"])])).await;
    // `b` now refers to a new `c`, and `a` leaves: only state remembers that `b` referred to
    // `a`. `b` moves first, or AWS refuses the delete.
    let report = h.apply(&graph(vec![spec("c", &[]), spec("b", &["c"])])).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(h.cloud.calls()[2..], ["create:c", "update:b", "delete:a"]);
}

#[tokio::test(start_paused = true)]
async fn what_paystack_last_set_stays_recorded_for_a_resource_it_leaves_alone() {
    let mut h = Harness::new();
    let g = graph(vec![spec("a", &[]).field("size", 1)]);
    h.apply(&g).await;
    // Another owner set a field paystack does not manage; state keeps what paystack saw.
    let a = h.state.resources[&ResourceId::new("a")].aws_id.clone();
    h.cloud.with(|i| i.live.get_mut(&a).unwrap().1.attributes.insert("scaled".into(), json!(3)));
    h.state.resources.get_mut(&ResourceId::new("a")).unwrap().attributes.insert("scaled".into(), json!(1));
    let report = h.apply(&g).await;
    assert_eq!(Harness::outcome(&report, "a"), &Outcome::Done(Action::NoOp));
    assert_eq!(h.state.resources[&ResourceId::new("a")].attributes.get("scaled"), Some(&json!(1)));
}

#[tokio::test(start_paused = true)]
async fn a_crashed_replace_s_new_half_found_live_gets_a_fresh_token() {
    let mut h = Harness::new();
    h.apply(&graph(vec![spec("a", &[]).field("cidr", "10.0.0.0/16")])).await;
    // A run journaled a create of `a` and died; something of `a` is live (the old one), so
    // the journaled intent is not the create this run makes.
    let intent = paystack_core::Intent { kind: paystack_core::Kind::new(THING), name: "a".into(), started: 5 };
    let stale = intent.token(&h.state.stack, &ResourceId::new("a"));
    h.state.pending.insert(ResourceId::new("a"), intent);
    assert!(h.apply(&graph(vec![spec("a", &[]).field("cidr", "10.9.0.0/16")])).await.succeeded());
    let sent = h.cloud.with(|i| i.tokens.iter().filter(|(id, _)| id == "a").map(|(_, t)| t.clone()).next_back());
    assert!(sent.is_some_and(|t| t != stale), "the replacement is a new create");
}

#[tokio::test(start_paused = true)]
async fn a_first_create_is_sent_without_looking_first() {
    let mut h = Harness::new();
    assert!(h.apply(&graph(vec![spec("a", &[]), spec("b", &["a"])])).await.succeeded());
    let kinds = h.registries.placements().map(|(_, r)| r.reconcilers().count()).sum::<usize>();
    assert_eq!(h.cloud.with(|i| i.observed), kinds, "one read per kind for the plan, none per create");
}

#[tokio::test(start_paused = true)]
async fn state_lags_when_it_misses_a_live_resource_or_records_a_gone_one() {
    let mut h = Harness::new();
    let g = graph(vec![spec("a", &[]), spec("b", &[])]);
    h.apply(&g).await;
    let registry = h.cloud.registries();
    let lags = |h: &Harness, inventory: &Inventory| {
        let p = plan(&g, &registry, &h.state, inventory);
        crate::state_lags(&p, inventory, &h.state)
    };
    let inventory = h.inventory().await;
    assert!(!lags(&h, &inventory));

    // A recorded resource is gone from AWS, and nothing else is amiss.
    let b = h.state.resources[&ResourceId::new("b")].aws_id.clone();
    h.cloud.with(|i| i.live.remove(&b));
    let gone = h.inventory().await;
    assert!(lags(&h, &gone), "state records what is gone");

    // A live resource the plan keeps is not recorded, and nothing else is amiss.
    let mut unrecorded = h.state.clone();
    unrecorded.resources.clear();
    let only_a = graph(vec![spec("a", &[])]);
    let p = plan(&only_a, &registry, &unrecorded, &gone);
    assert!(!p.has_changes());
    assert!(crate::state_lags(&p, &gone, &unrecorded), "state lacks a live resource");

    // A delete of something state never recorded is no lag: the plan deletes it.
    let mut stranger = h.state.clone();
    stranger.resources.remove(&ResourceId::new("b"));
    h.cloud.seed("test.thing", "rogue", json!({}));
    let seen = h.inventory().await;
    let p = plan(&only_a, &registry, &stranger, &seen);
    assert!(p.changes.iter().any(|c| c.action == Action::Delete));
    assert!(!crate::state_lags(&p, &seen, &stranger), "{p:?}");
}

#[tokio::test(start_paused = true)]
async fn retries_double_their_delay_and_stop_at_the_attempt_limit() {
    let mut h = Harness::new();
    h.cloud.with(|i| i.unavailable.insert("a".into()));
    let start = tokio::time::Instant::now();
    let report = h.apply(&graph(vec![spec("a", &[])])).await;
    // Three attempts, a second and then two seconds apart, in virtual time.
    assert_eq!(h.cloud.calls(), ["create:a"; 3]);
    assert_eq!(start.elapsed().as_secs(), 3, "{:?}", start.elapsed());
    assert!(matches!(Harness::outcome(&report, "a"), Outcome::Failed(e) if e.contains("ServiceUnavailable")));

    // An error that will not pass is not retried at all.
    let mut h = Harness::new();
    h.cloud.with(|i| i.fail.insert("a".into()));
    h.apply(&graph(vec![spec("a", &[])])).await;
    assert_eq!(h.cloud.calls(), ["create:a"]);
}

#[tokio::test(start_paused = true)]
async fn a_failure_reports_what_it_skips_once() {
    let mut h = Harness::new();
    h.cloud.with(|i| i.fail.insert("x".into()));
    h.apply(&graph(vec![spec("x", &[]), spec("y", &["x"])])).await;
    let skipped: Vec<(String, String)> = h
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::Skipped { id, because } => Some((id.to_string(), because.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(skipped, [("y".to_owned(), "x".to_owned())]);

    // A replace whose new half fails: its old half is not deleted, and not reported apart.
    let mut h = Harness::new();
    h.apply(&graph(vec![spec("r", &[]).field("cidr", "10.0.0.0/16")])).await;
    h.cloud.with(|i| i.fail.insert("r".into()));
    h.events.lock().unwrap().clear();
    let report = h.apply(&graph(vec![spec("r", &[]).field("cidr", "10.9.0.0/16")])).await;
    assert!(matches!(Harness::outcome(&report, "r"), Outcome::Failed(_)));
    let skips = h.events.lock().unwrap().iter().filter(|e| matches!(e, Event::Skipped { .. })).count();
    assert_eq!(skips, 0);
    assert_eq!(h.cloud.with(|i| i.live.len()), 1, "the old one stays");

    // A replace whose new half is made, but whose old half waits for a referrer that fails
    // to move: that old half's skip is news, and reported.
    let mut h = Harness::new();
    let specs = |cidr: &str| vec![spec("r", &[]).field("cidr", cidr), spec("user", &["r"])];
    h.apply(&graph(specs("10.0.0.0/16"))).await;
    h.cloud.with(|i| i.fail.insert("user".into()));
    h.events.lock().unwrap().clear();
    h.apply(&graph(specs("10.9.0.0/16"))).await;
    let skipped: Vec<String> = h
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::Skipped { id, because } => Some(format!("{id} because {because}")),
            _ => None,
        })
        .collect();
    assert_eq!(skipped, ["r because user"]);
}

#[tokio::test(start_paused = true)]
async fn a_run_cancelled_before_it_could_see_it_still_says_so() {
    let mut h = Harness::new();
    let cancel = CancellationToken::new();
    cancel.cancel();
    // Nothing to do: the run ends before it ever waits on the token.
    let report = h.apply_with(&graph(vec![]), cancel).await;
    assert!(report.cancelled && !report.succeeded());
}
