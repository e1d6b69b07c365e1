//! `parity`: dev and staging applied from the shipped configuration differ only where their
//! configurations say so; one change made out of band in each shows up as unexplained.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{Run, Stack, cloudwatch, elbv2};

/// Runs `paystack ARGS` over this stack's configuration and suffix, for any environment.
fn run(stack: &Stack, args: &[&str]) -> Run {
    Run::from(stack.command_for_every_env(args).output().unwrap())
}

fn pairs(report: &Value, key: &str) -> BTreeSet<(String, String)> {
    report[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["id"].as_str().unwrap().to_owned(), d["field"].as_str().unwrap_or("").to_owned()))
        .collect()
}

#[tokio::test]
async fn dev_and_staging_differ_only_as_configured_until_something_moves() {
    // One configuration directory and suffix for both, as a team has them.
    let dev = Stack::new("dev", "parity");
    let mut staging = dev.command_for_every_env(&["apply", "--yes", "--env", "staging"]).spawn().unwrap();
    dev.apply();
    assert!(staging.wait().unwrap().success(), "staging applies");

    // It only reads: its requests, signed with a key of its own, are all Describe, List or
    // Get. And it shows no secret.
    let key = format!("AKIDPARITY{}", dev.suffix.to_uppercase());
    let (text, calls) = crate::support::recording(|| {
        let mut parity = dev.command_for_every_env(&["parity", "dev", "staging"]);
        Run::from(parity.env("AWS_ACCESS_KEY_ID", &key).env("PAYSTACK_LOG", "trace").output().unwrap())
    });
    let text = text.code(0);
    let calls: Vec<_> = calls.into_iter().filter(|c| c.access_key == key).collect();
    assert!(calls.len() > 20, "parity's requests were recorded: {calls:?}");
    let writes: Vec<&str> = calls.iter().filter(|c| c.writes()).map(|c| c.operation.as_str()).collect();
    assert!(writes.is_empty(), "parity wrote: {writes:?}");
    let out = dev.run(&["output", "--json"]).success().json();
    let secret = crate::support::secretsmanager()
        .await
        .get_secret_value()
        .secret_id(out["db_secret_arn"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let secret: Value = serde_json::from_str(secret.secret_string().unwrap()).unwrap();
    let places = [("parity".to_owned(), text.stdout.clone()), ("parity's trace logs".to_owned(), text.stderr.clone())];
    crate::support::assert_no_leak(&places, secret["password"].as_str().unwrap());

    let report = run(&dev, &["parity", "dev", "staging", "--json"]).code(0).json();
    // 48, the two network ACLs, the two group-to-group egress rules, the two keys, the
    // sessions table and its replication alarm, the two artifacts buckets, their replication
    // role and alarm, the services' 21 parameters, the discovery namespace with its two
    // services, the flow log with its group and role, the VPC's default group and ACL, the
    // database's log group and its secret's policy, the access-log bucket and the artifacts'
    // logging into it, and the firewall with its log group.
    assert_eq!(report["structure"]["shared"], 95);
    assert_eq!(report["structure"]["only_in_a"], serde_json::json!([]));
    assert_eq!(
        report["structure"]["only_in_b"],
        serde_json::json!([
            "database.instance.reader-1",
            "database.instance.reader-2",
            "network.eip.nat-b",
            "network.eip.nat-c",
            "network.nat.b",
            "network.nat.c"
        ]),
        "staging's readers and NAT gateways in two more zones"
    );
    // Exactly the knobs staging.toml sets apart from the shared defaults; no names, tags or
    // AWS ids.
    let expected: BTreeSet<(String, String)> = [
        ("alarms.app.payments-api.cpu", "threshold"),
        ("alarms.app.worker.cpu", "threshold"),
        ("alarms.database.connections", "threshold"),
        ("alarms.database.cpu", "threshold"),
        ("alarms.edge.5xx", "threshold"),
        ("alarms.edge.response_time", "threshold"),
        ("app.payments-api.logs", "retention_in_days"),
        ("app.payments-api.scaling", "cpu_target_percent"),
        ("app.payments-api.scaling", "max_capacity"),
        ("app.payments-api.scaling", "min_capacity"),
        ("app.payments-api.service", "desired_count"),
        ("app.payments-api.task", "cpu"),
        ("app.payments-api.task", "memory"),
        ("app.worker.logs", "retention_in_days"),
        ("database.cluster", "backup_retention_period"),
        ("database.instance.writer", "instance_class"),
        // staging turns Performance Insights on.
        ("database.instance.writer", "performance_insights"),
        // Retention, of the database's and the flow log's groups too.
        ("database.logs", "retention_in_days"),
        ("network.flow_log.logs", "retention_in_days"),
        ("edge.waf.logs", "retention_in_days"),
        // The endpoint names each environment's own buckets.
        ("network.endpoint.s3", "policy.Statement"),
        ("network.rt.private.b", "routes"),
        ("network.rt.private.c", "routes"),
        ("network.subnet.private.a", "cidr_block"),
        ("network.subnet.private.b", "cidr_block"),
        ("network.subnet.private.c", "cidr_block"),
        ("network.subnet.public.a", "cidr_block"),
        ("network.subnet.public.b", "cidr_block"),
        ("network.subnet.public.c", "cidr_block"),
        ("network.vpc", "cidr_block"),
        // dev keeps access logs two weeks, staging the shared 90 days.
        ("audit.access_logs", "lifecycle.expiration_days"),
        ("audit.access_logs", "lifecycle.noncurrent_expiration_days"),
        // dev keeps replaced artifacts a week, staging the shared 30 days.
        ("storage.artifacts", "lifecycle.noncurrent_expiration_days"),
        ("storage.artifacts.replica", "lifecycle.noncurrent_expiration_days"),
    ]
    .into_iter()
    .map(|(id, f)| (id.to_owned(), f.to_owned()))
    .collect();
    assert_eq!(pairs(&report, "configured"), expected);
    let retention = report["configured"].as_array().unwrap().iter().find(|c| c["id"] == "app.worker.logs").unwrap();
    assert_eq!((&retention["a"], &retention["b"]), (&Value::from(7), &Value::from(30)));

    // Out of band: dev's health check path moves, and one of staging's alarms is deleted.
    let tg = dev.name_of("edge.target_group").await;
    let elbv2 = elbv2().await;
    let tgs = elbv2.describe_target_groups().names(tg).send().await.unwrap();
    let tg_arn = tgs.target_groups()[0].target_group_arn().unwrap();
    elbv2.modify_target_group().target_group_arn(tg_arn).health_check_path("/ping").send().await.unwrap();
    let alarm = format!("staging-us-east-1-alarms-db-connections-{}", dev.suffix);
    cloudwatch().await.delete_alarms().alarm_names(&alarm).send().await.unwrap();

    let report = run(&dev, &["parity", "dev", "staging", "--json"]).code(2).json();
    let unexplained = report["unexplained"].as_array().unwrap();
    assert_eq!(unexplained.len(), 2, "{unexplained:#?}");
    assert_eq!(
        (&unexplained[0]["id"], &unexplained[0]["kind"], &unexplained[0]["a"], &unexplained[0]["b"]),
        (&Value::from("alarms.database.connections"), &Value::from("presence"), &Value::from(1), &Value::from(0))
    );
    assert_eq!(
        (&unexplained[1]["id"], &unexplained[1]["field"], &unexplained[1]["a"], &unexplained[1]["b"]),
        (
            &Value::from("edge.target_group"),
            &Value::from("health_check_path"),
            &Value::from("/ping"),
            &Value::from("/health")
        )
    );
    assert_eq!(pairs(&report, "configured"), expected, "what the configurations set apart is unchanged");
    let text = run(&dev, &["parity", "dev", "staging"]).code(2);
    assert!(text.stdout.contains("Unexplained differences (2):"), "{}", text.stdout);
    assert!(text.stdout.contains("edge.target_group health_check_path: live"), "{}", text.stdout);
    // Each environment's monthly estimate, and what sets them apart, knob by knob: staging's
    // two readers of a bigger class are most of it.
    let cost = &report["cost"];
    assert_eq!(cost["estimate"], true);
    assert!(cost["a"].as_f64().unwrap() < cost["b"].as_f64().unwrap(), "{cost}");
    let knobs = cost["by_knob"].as_array().unwrap();
    assert_eq!(knobs[0]["knob"], "database.instance_class, database.readers", "{cost}");
    assert!((knobs[0]["difference"].as_f64().unwrap() - (3.0 * 0.29 - 0.082) * 730.0).abs() < 0.01, "{cost}");
    assert!(text.stdout.contains(&format!("Monthly cost (estimate): `{}`", dev.key())), "{}", text.stdout);

    let mut staging = dev.command_for_every_env(&["destroy", "--yes", "--env", "staging"]).spawn().unwrap();
    dev.run(&["destroy", "--yes"]).success();
    assert!(staging.wait().unwrap().success(), "staging is destroyed");
}
