//! The database tier and alerting as a user finds them after `apply`: Aurora, its
//! credentials, the alert topic; and the promise that the database password appears nowhere
//! paystack writes.

use serde_json::Value;

use crate::support::{Run, Stack, expected_counts, live_counts, rds, secretsmanager, sns};

/// The password Secrets Manager holds for the stack, read the way an application would.
async fn password(secret_arn: &str) -> String {
    let out = secretsmanager().await.get_secret_value().secret_id(secret_arn).send().await.unwrap();
    let document: Value = serde_json::from_str(out.secret_string().unwrap()).unwrap();
    assert_eq!(document["username"], "paystack");
    let password = document["password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 32, "a generated password of full length");
    password
}

/// Searches everything paystack writes for the stack's database password: every stored
/// version of state, apply's output and its trace logs, and what plan, output, state show,
/// drift (with `--notify`) print. `parity` is searched in its own test, which has two
/// environments applied.
async fn assert_password_nowhere(stack: &Stack, applied: &Run, password: &str) {
    let mut places: Vec<(String, String)> = Vec::new();
    let versions = stack.state_documents().await;
    assert!(versions.len() > 1, "the state has several stored versions");
    for (i, doc) in versions.iter().enumerate() {
        places.push((format!("state version {i}"), doc.to_string()));
    }
    places.push(("apply's output".into(), applied.stdout.clone()));
    places.push(("trace-level logs".into(), applied.stderr.clone()));
    let commands: [&[&str]; 8] = [
        &["plan"],
        &["plan", "--json"],
        &["output"],
        &["output", "--json"],
        &["state", "show", "database.cluster"],
        &["state", "show", "database.secret"],
        &["drift"],
        &["drift", "--json", "--notify"],
    ];
    for args in commands {
        let run = Run::from(stack.command(args).env("PAYSTACK_LOG", "trace").output().unwrap());
        assert!(run.code == 0 || run.code == 2, "{args:?}: {}", run.stderr);
        places.push((format!("`{}`", args.join(" ")), run.stdout));
        places.push((format!("`{}` logs", args.join(" ")), run.stderr));
    }
    crate::support::assert_no_leak(&places, password);
}

fn tag<'a>(tags: &'a [aws_sdk_rds::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

#[tokio::test]
async fn dev_gets_an_encrypted_aurora_cluster_its_secret_and_an_alert_topic() {
    let stack = Stack::new("dev", "database");
    // Logs at the most verbose level, to show below that not even they hold the password.
    let applied =
        Run::from(stack.command(&["apply", "--yes"]).env("PAYSTACK_LOG", "trace").output().unwrap()).success();
    assert!(applied.stderr.contains("TRACE"), "trace logs were captured");
    let out = stack.run(&["output", "--json"]).success().json();
    let rds = rds().await;

    // The cluster: encrypted, backed up with point-in-time recovery, in the private subnets
    // behind the database security group, no AWS deletion protection.
    let cluster_name = stack.name_of("database.cluster").await;
    assert!(cluster_name.starts_with("dev-us-east-1-database-cluster-") && cluster_name.ends_with(&stack.suffix));
    let writer_name = stack.name_of("database.instance.writer").await;
    assert!(writer_name.starts_with("dev-us-east-1-database-writer-") && writer_name.ends_with(&stack.suffix));
    let clusters = rds.describe_db_clusters().db_cluster_identifier(&cluster_name).send().await.unwrap();
    let cluster = &clusters.db_clusters()[0];
    assert_eq!(cluster.engine(), Some("aurora-postgresql"));
    assert_eq!(cluster.engine_version(), Some("16.4"));
    assert_eq!(cluster.storage_encrypted(), Some(true));
    assert_eq!(cluster.backup_retention_period(), Some(7));
    assert_eq!(cluster.preferred_backup_window(), Some("03:00-04:00"));
    assert_eq!(cluster.deletion_protection(), Some(false));
    assert_eq!(cluster.database_name(), Some("payments"));
    assert_eq!(cluster.master_username(), Some("paystack"));
    assert_eq!(cluster.port(), Some(5432));
    let db_sg: Vec<&str> = cluster.vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id()).collect();
    assert_eq!(db_sg, [out["security_group_ids"]["db"].as_str().unwrap()]);
    for key in ["Environment", "Project", "ManagedBy", "Application", "CostCenter", "Name"] {
        assert!(tag(cluster.tag_list(), key).is_some(), "the cluster lacks {key}");
    }
    assert_eq!(tag(cluster.tag_list(), "Environment"), Some("dev"));
    assert_eq!(out["db_cluster_endpoint"].as_str(), cluster.endpoint());
    assert_eq!(out["db_reader_endpoint"].as_str(), cluster.reader_endpoint());

    let group_name = cluster.db_subnet_group().unwrap();
    let groups = rds.describe_db_subnet_groups().db_subnet_group_name(group_name).send().await.unwrap();
    let mut subnets: Vec<&str> =
        groups.db_subnet_groups()[0].subnets().iter().filter_map(|s| s.subnet_identifier()).collect();
    subnets.sort_unstable();
    let mut private: Vec<&str> =
        out["private_subnet_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    private.sort_unstable();
    assert_eq!(subnets, private, "the database lives in the private subnets");

    let parameters_name = cluster.db_cluster_parameter_group().unwrap();
    let groups = rds
        .describe_db_cluster_parameter_groups()
        .db_cluster_parameter_group_name(parameters_name)
        .send()
        .await
        .unwrap();
    assert_eq!(groups.db_cluster_parameter_groups()[0].db_parameter_group_family(), Some("aurora-postgresql16"));
    let parameters =
        rds.describe_db_cluster_parameters().db_cluster_parameter_group_name(parameters_name).send().await.unwrap();
    let force_ssl = parameters.parameters().iter().find(|p| p.parameter_name() == Some("rds.force_ssl")).unwrap();
    assert_eq!(force_ssl.parameter_value(), Some("1"));

    // One writer in dev, of the class the environment asks for.
    let instances = rds.describe_db_instances().send().await.unwrap();
    let ours: Vec<_> =
        instances.db_instances().iter().filter(|i| i.db_cluster_identifier() == Some(cluster_name.as_str())).collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].db_instance_class(), Some("db.t3.medium"));
    assert_eq!(ours[0].performance_insights_enabled(), Some(false), "development leaves Performance Insights off");
    assert_eq!(ours[0].db_instance_identifier(), Some(writer_name.as_str()));

    // The credentials: a secret named for the environment, whose password reached nowhere.
    let secret_arn = out["db_secret_arn"].as_str().unwrap();
    let described = secretsmanager().await.describe_secret().secret_id(secret_arn).send().await.unwrap();
    assert_eq!(described.name(), Some(format!("dev-us-east-1-database-credentials-{}", stack.suffix).as_str()));
    assert_ne!(described.rotation_enabled(), Some(true), "rotation is off outside production");
    let password = password(secret_arn).await;
    assert_password_nowhere(&stack, &applied, &password).await;

    // The alert topic with its email subscribers.
    let sns = sns().await;
    let topic_arn = out["sns_topic_arn"].as_str().unwrap();
    assert!(topic_arn.ends_with(&format!(":dev-us-east-1-alerts-topic-{}", stack.suffix)), "{topic_arn}");
    let subscriptions = sns.list_subscriptions_by_topic().topic_arn(topic_arn).send().await.unwrap();
    let emails: Vec<&str> = subscriptions.subscriptions().iter().filter_map(|s| s.endpoint()).collect();
    assert_eq!(emails, ["payments-oncall@example.com"]);

    stack.run(&["plan", "--detailed-exitcode"]).code(0);

    // Sizes, retention and subscribers change in place: the plan says so, apply converges.
    stack.edit_config("dev.toml", |t| {
        t + "\n[database]\ninstance_class = \"db.r5.large\"\nbackup_retention_days = 14\n\n[alerts]\nemails = [\"payments-oncall@example.com\", \"dev-team@example.com\"]\n"
    });
    let plan = stack.run(&["plan", "--json"]).success().json();
    let changed: Vec<(String, String, String)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no-op")
        .flat_map(|c| {
            c["fields"].as_array().unwrap().iter().map(move |f| {
                (
                    c["id"].as_str().unwrap().to_owned(),
                    c["action"].as_str().unwrap().to_owned(),
                    f["field"].as_str().unwrap().to_owned(),
                )
            })
        })
        .collect();
    let expect = |id: &str, field: &str| (id.to_owned(), "update".to_owned(), field.to_owned());
    assert_eq!(
        changed,
        [
            expect("alerts.topic", "subscriptions"),
            expect("database.cluster", "backup_retention_period"),
            expect("database.instance.writer", "instance_class"),
        ]
    );
    stack.apply();
    stack.run(&["plan", "--detailed-exitcode"]).code(0);
    let cluster = rds.describe_db_clusters().db_cluster_identifier(&cluster_name).send().await.unwrap();
    assert_eq!(cluster.db_clusters()[0].backup_retention_period(), Some(14));
    let writer = rds.describe_db_instances().db_instance_identifier(&writer_name).send().await.unwrap();
    assert_eq!(writer.db_instances()[0].db_instance_class(), Some("db.r5.large"));
    let subscriptions = sns.list_subscriptions_by_topic().topic_arn(topic_arn).send().await.unwrap();
    assert_eq!(subscriptions.subscriptions().len(), 2);

    // A new master username cannot be set in place: the cluster and its writer are replaced,
    // the successors created beside the originals under new identifiers, then the originals
    // deleted. The secret holding the new username replaces the old one under its name.
    stack.edit_config("dev.toml", |t| {
        t.replace("backup_retention_days = 14\n", "backup_retention_days = 14\nmaster_username = \"payments_admin\"\n")
    });
    let plan = stack.run(&["plan", "--json"]).success().json();
    let action = |id: &str| {
        let change = plan["changes"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap();
        (change["action"].as_str().unwrap().to_owned(), change["reason"].as_str().unwrap_or_default().to_owned())
    };
    for id in ["database.secret", "database.cluster", "database.instance.writer"] {
        let (action, reason) = action(id);
        assert_eq!(action, "replace", "{id}");
        assert!(!reason.is_empty(), "{id}: a replacement says why");
    }
    stack.apply();
    stack.run(&["plan", "--detailed-exitcode"]).code(0);
    let (new_cluster, new_writer) =
        (stack.name_of("database.cluster").await, stack.name_of("database.instance.writer").await);
    assert!(new_cluster != cluster_name && new_writer != writer_name);
    let counts = live_counts(&stack).await;
    assert_eq!((counts["db_cluster"], counts["db_instance"], counts["secret"]), (1, 1, 1), "{counts:?}");
    let clusters = rds.describe_db_clusters().db_cluster_identifier(&new_cluster).send().await.unwrap();
    assert_eq!(clusters.db_clusters()[0].master_username(), Some("payments_admin"));

    // Destroy leaves nothing of the stack in any service, and frees the secret's name at once
    // (no recovery window), so the environment can be built again straight away.
    stack.run(&["destroy", "--yes"]).success();
    assert!(live_counts(&stack).await.values().all(|n| *n == 0), "{:?}", live_counts(&stack).await);
    let secrets = secretsmanager().await.list_secrets().include_planned_deletion(true).send().await.unwrap();
    let secret_name = described.name().unwrap();
    assert!(!secrets.secret_list().iter().any(|s| s.name() == Some(secret_name)), "{secret_name} is still taken");
}

#[tokio::test]
async fn prod_gets_readers_across_zones_on_larger_instances() {
    let stack = Stack::new("prod", "database");
    let applied =
        Run::from(stack.command(&["apply", "--yes"]).env("PAYSTACK_LOG", "trace").output().unwrap()).success();
    assert_eq!(live_counts(&stack).await, expected_counts("prod"));
    let rds = rds().await;
    let cluster_name = stack.name_of("database.cluster").await;
    let clusters = rds.describe_db_clusters().db_cluster_identifier(&cluster_name).send().await.unwrap();
    assert_eq!(clusters.db_clusters()[0].backup_retention_period(), Some(35));
    let instances = rds.describe_db_instances().send().await.unwrap();
    let mut ours: Vec<(&str, &str, &str)> = instances
        .db_instances()
        .iter()
        .filter(|i| i.db_cluster_identifier() == Some(cluster_name.as_str()))
        .map(|i| {
            let role =
                i.db_instance_identifier().unwrap().split("-database-").nth(1).unwrap().split('-').next().unwrap();
            (role, i.availability_zone().unwrap(), i.db_instance_class().unwrap())
        })
        .collect();
    ours.sort_unstable();
    assert_eq!(
        ours,
        [
            ("reader", "us-east-1b", "db.r5.large"),
            ("reader", "us-east-1c", "db.r5.large"),
            ("writer", "us-east-1a", "db.r5.large"),
        ]
    );
    let out = stack.run(&["output", "--json"]).success().json();
    // Performance Insights on every instance, 7 days, under the environment's key.
    let key = out["kms_key_arn"].as_str().unwrap();
    for i in instances.db_instances().iter().filter(|i| i.db_cluster_identifier() == Some(cluster_name.as_str())) {
        assert_eq!(i.performance_insights_enabled(), Some(true), "{:?}", i.db_instance_identifier());
        assert_eq!(i.performance_insights_kms_key_id(), Some(key));
        assert_eq!(i.performance_insights_retention_period(), Some(7));
    }
    let subscriptions = sns()
        .await
        .list_subscriptions_by_topic()
        .topic_arn(out["sns_topic_arn"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(subscriptions.subscriptions().len(), 2);

    // Production's password rotates every 30 days through the referenced function, and the
    // secret tells that function where the database is.
    let secret_arn = out["db_secret_arn"].as_str().unwrap();
    let described = secretsmanager().await.describe_secret().secret_id(secret_arn).send().await.unwrap();
    assert_eq!(described.rotation_enabled(), Some(true));
    assert!(described.rotation_lambda_arn().unwrap().ends_with(":function:paystack-rotation-postgresql"));
    assert_eq!(described.rotation_rules().and_then(|r| r.automatically_after_days()), Some(30));
    let document = secretsmanager().await.get_secret_value().secret_id(secret_arn).send().await.unwrap();
    let document: Value = serde_json::from_str(document.secret_string().unwrap()).unwrap();
    assert_eq!(document["host"].as_str(), clusters.db_clusters()[0].endpoint());
    assert_eq!(
        (document["engine"].as_str(), document["port"].as_i64(), document["dbname"].as_str()),
        (Some("postgres"), Some(5432), Some("payments"))
    );
    let password = password(secret_arn).await;
    assert_password_nowhere(&stack, &applied, &password).await;
    let tags: std::collections::BTreeMap<&str, &str> =
        described.tags().iter().filter_map(|t| Some((t.key()?, t.value()?))).collect();
    let host = clusters.db_clusters()[0].endpoint().unwrap();
    assert_eq!(tags["paystack:connection"], format!("engine=postgres host={host} port=5432 dbname=payments"));

    stack.run(&["plan", "--detailed-exitcode"]).code(0);
    // Reading the rotation takes the connection from the secret's annotation: drift and
    // check, signed with a key of their own, never ask for the secret's value.
    let key = format!("AKIDROT{}", stack.suffix.to_uppercase());
    let (runs, calls) = crate::support::recording(|| {
        ["drift", "check"]
            .map(|command| Run::from(stack.command(&[command]).env("AWS_ACCESS_KEY_ID", &key).output().unwrap()))
    });
    for run in runs {
        run.code(0);
    }
    let calls: Vec<&str> = calls.iter().filter(|c| c.access_key == key).map(|c| c.operation.as_str()).collect();
    assert!(calls.contains(&"DescribeSecret") || calls.contains(&"ListSecrets"), "{calls:?}");
    assert!(!calls.contains(&"GetSecretValue"), "a read asked for the password: {calls:?}");

    // A protected environment's secret stays recoverable for 7 days after a destroy, and
    // the plan says so; the next apply restores it, with a new password for the new cluster.
    let secret_name = stack.name_of("database.secret").await;
    let secrets = secretsmanager().await;
    let arn = secrets.describe_secret().secret_id(&secret_name).send().await.unwrap().arn().unwrap().to_owned();
    let destroyed = stack.run(&["destroy", "--yes", "--override-protection"]).success();
    assert!(destroyed.stdout.contains("destroy; AWS keeps it 7 days, restorable until then"), "{}", destroyed.stdout);
    assert!(live_counts(&stack).await.values().all(|n| *n == 0), "{:?}", live_counts(&stack).await);
    let pending = secrets.describe_secret().secret_id(&secret_name).send().await.unwrap();
    assert!(pending.deleted_date().is_some(), "the secret's deletion is only scheduled");
    stack.run(&["apply", "--yes", "--override-protection"]).success();
    let restored = secrets.describe_secret().secret_id(&secret_name).send().await.unwrap();
    assert_eq!((restored.arn(), restored.deleted_date()), (Some(arn.as_str()), None), "the same secret, restored");
    stack.run(&["plan", "--detailed-exitcode"]).code(0);
    stack.run(&["destroy", "--yes", "--override-protection"]).success();
    assert!(live_counts(&stack).await.values().all(|n| *n == 0), "{:?}", live_counts(&stack).await);
}
