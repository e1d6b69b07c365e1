//! The artifacts bucket and its replica, and the services' Parameter Store hierarchy: what
//! apply makes, read back through the SDK in the right region; a change of a lifecycle day
//! count or a parameter value applied in place; drift of versioning and public-access
//! blocks found and fixed; and destroy with objects and versions in both buckets.

use aws_sdk_s3::primitives::ByteStream;
use serde_json::Value;

use crate::support::{REGION, REPLICA_REGION, Stack, s3_in, ssm};

/// The settings of `bucket` a user would check, read in `region`.
async fn bucket(region: &'static str, bucket: &str) -> Value {
    let s3 = s3_in(region).await;
    let location = s3.get_bucket_location().bucket(bucket).send().await.unwrap();
    let versioning = s3.get_bucket_versioning().bucket(bucket).send().await.unwrap();
    let encryption = s3.get_bucket_encryption().bucket(bucket).send().await.unwrap();
    let rule = &encryption.server_side_encryption_configuration().unwrap().rules()[0];
    let by_default = rule.apply_server_side_encryption_by_default().unwrap();
    let blocks = s3.get_public_access_block().bucket(bucket).send().await.unwrap();
    let blocks = blocks.public_access_block_configuration().unwrap();
    let ownership = s3.get_bucket_ownership_controls().bucket(bucket).send().await.unwrap();
    let policy = s3.get_bucket_policy().bucket(bucket).send().await.unwrap();
    let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let lifecycle = s3.get_bucket_lifecycle_configuration().bucket(bucket).send().await.unwrap();
    let lifecycle = &lifecycle.rules()[0];
    let transitions: Vec<(i32, String)> = lifecycle
        .transitions()
        .iter()
        .map(|t| (t.days().unwrap(), t.storage_class().unwrap().as_str().to_owned()))
        .collect();
    serde_json::json!({
        // S3 names no location for us-east-1.
        "region": location.location_constraint().map(|l| l.as_str()).filter(|l| !l.is_empty()).unwrap_or("us-east-1"),
        "versioning": versioning.status().map(|s| s.as_str()),
        "sse": by_default.sse_algorithm().as_str(),
        "kms_key": by_default.kms_master_key_id(),
        "bucket_key": rule.bucket_key_enabled(),
        "blocks": [blocks.block_public_acls(), blocks.ignore_public_acls(), blocks.block_public_policy(), blocks.restrict_public_buckets()],
        "ownership": ownership.ownership_controls().unwrap().rules()[0].object_ownership().as_str(),
        "tls": policy["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"],
        "deny": policy["Statement"][0]["Effect"],
        "transitions": transitions,
        "noncurrent_days": lifecycle.noncurrent_version_expiration().and_then(|n| n.noncurrent_days()),
        "abort_days": lifecycle.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()),
    })
}

/// The parameters under `path`, name to value.
async fn parameters(path: &str) -> std::collections::BTreeMap<String, String> {
    let ssm = ssm().await;
    let mut pages = ssm.get_parameters_by_path().path(path).recursive(true).into_paginator().send();
    let mut out = std::collections::BTreeMap::new();
    while let Some(page) = pages.next().await {
        for p in page.unwrap().parameters() {
            assert_eq!(p.r#type().map(|t| t.as_str()), Some("String"), "{:?}", p.name());
            out.insert(p.name().unwrap().to_owned(), p.value().unwrap().to_owned());
        }
    }
    out
}

#[tokio::test]
async fn artifacts_replicate_parameters_reach_the_services_and_destroy_empties_both_buckets() {
    let stack = Stack::new("dev", "artifacts");
    stack.apply();
    let suffix = &stack.suffix;
    let out = stack.run(&["output", "--json"]).success().json();
    let primary = out["artifacts_bucket"].as_str().unwrap().to_owned();
    let replica = out["artifacts_replica_bucket"].as_str().unwrap().to_owned();
    assert_eq!(primary, format!("dev-us-east-1-artifacts-123456789012-{suffix}"));
    assert_eq!(replica, format!("dev-us-east-1-replica-123456789012-{suffix}"));
    let key = out["kms_key_arn"].as_str().unwrap();

    // Each bucket in its region: versioned, under its region's key with a bucket key,
    // private, owner-enforced, TLS only, and aged by dev's lifecycle.
    let home = bucket(REGION, &primary).await;
    let there = bucket(REPLICA_REGION, &replica).await;
    for (b, region) in [(&home, REGION), (&there, REPLICA_REGION)] {
        assert_eq!(b["region"], region, "{b:#}");
        assert_eq!(b["versioning"], "Enabled");
        assert_eq!((&b["sse"], &b["bucket_key"]), (&Value::from("aws:kms"), &Value::from(true)));
        assert!(b["kms_key"].as_str().unwrap().contains(&format!(":kms:{region}:")), "{b:#}");
        assert_eq!(b["blocks"], serde_json::json!([true, true, true, true]));
        assert_eq!(b["ownership"], "BucketOwnerEnforced");
        assert_eq!((&b["deny"], &b["tls"]), (&Value::from("Deny"), &Value::from("false")));
        assert_eq!(b["transitions"], serde_json::json!([[30, "STANDARD_IA"], [90, "GLACIER_IR"]]));
        assert_eq!((&b["noncurrent_days"], &b["abort_days"]), (&Value::from(7), &Value::from(7)));
    }
    assert_eq!(home["kms_key"], key);

    // Replication: by its own role, to the replica's ARN under the replica's key, with
    // Replication Time Control, its metrics, and delete markers.
    let s3 = s3_in(REGION).await;
    let replication = s3.get_bucket_replication().bucket(&primary).send().await.unwrap();
    let config = replication.replication_configuration().unwrap();
    let role = stack.name_of("storage.artifacts.replication_role").await;
    assert!(config.role().ends_with(&format!("/{role}")), "{}", config.role());
    let [rule] = config.rules() else { panic!("one rule") };
    let destination = rule.destination().unwrap();
    assert_eq!(destination.bucket(), format!("arn:aws:s3:::{replica}"));
    assert_eq!(destination.encryption_configuration().and_then(|e| e.replica_kms_key_id()), there["kms_key"].as_str());
    let rtc = destination.replication_time().unwrap();
    assert_eq!((rtc.status().as_str(), rtc.time().and_then(|t| t.minutes())), ("Enabled", Some(15)));
    assert_eq!(destination.metrics().unwrap().status().as_str(), "Enabled");
    assert_eq!(rule.delete_marker_replication().and_then(|d| d.status()).map(|s| s.as_str()), Some("Enabled"));
    let iam = crate::support::iam().await;
    let got = iam.get_role().role_name(&role).send().await.unwrap();
    assert!(got.role().unwrap().permissions_boundary().is_none(), "dev names no boundary in the shipped config");
    let alarm = crate::support::cloudwatch().await.describe_alarms();
    let alarm = alarm.alarm_names(format!("dev-us-east-1-alarms-artifacts-replication-{suffix}")).send().await.unwrap();
    let [alarm] = alarm.metric_alarms() else { panic!("one replication alarm") };
    assert_eq!((alarm.namespace(), alarm.threshold()), (Some("AWS/S3"), Some(300.0)));

    // The parameters of each service, with their values, and the service's own.
    let path = out["parameter_path"].as_str().unwrap().to_owned();
    assert_eq!(path, format!("/dev-{suffix}/"));
    let api = parameters(&format!("{path}payments-api/")).await;
    let value = |name: &str| api.get(&format!("{path}payments-api/{name}")).map(String::as_str);
    assert_eq!(api.len(), 11, "{api:#?}");
    assert_eq!(value("db_port"), Some("5432"));
    assert_eq!(value("region"), Some(REGION));
    assert_eq!(value("replica_region"), Some(REPLICA_REGION));
    assert_eq!(value("artifacts_bucket"), Some(primary.as_str()));
    assert_eq!(value("db_writer_endpoint"), out["db_cluster_endpoint"].as_str());
    assert_eq!(value("db_secret_arn"), out["db_secret_arn"].as_str(), "the secret's ARN, never its value");
    assert_eq!(value("payment_provider_timeout_ms"), Some("3000"));
    assert_eq!(parameters(&format!("{path}worker/")).await.len(), 10);

    // The task definition reads them by ARN; the execution role may read its own only.
    let ecs = crate::support::ecs().await;
    let family = stack.name_of("app.payments-api.task").await;
    let task = ecs.describe_task_definition().task_definition(&family).send().await.unwrap();
    let container = &task.task_definition().unwrap().container_definitions()[0];
    let secret = container.secrets().iter().find(|s| s.name() == "PAYMENT_PROVIDER_TIMEOUT_MS").unwrap();
    assert_eq!(
        secret.value_from(),
        format!("arn:aws:ssm:us-east-1:123456789012:parameter{path}payments-api/payment_provider_timeout_ms")
    );
    let exec = stack.name_of("app.payments-api.execution_role").await;
    let policy = iam.get_role_policy().role_name(&exec).policy_name("paystack").send().await.unwrap();
    let policy = percent_encoding::percent_decode_str(policy.policy_document()).decode_utf8_lossy().into_owned();
    assert!(policy.contains(&format!("arn:aws:ssm:us-east-1:123456789012:parameter{path}payments-api/*")), "{policy}");
    assert!(!policy.contains("worker"), "{policy}");
    stack.run(&["plan", "--detailed-exitcode"]).code(0);

    // A day count and a parameter value change in place, and converge.
    stack.edit_config("dev.toml", |t| t.replace("noncurrent_expiration_days = 7", "noncurrent_expiration_days = 14"));
    stack.edit_config("shared.toml", |t| {
        t.replace("payment_provider_timeout_ms = \"3000\"", "payment_provider_timeout_ms = \"2500\"")
    });
    let planned = stack.run(&["plan", "--json"]).success().json();
    assert_eq!(
        (&planned["summary"]["update"], &planned["summary"]["replace"], &planned["summary"]["create"]),
        (&Value::from(3), &Value::from(0), &Value::from(0)),
        "both buckets' lifecycle and one parameter: {planned:#}"
    );
    stack.apply();
    assert_eq!(bucket(REGION, &primary).await["noncurrent_days"], 14);
    assert_eq!(bucket(REPLICA_REGION, &replica).await["noncurrent_days"], 14);
    let written = ssm().await.get_parameter().name(format!("{path}payments-api/payment_provider_timeout_ms"));
    let written = written.send().await.unwrap();
    let written = written.parameter().unwrap();
    assert_eq!((written.value(), written.version()), (Some("2500"), 2), "written once more, for the one change");
    let untouched = ssm().await.get_parameter().name(format!("{path}payments-api/db_port")).send().await.unwrap();
    assert_eq!(untouched.parameter().unwrap().version(), 1, "a value that did not change is not written again");
    stack.run(&["plan", "--detailed-exitcode"]).code(0);

    // Versioning suspended and the public-access block removed, out of band: drift, fixed.
    let versioning = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
        .build();
    s3.put_bucket_versioning().bucket(&primary).versioning_configuration(versioning).send().await.unwrap();
    s3.delete_public_access_block().bucket(&primary).send().await.unwrap();
    let report = stack.run(&["drift", "--json"]).code(2).json();
    let findings = report["findings"].as_array().unwrap();
    let [finding] = findings.as_slice() else { panic!("one drifted resource: {report:#}") };
    assert_eq!(finding["id"], "storage.artifacts");
    let mut fields: Vec<&str> =
        finding["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["block_public_access", "versioning"]);
    stack.run(&["drift", "--fix", "--yes"]).code(2);
    let fixed = bucket(REGION, &primary).await;
    assert_eq!(
        (&fixed["versioning"], &fixed["blocks"]),
        (&Value::from("Enabled"), &serde_json::json!([true, true, true, true]))
    );
    stack.run(&["drift"]).code(0);

    // Objects, versions and delete markers in both buckets: destroy still leaves nothing.
    for (region, name) in [(REGION, &primary), (REPLICA_REGION, &replica)] {
        let s3 = s3_in(region).await;
        for body in ["one", "two"] {
            let put = s3
                .put_object()
                .bucket(name.as_str())
                .key("payments-api/build.tar")
                .body(ByteStream::from_static(body.as_bytes()));
            put.send().await.unwrap();
        }
        s3.delete_object().bucket(name.as_str()).key("payments-api/build.tar").send().await.unwrap();
        s3.put_object()
            .bucket(name.as_str())
            .key("worker/kept")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    stack.run(&["destroy", "--yes"]).success();
    for (region, name) in [(REGION, &primary), (REPLICA_REGION, &replica)] {
        let gone = s3_in(region).await.head_bucket().bucket(name.as_str()).send().await;
        assert!(gone.is_err_and(|e| e.into_service_error().is_not_found()), "{name} is gone");
    }
    assert!(parameters(&path).await.is_empty(), "no parameter is left");
    let left = crate::support::live_resources(&stack).await;
    assert!(left.is_empty(), "nothing else is left: {left:#?}");
}
