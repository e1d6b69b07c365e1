//! `drift`: out-of-band changes made through the SDK are reported field by field, the
//! desired count auto-scaling owns is not, `--notify` reaches the topic, and `--fix`
//! converges exactly the drifted resources.

use std::collections::BTreeMap;

use serde_json::Value;

use aws_sdk_ec2 as ec2;

use crate::support::{Stack, cloudwatch, ecs, elbv2, logs, sdk_config, sns};

#[tokio::test]
async fn drift_reports_out_of_band_changes_notifies_and_fixes_them() {
    let stack = Stack::new("dev", "drift");
    stack.apply();
    stack.run(&["drift"]).code(0);
    // Every environment at once: staging and prod of this suffix were never applied.
    let all = crate::support::Run::from(stack.command_for_every_env(&["drift", "--all-envs"]).output().unwrap());
    let all = all.code(0);
    assert!(all.stdout.contains(&format!("`staging-{}`: not applied yet", stack.suffix)), "{}", all.stdout);
    // Several stacks of one environment at once, as a fleet of preview stacks is checked.
    let sibling = format!("{}x", stack.suffix);
    let fleet = stack.run(&["drift", "--suffix", &sibling]).code(0);
    assert!(fleet.stdout.contains(&format!("`dev-{sibling}`: not applied yet")), "{}", fleet.stdout);
    assert!(
        fleet.stdout.contains(&format!("No drift. The live resources of `dev-{}`", stack.suffix)),
        "{}",
        fleet.stdout
    );
    let out = stack.run(&["output", "--json"]).success().json();

    // Out of band, through the SDK, as someone in the console would.
    let ec2 = crate::support::ec2().await;
    let db_sg = out["security_group_ids"]["db"].as_str().unwrap();
    crate::support::open_to_the_internet(db_sg, 22).await;
    let log_group = stack.name_of("app.payments-api.logs").await;
    logs().await.put_retention_policy().log_group_name(&log_group).retention_in_days(1).send().await.unwrap();
    let elbv2 = elbv2().await;
    let lbs = elbv2.describe_load_balancers().names(stack.name_of("edge.alb").await).send().await.unwrap();
    let alb_arn = lbs.load_balancers()[0].load_balancer_arn().unwrap().to_owned();
    elbv2.remove_tags().resource_arns(&alb_arn).tag_keys("CostCenter").send().await.unwrap();
    let tgs = elbv2.describe_target_groups().names(stack.name_of("edge.target_group").await).send().await.unwrap();
    let tg_arn = tgs.target_groups()[0].target_group_arn().unwrap();
    elbv2.modify_target_group().target_group_arn(tg_arn).health_check_path("/ping").send().await.unwrap();
    let alarm = stack.name_of("alarms.database.connections").await;
    cloudwatch().await.delete_alarms().alarm_names(&alarm).send().await.unwrap();
    // Within the worker's auto-scaling range (1..=2): auto-scaling's to set, not drift.
    ecs()
        .await
        .update_service()
        .cluster(out["ecs_cluster_arn"].as_str().unwrap())
        .service(out["ecs_service_arns"]["worker"].as_str().unwrap())
        .desired_count(2)
        .send()
        .await
        .unwrap();
    let rogue_id = crate::support::plant_unmanaged_security_group(&stack).await;

    // Exactly these findings, field by field.
    let report = stack.run(&["drift", "--json"]).code(2).json();
    let findings: Vec<(String, String, Vec<String>)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let fields = f["fields"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap().to_owned());
            (f["id"].as_str().unwrap().to_owned(), f["drift"].as_str().unwrap().to_owned(), fields.collect())
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let finding = |id: &str, drift: &str, fields: &[&str]| {
        (id.to_owned(), drift.to_owned(), fields.iter().map(|f| (*f).to_owned()).collect::<Vec<_>>())
    };
    assert_eq!(
        findings,
        [
            finding("alarms.database.connections", "deleted", &[]),
            finding("app.payments-api.logs", "modified", &["retention_in_days"]),
            finding("edge.alb", "modified", &["tags"]),
            finding("edge.target_group", "modified", &["health_check_path"]),
            finding("security.sg.db", "modified", &["ingress"]),
            finding("security.sg.rogue", "unmanaged", &[]),
        ],
        "{report:#}"
    );
    let field = |id: &str, name: &str| -> (Value, Value) {
        let f = report["findings"].as_array().unwrap().iter().find(|f| f["id"] == id).unwrap();
        let d = f["fields"].as_array().unwrap().iter().find(|d| d["field"] == name).unwrap();
        (d["expected"].clone(), d["actual"].clone())
    };
    assert_eq!(field("app.payments-api.logs", "retention_in_days"), (Value::from(7), Value::from(1)));
    assert_eq!(field("edge.target_group", "health_check_path"), (Value::from("/health"), Value::from("/ping")));
    assert_eq!(
        report["findings"].as_array().unwrap().iter().find(|f| f["id"] == "security.sg.rogue").unwrap()["aws_id"],
        rogue_id.as_str()
    );
    assert_eq!(report["counts"], serde_json::json!({ "modified": 4, "deleted": 1, "unmanaged": 1 }));
    let all = stack.command_for_every_env(&["drift", "--all-envs", "--json"]).output().unwrap();
    let all = crate::support::Run::from(all).code(2).json();
    let envs: Vec<(&str, &Value)> = all["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["environment"].as_str().unwrap(), &e["drift"]))
        .collect();
    assert_eq!(envs, [("dev", &Value::from(true)), ("prod", &Value::Null), ("staging", &Value::Null)], "{all:#}");
    assert_eq!(all["drift"], true);
    let ignored = &report["ignored"].as_array().unwrap()[..];
    assert_eq!(ignored.len(), 1, "{ignored:?}");
    assert_eq!(
        (ignored[0]["id"].as_str(), ignored[0]["field"].as_str(), ignored[0]["owner"].as_str()),
        (Some("app.worker.service"), Some("desired_count"), Some("application-autoscaling"))
    );

    // --notify: one message on the topic, seen through an SQS queue subscribed to it.
    let sqs = aws_sdk_sqs::Client::new(&sdk_config().await);
    let queue = sqs.create_queue().queue_name(format!("drift-{}", stack.suffix)).send().await.unwrap();
    let queue_url = queue.queue_url().unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn = attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    let topic = out["sns_topic_arn"].as_str().unwrap();
    sns().await.subscribe().topic_arn(topic).protocol("sqs").endpoint(&queue_arn).send().await.unwrap();
    let notified = stack.run(&["drift", "--notify"]).code(2);
    assert!(notified.stderr.contains("Notified"), "{}", notified.stderr);
    let received = sqs.receive_message().queue_url(queue_url).max_number_of_messages(10).send().await.unwrap();
    let messages = received.messages();
    assert_eq!(messages.len(), 1, "one message per run");
    let envelope: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    let subject = envelope["Subject"].as_str().unwrap();
    assert!(subject.contains(&stack.key()) && subject.contains("4 modified, 1 deleted, 1 unmanaged"), "{subject}");
    let message = envelope["Message"].as_str().unwrap();
    assert!(message.contains("app.payments-api.logs retention_in_days: expected 7, actual 1"), "{message}");
    let attributes: BTreeMap<&str, &str> = envelope["MessageAttributes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v["Value"].as_str().unwrap()))
        .collect();
    assert_eq!((attributes["environment"], attributes["unmanaged"]), ("dev", "1"));

    // --fix asks, as apply does: without a terminal and without --yes it refuses, and
    // nothing changes.
    let refused = stack.run(&["drift", "--fix"]).code(1);
    assert!(refused.stderr.contains("refusing to drift --fix without confirmation"), "{}", refused.stderr);
    let again = format!("paystack drift --fix {} --yes", stack.typed());
    assert!(refused.stderr.contains(&again), "{}", refused.stderr);
    let unchanged = stack.run(&["drift", "--json"]).code(2).json();
    assert_eq!(unchanged["counts"], serde_json::json!({ "modified": 4, "deleted": 1, "unmanaged": 1 }));
    // --fix --yes converges the drifted resources; what paystack never made stays without
    // --prune, and goes with it.
    let fixed = stack.run(&["drift", "--fix", "--yes"]).code(2);
    assert!(fixed.stdout.contains("Fix complete: 1 created, 4 updated, in "), "{}", fixed.stdout);
    let pruned = stack.run(&["drift", "--fix", "--prune", "--yes"]).code(2);
    assert!(pruned.stdout.contains("never in its configuration or state"), "{}", pruned.stdout);
    assert!(pruned.stdout.contains("Fix complete: 1 deleted, in "), "{}", pruned.stdout);
    // The next check finds nothing, and only reads: its requests, signed with a key of its
    // own, are all Describe, List or Get.
    let key = format!("AKIDRIFT{}", stack.suffix.to_uppercase());
    let (run, calls) = crate::support::recording(|| {
        let mut check = stack.command(&["drift"]);
        crate::support::Run::from(check.env("AWS_ACCESS_KEY_ID", &key).output().unwrap())
    });
    run.code(0);
    let calls: Vec<_> = calls.into_iter().filter(|c| c.access_key == key).collect();
    assert!(calls.len() > 20, "the check's requests were recorded: {calls:?}");
    let writes: Vec<&str> = calls.iter().filter(|c| c.writes()).map(|c| c.operation.as_str()).collect();
    assert!(writes.is_empty(), "drift without --fix wrote: {writes:?}");
    let groups = ec2.describe_security_groups().group_ids(db_sg).send().await.unwrap();
    assert!(groups.security_groups()[0].ip_permissions().iter().all(|p| p.from_port() != Some(22)));
    let rogue_left = ec2
        .describe_security_groups()
        .filters(ec2::types::Filter::builder().name("group-id").values(&rogue_id).build());
    assert!(rogue_left.send().await.unwrap().security_groups().is_empty(), "the unmanaged group was removed");
    let worker = ecs()
        .await
        .describe_services()
        .cluster(out["ecs_cluster_arn"].as_str().unwrap())
        .services(out["ecs_service_arns"]["worker"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(worker.services()[0].desired_count(), 2, "--fix leaves auto-scaling's count alone");
    // So does an apply: the count is auto-scaling's while it stays in range.
    stack.run(&["plan", "--detailed-exitcode"]).code(0);

    // A field the configuration leaves to someone else: neither drift nor set back.
    logs().await.put_retention_policy().log_group_name(&log_group).retention_in_days(1).send().await.unwrap();
    stack.run(&["drift"]).code(2);
    stack
        .edit_config("dev.toml", |t| format!("{t}\n[drift]\nignore = [\"app.payments-api.logs.retention_in_days\"]\n"));
    let report = stack.run(&["drift", "--json"]).code(0).json();
    let ignored: Vec<(&str, &str, &str)> = report["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap(), i["field"].as_str().unwrap(), i["owner"].as_str().unwrap()))
        .collect();
    assert!(
        ignored.contains(&("app.payments-api.logs", "retention_in_days", "configuration (drift.ignore)")),
        "{ignored:?}"
    );
    stack.run(&["plan", "--detailed-exitcode"]).code(0);
    // A rule that names nothing is refused before AWS is asked anything.
    stack.edit_config("dev.toml", |t| {
        t.replace("app.payments-api.logs.retention_in_days", "app.payments-api.logs.retention")
    });
    let refused = stack.run(&["drift"]).code(1);
    assert!(refused.stderr.contains("`app.payments-api.logs` has no field `retention`"), "{}", refused.stderr);
    stack.edit_config("dev.toml", |t| {
        t.replace("app.payments-api.logs.retention", "app.payments-api.logs.retention_in_days")
    });

    stack.run(&["destroy", "--yes"]).success();
}

/// A fleet read: two applied stacks of one environment are read with one request per kind,
/// and each is told its own drift, none of the other's resources counted as its own.
#[tokio::test]
async fn a_fleet_drift_tells_each_stack_its_own_drift() {
    let stack = Stack::new("dev", "fleet");
    stack.apply();
    let sibling = format!("{}x", stack.suffix);
    let applied = stack.command_as(&sibling, &["apply", "--yes", "--env", "dev"]).output().unwrap();
    crate::support::Run::from(applied).success();
    let log_group = stack.name_of("app.payments-api.logs").await;
    logs().await.put_retention_policy().log_group_name(&log_group).retention_in_days(1).send().await.unwrap();

    let fleet = stack.run(&["drift", "--suffix", &sibling, "--json"]).code(2).json();
    let by_stack: BTreeMap<&str, &Value> =
        fleet["environments"].as_array().unwrap().iter().map(|e| (e["stack"].as_str().unwrap(), e)).collect();
    let (own, other) = (&by_stack[stack.key().as_str()], &by_stack[format!("dev-{sibling}").as_str()]);
    let findings = |doc: &Value| -> Vec<(String, String)> {
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["id"].as_str().unwrap().to_owned(), f["drift"].as_str().unwrap().to_owned()))
            .collect()
    };
    assert_eq!(findings(own), [("app.payments-api.logs".to_owned(), "modified".to_owned())], "{own:#}");
    assert_eq!(findings(other), [], "the sibling is as it was applied: {other:#}");
    assert_eq!((own["drift"].as_bool(), other["drift"].as_bool()), (Some(true), Some(false)));
}
