//! The storage layer: the environment's KMS key in each region it uses, and the sessions
//! table, encrypted with it, with its global-table replica in the replica region (which the
//! emulator makes through the launcher's `dynamodb_global_table_replicas` extension).

use serde_json::Value;

use crate::support::{REGION, REPLICA_REGION, Stack, dynamodb_in, kms_in};

/// The key behind `alias`, in `region`: its ARN, state, rotation and policy.
async fn key(region: &'static str, alias: &str) -> (String, String, bool, Value) {
    let kms = kms_in(region).await;
    let described = kms.describe_key().key_id(alias).send().await.unwrap();
    let meta = described.key_metadata().unwrap();
    let id = meta.key_id().to_owned();
    let rotation = kms.get_key_rotation_status().key_id(&id).send().await.unwrap().key_rotation_enabled();
    let policy = kms.get_key_policy().key_id(&id).policy_name("default").send().await.unwrap();
    let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let state = meta.key_state().map(|s| s.as_str().to_owned()).unwrap_or_default();
    (meta.arn().unwrap().to_owned(), state, rotation, policy)
}

fn statement<'a>(policy: &'a Value, sid: &str) -> &'a Value {
    policy["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == sid).unwrap_or_else(|| panic!("{sid}"))
}

#[tokio::test]
async fn sessions_are_kept_encrypted_in_two_regions_and_destroy_leaves_only_keys_pending_deletion() {
    let stack = Stack::new("dev", "storage");
    stack.apply();
    let suffix = &stack.suffix;
    let primary_alias = format!("alias/dev-us-east-1-storage-key-{suffix}");
    let replica_alias = format!("alias/dev-us-east-1-storage-replica-key-{suffix}");

    // A key per region, rotating, that the account administers and DynamoDB may use there.
    let (primary, state, rotation, policy) = key(REGION, &primary_alias).await;
    assert_eq!((state.as_str(), rotation), ("Enabled", true));
    assert!(primary.contains(":us-east-1:"), "{primary}");
    let admin = statement(&policy, "TheAccountAdministersTheKey");
    assert!(admin["Principal"]["AWS"].as_str().unwrap().ends_with(":root"), "{admin}");
    let actions = admin["Action"].as_array().unwrap();
    assert!(!actions.contains(&Value::from("kms:*")) && !actions.contains(&Value::from("*")), "{admin}");
    let services = statement(&policy, "TheEnvironmentsServicesUseItForTheAccount");
    let via = &services["Condition"]["StringEquals"]["kms:ViaService"];
    let via: Vec<&str> = via.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(
        via,
        [
            "dynamodb.us-east-1.amazonaws.com",
            "s3.us-east-1.amazonaws.com",
            "secretsmanager.us-east-1.amazonaws.com",
            "sns.us-east-1.amazonaws.com",
            "ssm.us-east-1.amazonaws.com"
        ]
    );
    let logs = statement(&policy, "CloudWatchLogsEncryptsTheEnvironmentsGroups");
    assert_eq!(logs["Principal"]["Service"], "logs.us-east-1.amazonaws.com");
    let (replica_key, state, rotation, policy) = key(REPLICA_REGION, &replica_alias).await;
    assert_eq!((state.as_str(), rotation), ("Enabled", true));
    assert!(replica_key.contains(":eu-west-1:"), "{replica_key}");
    let services = statement(&policy, "TheEnvironmentsServicesUseItForTheAccount");
    assert_eq!(
        services["Condition"]["StringEquals"]["kms:ViaService"],
        serde_json::json!(["dynamodb.eu-west-1.amazonaws.com", "s3.eu-west-1.amazonaws.com"])
    );

    // Every other data store of the environment is encrypted with its key: the topic, the
    // services' log groups and the database secret.
    let out = stack.run(&["output", "--json"]).success().json();
    let topic = crate::support::sns().await.get_topic_attributes();
    let topic = topic.topic_arn(out["sns_topic_arn"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(topic.attributes().unwrap().get("KmsMasterKeyId"), Some(&primary));
    let groups = crate::support::logs().await.describe_log_groups().log_group_name_prefix("dev-us-east-1-app-");
    let groups = groups.send().await.unwrap();
    let ours: Vec<_> =
        groups.log_groups().iter().filter(|g| g.log_group_name().unwrap().ends_with(suffix.as_str())).collect();
    assert_eq!(ours.len(), 2, "a log group per service");
    for g in ours {
        assert_eq!(g.kms_key_id(), Some(primary.as_str()), "{:?}", g.log_group_name());
    }
    let secret = crate::support::secretsmanager().await.describe_secret();
    let secret = secret.secret_id(out["db_secret_arn"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(secret.kms_key_id(), Some(primary.as_str()));

    // The table: on demand, streaming both images, encrypted with the region's key, with
    // time to live, point-in-time recovery, and its replica under the replica region's key.
    let name = format!("dev-us-east-1-storage-sessions-{suffix}");
    let ddb = dynamodb_in(REGION).await;
    let described = ddb.describe_table().table_name(&name).send().await.unwrap();
    let table = described.table().unwrap();
    let billing = table.billing_mode_summary().and_then(|b| b.billing_mode()).map(|b| b.as_str());
    assert_eq!(billing, Some("PAY_PER_REQUEST"));
    let stream = table.stream_specification().unwrap();
    assert_eq!(
        (stream.stream_enabled(), stream.stream_view_type().map(|v| v.as_str())),
        (true, Some("NEW_AND_OLD_IMAGES"))
    );
    assert_eq!(table.sse_description().and_then(|s| s.kms_master_key_arn()), Some(primary.as_str()));
    let replicas: Vec<_> = table
        .replicas()
        .iter()
        .map(|r| (r.region_name().unwrap(), r.replica_status().map(|s| s.as_str()), r.kms_master_key_id().unwrap()))
        .collect();
    assert_eq!(replicas, [(REPLICA_REGION, Some("ACTIVE"), replica_key.as_str())]);
    let ttl = ddb.describe_time_to_live().table_name(&name).send().await.unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(
        (ttl.time_to_live_status().map(|s| s.as_str()), ttl.attribute_name()),
        (Some("ENABLED"), Some("expires_at"))
    );
    let backups = ddb.describe_continuous_backups().table_name(&name).send().await.unwrap();
    let pitr = backups.continuous_backups_description().and_then(|d| d.point_in_time_recovery_description());
    assert_eq!(pitr.and_then(|p| p.point_in_time_recovery_status()).map(|s| s.as_str()), Some("ENABLED"));
    let there = dynamodb_in(REPLICA_REGION).await.describe_table().table_name(&name).send().await.unwrap();
    let there = there.table().unwrap();
    assert_eq!(there.sse_description().and_then(|s| s.kms_master_key_arn()), Some(replica_key.as_str()));

    // The application may touch the table's items and indexes, and nothing else of it.
    let iam = crate::support::iam().await;
    let role = stack.name_of("app.payments-api.task_role").await;
    let policy = iam.get_role_policy().role_name(&role).policy_name("paystack").send().await.unwrap();
    let policy: Value =
        serde_json::from_str(&percent_encoding::percent_decode_str(policy.policy_document()).decode_utf8_lossy())
            .unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    let items = statements
        .iter()
        .find(|s| s["Action"].as_array().unwrap().contains(&Value::from("dynamodb:PutItem")))
        .expect("a statement for the sessions' items");
    let arn = table.table_arn().unwrap();
    assert_eq!(items["Resource"], serde_json::json!([arn, format!("{arn}/index/*")]));
    for s in statements {
        for action in s["Action"].as_array().unwrap() {
            let action = action.as_str().unwrap();
            assert!(
                !action.ends_with('*') && !action.contains("CreateTable") && !action.contains("DeleteTable"),
                "{action}"
            );
        }
    }

    // The replica's lag is watched.
    let alarms = crate::support::cloudwatch().await;
    let alarm = alarms.describe_alarms().alarm_names(format!("dev-us-east-1-alarms-sessions-replication-{suffix}"));
    let alarm = alarm.send().await.unwrap();
    let [alarm] = alarm.metric_alarms() else { panic!("one replication alarm") };
    assert_eq!((alarm.metric_name(), alarm.threshold()), (Some("ReplicationLatency"), Some(300_000.0)));
    let dims: Vec<_> = alarm.dimensions().iter().map(|d| (d.name().unwrap(), d.value().unwrap())).collect();
    assert!(
        dims.contains(&("ReceivingRegion", REPLICA_REGION)) && dims.contains(&("TableName", name.as_str())),
        "{dims:?}"
    );

    assert_eq!(out["sessions_table_name"], name.as_str());
    assert_eq!(out["sessions_table_arn"], arn);
    assert_eq!(out["kms_key_arn"], primary.as_str());
    stack.run(&["plan", "--detailed-exitcode"]).code(0);

    // Time to live off is a change of the table in place.
    stack.edit_config("dev.toml", |t| t + "\n[sessions]\nttl = false\n");
    let planned = stack.run(&["plan", "--json"]).success().json();
    assert_eq!(planned["summary"]["update"], 1, "{planned:#}");
    assert_eq!(planned["summary"]["replace"], 0, "{planned:#}");
    stack.apply();
    let ttl = ddb.describe_time_to_live().table_name(&name).send().await.unwrap();
    let status = ttl.time_to_live_description().and_then(|d| d.time_to_live_status()).map(|s| s.as_str());
    assert_eq!(status, Some("DISABLED"));
    stack.run(&["plan", "--detailed-exitcode"]).code(0);

    // Provisioned capacity instead of on demand: the table changes in place, and each way
    // gets its auto-scaling, within the configured range at the configured utilisation.
    stack.edit_config("dev.toml", |t| {
        t + "billing_mode = \"provisioned\"\nread_capacity = { min = 5, max = 50, target_percent = 70 }\nwrite_capacity = { min = 2, max = 20, target_percent = 60 }\n"
    });
    let planned = stack.run(&["plan", "--json"]).success().json();
    assert_eq!(
        (&planned["summary"]["update"], &planned["summary"]["create"], &planned["summary"]["replace"]),
        (&Value::from(1), &Value::from(2), &Value::from(0)),
        "{planned:#}"
    );
    stack.apply();
    let described = ddb.describe_table().table_name(&name).send().await.unwrap();
    let billing = described.table().and_then(|t| t.billing_mode_summary()).and_then(|b| b.billing_mode());
    assert_eq!(billing.map(|b| b.as_str()), Some("PROVISIONED"));
    let scaling = crate::support::autoscaling().await;
    let namespace = aws_sdk_applicationautoscaling::types::ServiceNamespace::Dynamodb;
    let targets = scaling.describe_scalable_targets().service_namespace(namespace.clone());
    let targets = targets.resource_ids(format!("table/{name}")).send().await.unwrap();
    let mut ranges: Vec<(&str, i32, i32)> = targets
        .scalable_targets()
        .iter()
        .map(|t| (t.scalable_dimension().as_str(), t.min_capacity(), t.max_capacity()))
        .collect();
    ranges.sort_unstable();
    assert_eq!(ranges, [("dynamodb:table:ReadCapacityUnits", 5, 50), ("dynamodb:table:WriteCapacityUnits", 2, 20)]);
    let policies = scaling.describe_scaling_policies().service_namespace(namespace);
    let policies = policies.resource_id(format!("table/{name}")).send().await.unwrap();
    let mut targets: Vec<f64> = policies
        .scaling_policies()
        .iter()
        .filter_map(|p| p.target_tracking_scaling_policy_configuration().map(|c| c.target_value()))
        .collect();
    targets.sort_by(f64::total_cmp);
    assert_eq!(targets, [60.0, 70.0]);
    stack.run(&["plan", "--detailed-exitcode"]).code(0);

    // Destroy removes the replica and the table, and schedules the keys' deletion.
    stack.run(&["destroy", "--yes"]).success();
    for region in [REGION, REPLICA_REGION] {
        let gone = dynamodb_in(region).await.describe_table().table_name(&name).send().await;
        assert!(
            gone.is_err_and(|e| e.into_service_error().is_resource_not_found_exception()),
            "{region}: the table is gone"
        );
    }
    for (region, arn) in [(REGION, &primary), (REPLICA_REGION, &replica_key)] {
        let kms = kms_in(region).await;
        let meta = kms.describe_key().key_id(arn.as_str()).send().await.unwrap();
        let meta = meta.key_metadata().unwrap();
        assert_eq!(meta.key_state().map(|s| s.as_str()), Some("PendingDeletion"), "{region}");
        assert!(meta.deletion_date().is_some(), "{region}: its deletion is scheduled");
    }
    // State remembers the keys AWS has yet to delete, and when it will have.
    let state = stack.state().await.expect("state stays after a destroy");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let key_id = |arn: &str| arn.rsplit('/').next().unwrap().to_owned();
    let mut scheduled: Vec<(&str, String, bool)> = state["scheduled_deletions"]
        .as_array()
        .expect("the keys' scheduled deletions")
        .iter()
        .map(|d| {
            let by = d["deleted_by"].as_u64().unwrap();
            (
                d["kind"].as_str().unwrap(),
                key_id(d["aws_id"].as_str().unwrap()),
                (by - now).abs_diff(7 * 86_400) < 3_600,
            )
        })
        .collect();
    scheduled.sort_unstable();
    let mut wanted = [key_id(&primary), key_id(&replica_key)];
    wanted.sort();
    assert_eq!(scheduled, wanted.iter().map(|id| ("kms.key", id.clone(), true)).collect::<Vec<_>>(), "{state:#}");
    let namespace = aws_sdk_applicationautoscaling::types::ServiceNamespace::Dynamodb;
    let targets = scaling.describe_scalable_targets().service_namespace(namespace);
    let targets = targets.resource_ids(format!("table/{name}")).send().await.unwrap();
    assert!(targets.scalable_targets().is_empty(), "the table's scaling is gone with it");
    let left = crate::support::live_resources(&stack).await;
    assert!(left.is_empty(), "nothing else is left: {left:#?}");
}
