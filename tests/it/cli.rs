//! The command line as scripts and people use it: exit codes, JSON shapes, refusals.

use crate::support::{Stack, binary, expected_specs, live_counts, live_resources};

#[test]
fn plan_exits_2_with_changes_and_its_json_has_a_stable_shape() {
    let stack = Stack::new("dev", "planjson");
    stack.run(&["plan", "--detailed-exitcode"]).code(2);
    stack.run(&["plan"]).code(0);
    let plan = stack.run(&["plan", "--json"]).success().json();
    assert_eq!(plan["format_version"], 1);
    assert_eq!(plan["environment"], "dev");
    assert_eq!(plan["stack"], stack.key());
    assert_eq!(plan["has_changes"], true);
    assert_eq!(
        plan["summary"],
        serde_json::json!({"create": expected_specs("dev"), "update": 0, "replace": 0, "delete": 0, "no_op": 0})
    );
    let vpc = plan["changes"].as_array().unwrap().iter().find(|c| c["id"] == "network.vpc").unwrap();
    assert_eq!(vpc["kind"], "ec2.vpc");
    assert_eq!(vpc["action"], "create");
    assert_eq!(vpc["name"], format!("dev-us-east-1-network-vpc-{}", stack.suffix));
    let cidr = vpc["fields"].as_array().unwrap().iter().find(|f| f["field"] == "cidr_block").unwrap();
    assert_eq!(cidr["after"], "10.0.0.0/16");
    assert_eq!(cidr["before"], serde_json::Value::Null);
}

#[test]
fn output_json_is_one_object_of_the_stacks_outputs() {
    let stack = Stack::new("dev", "output");
    // Before the first apply there are none: an empty object, and a sentence for people.
    let none = stack.run(&["output", "--json"]).success();
    assert_eq!(none.stdout.trim(), "{}");
    assert!(none.stderr.contains("it was never applied"), "{}", none.stderr);
    stack.apply();
    let out = stack.run(&["output", "--json"]).success().json();
    let keys: Vec<&str> = out.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "access_log_bucket",
            "alb_dns_name",
            "artifacts_bucket",
            "artifacts_replica_bucket",
            "db_cluster_endpoint",
            "db_reader_endpoint",
            "db_secret_arn",
            "discovery_namespace",
            "ecs_cluster_arn",
            "ecs_service_arns",
            "kms_key_arn",
            "nat_gateway_ids",
            "parameter_path",
            "private_subnet_ids",
            "public_subnet_ids",
            "s3_endpoint_id",
            "security_group_ids",
            "service_url",
            "sessions_table_arn",
            "sessions_table_name",
            "sns_topic_arn",
            "vpc_id"
        ]
    );
    assert!(out["vpc_id"].as_str().unwrap().starts_with("vpc-"));
    assert_eq!(out["private_subnet_ids"].as_array().unwrap().len(), 3);
    assert_eq!(out["nat_gateway_ids"].as_array().unwrap().len(), 1);
    for role in ["alb", "app", "db"] {
        assert!(out["security_group_ids"][role].as_str().unwrap().starts_with("sg-"));
    }

    let listed = stack.run(&["state", "list"]).success().stdout;
    assert_eq!(listed.lines().count(), expected_specs("dev"));
    assert!(listed.contains(&format!("network.vpc\tec2.vpc\t{}", out["vpc_id"].as_str().unwrap())), "{listed}");
    let shown = stack.run(&["state", "show", "network.vpc"]).success().json();
    assert_eq!(shown["attributes"]["cidr_block"], "10.0.0.0/16");
    stack.run(&["state", "show", "network.nothing"]).code(1);
}

#[tokio::test]
async fn apply_without_yes_and_without_a_terminal_is_refused() {
    let stack = Stack::new("dev", "noyes");
    let run = crate::support::Run::from(stack.command(&["apply"]).stdin(std::process::Stdio::null()).output().unwrap())
        .code(1);
    assert!(run.stderr.contains("refusing to apply without confirmation"), "{}", run.stderr);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert!(live_counts(&stack).await.values().all(|n| *n == 0), "nothing was created");
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let out = std::process::Command::new(binary()).args(["plan"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a missing --env is an error, not 'changes found'");
    let out = std::process::Command::new(binary()).args(["--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn config_errors_name_the_file_and_line() {
    let stack = Stack::new("dev", "badcfg");
    let mut line = 0;
    stack.edit_config("dev.toml", |t| {
        // The file ends in its `[network]` table; the typo goes on the line after its end.
        assert!(t.trim_end().lines().last().unwrap().starts_with("cidr"), "{t}");
        line = t.lines().count() + 1;
        format!("{t}nat_gatways = 2\n")
    });
    let run = stack.run(&["plan"]).code(1);
    assert!(run.stderr.contains(&format!("dev.toml:{line}:1")), "{}", run.stderr);
    assert!(run.stderr.contains("unknown field `nat_gatways`"), "{}", run.stderr);
}

#[test]
fn graph_prints_dot_with_edges_from_references() {
    let stack = Stack::new("dev", "graph");
    let dot = stack.run(&["graph"]).success().stdout;
    assert!(dot.starts_with("digraph paystack {"), "{dot}");
    assert!(dot.contains("\"network.vpc\" -> \"network.subnet.public.a\";"), "{dot}");
    assert!(dot.contains("\"security.sg.alb\" -> \"security.sg.app\";"), "{dot}");
    assert!(dot.contains("\"network.nat.a\" -> \"network.rt.private.c\";"), "{dot}");
}

#[test]
fn graph_draws_layers_targets_and_the_plan() {
    let stack = Stack::new("dev", "graphplan");
    let dot = stack.run(&["graph", "--target", "database.cluster"]).success().stdout;
    assert!(dot.contains("subgraph \"cluster_database\""), "{dot}");
    assert!(dot.contains("\"network.vpc\""), "what the target depends on is drawn: {dot}");
    assert!(!dot.contains("\"app.worker.service\""), "what depends on it is not: {dot}");
    stack.run(&["apply", "--yes", "--target", "network.igw"]).success();
    let planned = stack.run(&["graph", "--plan", "--target", "network.subnet.public.a"]).success().stdout;
    let fill = |id: &str| {
        let line = planned.lines().find(|l| l.trim_start().starts_with(&format!("\"{id}\" ["))).unwrap();
        line.split("fillcolor=\"").nth(1).unwrap().split('"').next().unwrap().to_owned()
    };
    assert_ne!(fill("network.vpc"), fill("network.subnet.public.a"), "made and to be made differ: {planned}");
    assert!(planned.contains("label=\"create\""), "{planned}");
    // SVG is drawn by Graphviz where it is installed; elsewhere the error says how to get it.
    let svg = stack.run(&["graph", "--format", "svg"]);
    if svg.code == 0 {
        assert!(svg.stdout.contains("<svg"), "{}", svg.stdout);
    } else {
        assert!(svg.stderr.contains("apt-get install graphviz"), "{}", svg.stderr);
    }
    stack.run(&["destroy", "--yes"]).success();
}

/// `paystack graph | true`: the reader has gone before paystack writes. The run ends quietly
/// with its own exit code, not a panic (101).
#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    let stack = Stack::uninitialised("dev", "pipe");
    let mut child = stack
        .command(&["graph"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run paystack");
    // Closed at once: paystack is still loading its configuration, and its first write
    // finds no reader.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("paystack ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `apply --json` and `destroy --json`: the plan, one line per step, then the result; every
/// line JSON, with nothing else on stdout. Without `--yes` there is no one to ask, so it is
/// refused before anything is made.
#[tokio::test]
async fn apply_and_destroy_json_stream_the_plan_each_step_and_the_result() {
    let stack = Stack::new("dev", "stream");
    let refused = stack.run(&["apply", "--json"]).code(1);
    assert!(refused.stderr.contains("needs --yes or a saved plan"), "{}", refused.stderr);
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    let lines = |stdout: &str| -> Vec<serde_json::Value> {
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    };
    let applied = lines(&stack.run(&["apply", "--yes", "--json"]).success().stdout);
    assert_eq!(applied[0]["event"], "plan");
    assert_eq!(applied[0]["plan"]["summary"]["create"], expected_specs("dev"));
    let count = |events: &[serde_json::Value], kind: &str| events.iter().filter(|e| e["event"] == kind).count();
    assert_eq!(count(&applied, "started"), expected_specs("dev"));
    assert_eq!(count(&applied, "finished"), expected_specs("dev"));
    assert_eq!(count(&applied, "calling"), count(&applied, "called"), "every call gave its slot back");
    let vpc = applied.iter().find(|e| e["event"] == "calling" && e["resource"] == "network.vpc").unwrap();
    assert_eq!((vpc["service"].as_str(), vpc["placement"].as_str()), (Some("ec2"), Some("us-east-1")));
    let result = applied.last().unwrap();
    assert_eq!(result["event"], "result");
    assert_eq!(
        (result["succeeded"].as_bool(), result["created"].as_u64()),
        (Some(true), Some(expected_specs("dev") as u64))
    );
    let times: Vec<f64> = applied.iter().map(|e| e["at"].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "lines come in the order they happened");

    let again = lines(&stack.run(&["apply", "--yes", "--json"]).success().stdout);
    assert_eq!(again.len(), 2, "a plan with nothing to do, and its result: {again:?}");
    assert_eq!(again[1]["created"], 0);

    let destroyed = lines(&stack.run(&["destroy", "--yes", "--json"]).success().stdout);
    let result = destroyed.last().unwrap();
    assert_eq!(result["succeeded"], true);
    assert_eq!(result["deleted"].as_u64(), Some(count(&destroyed, "finished") as u64));
    let left = live_resources(&stack).await;
    assert!(left.is_empty(), "destroy leaves nothing: {left:#?}");
}
