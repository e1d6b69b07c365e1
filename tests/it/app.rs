//! The application tier as a user finds it after `apply`: ECS on Fargate behind the load
//! balancer, logs, roles and auto-scaling; and how it changes in place.

use serde_json::Value;

use crate::support::{
    Stack, ZONE, changes, cloudwatch, ecs, elbv2, expected_counts, iam, live_counts, logs, scaling_policies,
    zone_records,
};

#[tokio::test]
async fn dev_runs_its_services_on_fargate_behind_the_load_balancer() {
    let stack = Stack::new("dev", "app");
    stack.apply();
    let out = stack.run(&["output", "--json"]).success().json();
    let sfx = &stack.suffix;

    // Outputs, under the names scripts and people use.
    for key in [
        "alb_dns_name",
        "service_url",
        "db_cluster_endpoint",
        "db_reader_endpoint",
        "db_secret_arn",
        "ecs_cluster_arn",
        "ecs_service_arns",
        "sns_topic_arn",
        "vpc_id",
    ] {
        assert!(!out[key].is_null(), "output {key} is missing: {out:#}");
    }
    let alb_dns = out["alb_dns_name"].as_str().unwrap();
    assert_eq!(out["service_url"], format!("https://dev-{sfx}.{ZONE}"), "the service is reached by its DNS name");
    let service_arns = out["ecs_service_arns"].as_object().unwrap();
    assert_eq!(service_arns.keys().collect::<Vec<_>>(), ["payments-api", "worker"]);

    // The load balancer: internet-facing in the public subnets behind its security group;
    // HTTP only redirects, HTTPS forwards to the ip target group with the looked-up
    // certificate.
    let elbv2 = elbv2().await;
    let lbs = elbv2.describe_load_balancers().send().await.unwrap();
    let lb = lbs.load_balancers().iter().find(|l| l.dns_name() == Some(alb_dns)).unwrap();
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internet-facing"));
    assert!(lb.load_balancer_name().unwrap().len() <= 32);
    let mut lb_subnets: Vec<&str> = lb.availability_zones().iter().filter_map(|z| z.subnet_id()).collect();
    lb_subnets.sort_unstable();
    let mut public: Vec<&str> =
        out["public_subnet_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    public.sort_unstable();
    assert_eq!(lb_subnets, public);
    assert_eq!(lb.security_groups(), [out["security_group_ids"]["alb"].as_str().unwrap()]);
    let listeners = elbv2.describe_listeners().load_balancer_arn(lb.load_balancer_arn().unwrap()).send().await.unwrap();
    let listener = |port: i32| listeners.listeners().iter().find(|l| l.port() == Some(port)).unwrap();
    let http = listener(80).default_actions()[0].redirect_config().unwrap();
    assert_eq!((http.protocol(), http.port()), (Some("HTTPS"), Some("443")));
    let https = listener(443);
    let certificate = https.certificates()[0].certificate_arn().unwrap();
    let acm = aws_sdk_acm::Client::new(&aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await);
    let cert = acm.describe_certificate().certificate_arn(certificate).send().await.unwrap();
    assert_eq!(cert.certificate().unwrap().domain_name(), Some("*.payments.example.com"), "the seeded certificate");
    let tg_arn = https.default_actions()[0].target_group_arn().unwrap();
    let tg = elbv2.describe_target_groups().target_group_arns(tg_arn).send().await.unwrap();
    let tg = &tg.target_groups()[0];
    assert_eq!(tg.target_type().map(|t| t.as_str()), Some("ip"));
    assert_eq!(tg.health_check_path(), Some("/health"));
    assert_eq!(tg.port(), Some(8080));

    // The name: one plain alias record to the load balancer in the looked-up zone, with the
    // owner record that says it is this stack's.
    let aliases = alias_records(&format!("dev-{sfx}.{ZONE}")).await;
    assert_eq!(aliases.len(), 1, "{aliases:?}");
    let (set_identifier, weight, target, target_zone) = &aliases[0];
    assert_eq!((set_identifier, weight), (&None, &None), "a plain record");
    assert_eq!(target, &alb_dns.to_ascii_lowercase());
    assert_eq!(Some(target_zone.as_str()), lb.canonical_hosted_zone_id());
    assert_eq!(owner_records(&stack).await.len(), 1);

    // The cluster and its services: private subnets, the app security group, the API behind
    // the target group, the worker behind nothing.
    let ecs = ecs().await;
    let cluster_arn = out["ecs_cluster_arn"].as_str().unwrap();
    let insights = container_insights(cluster_arn).await;
    assert_eq!(insights, "disabled", "Container Insights is for production");
    let services = ecs
        .describe_services()
        .cluster(cluster_arn)
        .services(service_arns["payments-api"].as_str().unwrap())
        .services(service_arns["worker"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let mut private: Vec<&str> =
        out["private_subnet_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    private.sort_unstable();
    assert_eq!(services.services().len(), 2, "both services are described");
    assert!(services.failures().is_empty(), "{:?}", services.failures());
    assert_eq!(out["discovery_namespace"], format!("dev-{sfx}.paystack.internal"));
    Box::pin(each_service_is_found_by_name(&format!("dev-{sfx}.paystack.internal"), services.services())).await;
    for s in services.services() {
        let vpc = s.network_configuration().unwrap().awsvpc_configuration().unwrap();
        let mut subnets: Vec<&str> = vpc.subnets().iter().map(String::as_str).collect();
        subnets.sort_unstable();
        assert_eq!(subnets, private, "{:?} runs in the private subnets", s.service_name());
        assert_eq!(vpc.security_groups(), [out["security_group_ids"]["app"].as_str().unwrap()]);
        assert_eq!(s.launch_type().map(|l| l.as_str()), Some("FARGATE"));
        let is_api = s.service_name() == Some(format!("dev-us-east-1-app-payments-api-{sfx}").as_str());
        assert_eq!(s.load_balancers().len(), usize::from(is_api), "{:?}", s.service_name());
        if is_api {
            assert_eq!(s.load_balancers()[0].target_group_arn(), Some(tg_arn));
            assert_eq!(s.load_balancers()[0].container_port(), Some(8080));
        }

        // Its task definition: Fargate sizes, logs to its own group, the database secret
        // injected as a secret, never as a plain environment value.
        let td = ecs.describe_task_definition().task_definition(s.task_definition().unwrap()).send().await.unwrap();
        let td = td.task_definition().unwrap();
        assert_eq!((td.cpu(), td.memory()), (Some("256"), Some("512")));
        let container = &td.container_definitions()[0];
        let options = container.log_configuration().unwrap().options().unwrap();
        let log_group = &options["awslogs-group"];
        assert!(log_group.ends_with(&format!("-logs-{sfx}")), "{log_group}");
        let credentials = container.secrets().iter().find(|s| s.name() == "DATABASE_CREDENTIALS").unwrap();
        assert_eq!(Some(credentials.value_from()), out["db_secret_arn"].as_str());
        assert!(container.environment().is_empty(), "no plain environment values");
        let groups = logs().await.describe_log_groups().log_group_name_prefix(log_group).send().await.unwrap();
        assert_eq!(groups.log_groups()[0].retention_in_days(), Some(7));

        // Its roles: assumed by ECS tasks only, every statement on named resources and held to
        // the region.
        let iam = iam().await;
        for role_arn in [td.execution_role_arn().unwrap(), td.task_role_arn().unwrap()] {
            let name = role_arn.rsplit('/').next().unwrap();
            let policy = iam.get_role_policy().role_name(name).policy_name("paystack").send().await.unwrap();
            let text = percent_decode(policy.policy_document());
            let document: Value = serde_json::from_str(&text).unwrap();
            let statements = document["Statement"].as_array().unwrap();
            assert!(!statements.is_empty(), "{name}: a policy with statements");
            for statement in statements {
                assert_eq!(statement["Condition"]["StringEquals"]["aws:RequestedRegion"], "us-east-1", "{name}");
                let resources = statement["Resource"].as_array().unwrap();
                let actions = statement["Action"].as_array().unwrap();
                assert!(!resources.is_empty() && !actions.is_empty(), "{name}: {statement}");
                for resource in resources {
                    let resource = resource.as_str().unwrap();
                    assert!(resource.starts_with("arn:aws:") && resource != "*", "{name}: {resource}");
                }
                for action in actions {
                    assert!(!action.as_str().unwrap().contains('*'), "{name}: {action}");
                }
            }
        }
    }

    // Auto-scaling: the range and CPU target the configuration gives.
    assert_eq!(scaling_policies(&stack).await.len(), 2);
    let autoscaling = aws_sdk_applicationautoscaling::Client::new(
        &aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await,
    );
    // Every page: an emulator other tests share holds more targets than one page.
    let targets: Vec<_> = autoscaling
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .unwrap();
    let api_target =
        targets.iter().find(|t| t.resource_id().ends_with(&format!("/dev-us-east-1-app-payments-api-{sfx}"))).unwrap();
    assert_eq!((api_target.min_capacity(), api_target.max_capacity()), (1, 2));

    // Alarms: each notifies the environment's topic, on the resource it watches, with the
    // environment's threshold.
    let alarms = cloudwatch().await.describe_alarms().alarm_name_prefix("dev-us-east-1-alarms-").send().await.unwrap();
    let db_cluster = stack.name_of("database.cluster").await;
    let lb_arn = lb.load_balancer_arn().unwrap();
    alarms_watch_the_platform(alarms.metric_alarms(), &out, sfx, lb_arn, cluster_arn, &db_cluster);

    stack.run(&["plan", "--detailed-exitcode"]).code(0);

    // Retention (the database's, the flow log's and the firewall's too), desired counts, scaling and thresholds change in place; a new size is a new task definition
    // revision, registered first, which the service then rolls to.
    stack.edit_config("dev.toml", |t| {
        t + "\n[logs]\nretention_days = 14\n\n[alarms]\ndb_connections = 350\n\n[services.worker]\ncpu = 512\nmemory = 1024\ndesired_count = 2\nmax_count = 3\ncpu_target_percent = 55\n"
    });
    let plan = stack.run(&["plan", "--json"]).success().json();
    assert_eq!(
        changes(&plan),
        [
            ("alarms.database.connections".to_owned(), "update".to_owned()),
            ("app.payments-api.logs".to_owned(), "update".to_owned()),
            ("app.worker.logs".to_owned(), "update".to_owned()),
            ("app.worker.scaling".to_owned(), "update".to_owned()),
            ("app.worker.service".to_owned(), "update".to_owned()),
            ("app.worker.task".to_owned(), "replace".to_owned()),
            ("database.logs".to_owned(), "update".to_owned()),
            ("edge.waf.logs".to_owned(), "update".to_owned()),
            ("network.flow_log.logs".to_owned(), "update".to_owned()),
        ]
    );
    stack.apply();
    stack.run(&["plan", "--detailed-exitcode"]).code(0);
    let worker = ecs
        .describe_services()
        .cluster(cluster_arn)
        .services(service_arns["worker"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let td_arn = worker.services()[0].task_definition().unwrap();
    let td = ecs.describe_task_definition().task_definition(td_arn).send().await.unwrap();
    assert_eq!(td.task_definition().unwrap().cpu(), Some("512"), "the service rolled to the new revision");
    assert_eq!(worker.services()[0].desired_count(), 2, "the desired count changed in place");
    assert_eq!(live_counts(&stack).await["task_definition"], 2, "the old revision was deregistered");

    // Destroy: nothing of the stack is left in any service.
    stack.run(&["destroy", "--yes"]).success();
    assert!(live_counts(&stack).await.values().all(|n| *n == 0), "{:?}", live_counts(&stack).await);
    assert!(scaling_policies(&stack).await.is_empty());
    assert!(alias_records(&format!("dev-{sfx}.{ZONE}")).await.is_empty());
    assert!(owner_records(&stack).await.is_empty());
}

/// The cluster's Container Insights setting: `enabled` or `disabled`.
/// Cloud Map: the stack's private namespace, a discovery service of each ECS service's own
/// name in it (an `A` record per task, 10 s), and each ECS service registered in its own.
async fn each_service_is_found_by_name(namespace: &str, services: &[aws_sdk_ecs::types::Service]) {
    let sd = crate::support::servicediscovery().await;
    let namespaces = sd.list_namespaces().send().await.unwrap();
    let ns = namespaces.namespaces().iter().find(|n| n.name() == Some(namespace)).expect("the namespace");
    assert_eq!(ns.r#type().map(|t| t.as_str()), Some("DNS_PRIVATE"));
    for s in services {
        let name = s.service_name().unwrap();
        let short = if name.contains("payments-api") { "payments-api" } else { "worker" };
        let registry = s.service_registries().first().and_then(|r| r.registry_arn()).expect("registered");
        let id = registry.rsplit('/').next().unwrap();
        let got = sd.get_service().id(id).send().await.unwrap();
        let discovery = got.service().unwrap();
        assert_eq!((discovery.name(), discovery.namespace_id()), (Some(short), ns.id()), "{name}");
        let dns = discovery.dns_config().unwrap();
        assert_eq!(dns.routing_policy().map(|p| p.as_str()), Some("MULTIVALUE"));
        let record = &dns.dns_records()[0];
        assert_eq!((record.r#type().as_str(), record.ttl()), ("A", 10));
    }
}

async fn container_insights(cluster_arn: &str) -> String {
    let clusters = ecs()
        .await
        .describe_clusters()
        .clusters(cluster_arn)
        .include(aws_sdk_ecs::types::ClusterField::Settings)
        .send()
        .await
        .unwrap();
    clusters.clusters()[0].settings().iter().find_map(|s| s.value()).unwrap_or("disabled").to_owned()
}

/// The alias records named `name`: set identifier, weight, target DNS name and zone.
async fn alias_records(name: &str) -> Vec<(Option<String>, Option<i64>, String, String)> {
    let mut found: Vec<_> = zone_records()
        .await
        .into_iter()
        .filter(|r| r.r#type().as_str() == "A" && r.name().trim_end_matches('.') == name)
        .map(|r| {
            let alias = r.alias_target().expect("an alias record");
            (
                r.set_identifier().map(str::to_owned),
                r.weight(),
                alias.dns_name().trim_end_matches('.').to_ascii_lowercase(),
                alias.hosted_zone_id().to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

/// The stack's owner records, which stand for tags on its DNS records.
async fn owner_records(stack: &Stack) -> Vec<String> {
    let under = format!("._paystack.{ZONE}.");
    let prefix = format!(".{}{under}", stack.key());
    zone_records()
        .await
        .into_iter()
        .filter(|r| r.r#type().as_str() == "TXT" && r.name().ends_with(&prefix))
        .map(|r| r.name().to_owned())
        .collect()
}

#[tokio::test]
async fn prod_gets_container_insights_and_longer_retention() {
    let stack = Stack::new("prod", "app");
    stack.apply();
    let out = stack.run(&["output", "--json"]).success().json();
    let insights = container_insights(out["ecs_cluster_arn"].as_str().unwrap()).await;
    assert_eq!(insights, "enabled");
    let groups = logs().await.describe_log_groups().log_group_name_prefix("prod-us-east-1-app-").send().await.unwrap();
    let ours: Vec<_> =
        groups.log_groups().iter().filter(|g| g.log_group_name().unwrap().ends_with(&stack.suffix)).collect();
    assert_eq!(ours.len(), 2);
    assert!(ours.iter().all(|g| g.retention_in_days() == Some(90)));

    // Blue/green: two weighted alias records of one name, all traffic on blue.
    let name = format!("api-{}.{ZONE}", stack.suffix);
    assert_eq!(out["service_url"], format!("https://{name}"));
    let weights = |records: Vec<(Option<String>, Option<i64>, String, String)>| -> Vec<(String, i64)> {
        records.into_iter().map(|(set, weight, _, _)| (set.unwrap(), weight.unwrap())).collect()
    };
    let (blue, green) = (format!("blue-{}", stack.suffix), format!("green-{}", stack.suffix));
    assert_eq!(weights(alias_records(&name).await), [(blue.clone(), 100), (green.clone(), 0)]);
    stack.run(&["plan", "--detailed-exitcode"]).code(0);

    // Shifting traffic is a change of numbers, made in place.
    stack.edit_config("prod.toml", |t| {
        t.replace("weights = { blue = 100, green = 0 }", "weights = { blue = 20, green = 80 }")
    });
    let plan = stack.run(&["plan", "--json"]).success().json();
    assert_eq!(
        changes(&plan),
        [("edge.dns.blue".to_owned(), "update".to_owned()), ("edge.dns.green".to_owned(), "update".to_owned())]
    );
    stack.run(&["apply", "--yes"]).success();
    assert_eq!(weights(alias_records(&name).await), [(blue, 20), (green, 80)]);
    stack.run(&["plan", "--detailed-exitcode"]).code(0);

    stack.run(&["destroy", "--yes", "--override-protection"]).success();
    assert!(live_counts(&stack).await.values().all(|n| *n == 0), "{:?}", live_counts(&stack).await);
    assert!(alias_records(&name).await.is_empty());
    assert!(owner_records(&stack).await.is_empty());
}

#[tokio::test]
async fn staging_has_production_shape_with_its_own_values() {
    let stack = Stack::new("staging", "app");
    stack.apply();
    assert_eq!(live_counts(&stack).await, expected_counts("staging"));
    let out = stack.run(&["output", "--json"]).success().json();
    let sfx = &stack.suffix;
    assert_eq!(out["service_url"], format!("https://staging-{sfx}.{ZONE}"));
    let aliases = alias_records(&format!("staging-{sfx}.{ZONE}")).await;
    assert_eq!(aliases.len(), 1, "a plain record outside production: {aliases:?}");
    assert_eq!(aliases[0].2, out["alb_dns_name"].as_str().unwrap().to_ascii_lowercase());

    // Aurora: a writer and two readers on db.r5.large, 14 days of backups.
    let rds = crate::support::rds().await;
    let cluster_name = stack.name_of("database.cluster").await;
    let clusters = rds.describe_db_clusters().db_cluster_identifier(&cluster_name).send().await.unwrap();
    let cluster = &clusters.db_clusters()[0];
    assert_eq!((cluster.backup_retention_period(), cluster.storage_encrypted()), (Some(14), Some(true)));
    let instances = rds.describe_db_instances().send().await.unwrap();
    let classes: Vec<&str> = instances
        .db_instances()
        .iter()
        .filter(|i| i.db_cluster_identifier() == Some(cluster_name.as_str()))
        .map(|i| i.db_instance_class().unwrap())
        .collect();
    assert_eq!(classes, ["db.r5.large"; 3]);
    // Rotation is off outside production.
    let secret = crate::support::secretsmanager()
        .await
        .describe_secret()
        .secret_id(out["db_secret_arn"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_ne!(secret.rotation_enabled(), Some(true));

    // Services: staging's sizes for the API, the shared ones for the worker; no Container
    // Insights; 30 days of logs.
    let ecs = ecs().await;
    let cluster_arn = out["ecs_cluster_arn"].as_str().unwrap();
    let insights = container_insights(cluster_arn).await;
    assert_eq!(insights, "disabled");
    let api = out["ecs_service_arns"]["payments-api"].as_str().unwrap();
    let described = ecs.describe_services().cluster(cluster_arn).services(api).send().await.unwrap();
    let service = &described.services()[0];
    assert_eq!(service.desired_count(), 2);
    let td = ecs.describe_task_definition().task_definition(service.task_definition().unwrap()).send().await.unwrap();
    let td = td.task_definition().unwrap();
    assert_eq!((td.cpu(), td.memory()), (Some("512"), Some("1024")));
    let groups =
        logs().await.describe_log_groups().log_group_name_prefix("staging-us-east-1-app-").send().await.unwrap();
    let ours: Vec<_> =
        groups.log_groups().iter().filter(|g| g.log_group_name().unwrap().ends_with(sfx.as_str())).collect();
    assert_eq!(ours.len(), 2);
    assert!(ours.iter().all(|g| g.retention_in_days() == Some(30)));

    // Alarms: staging's thresholds, between dev's and production's.
    let alarms = cloudwatch().await.describe_alarms().alarm_name_prefix("staging-us-east-1-").send().await.unwrap();
    let mut thresholds: Vec<(String, f64)> = alarms
        .metric_alarms()
        .iter()
        .filter(|a| a.alarm_name().unwrap().ends_with(sfx.as_str()))
        .map(|a| (a.metric_name().unwrap().to_owned(), a.threshold().unwrap()))
        .collect();
    thresholds.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(
        thresholds,
        [
            ("CPUUtilization".to_owned(), 80.0),
            ("CPUUtilization".to_owned(), 80.0),
            ("CPUUtilization".to_owned(), 80.0),
            ("DatabaseConnections".to_owned(), 300.0),
            ("HTTPCode_Target_5XX_Count".to_owned(), 20.0),
            // The artifacts' replication, in seconds, and the sessions', in milliseconds.
            ("ReplicationLatency".to_owned(), 300.0),
            ("ReplicationLatency".to_owned(), 300_000.0),
            ("TargetResponseTime".to_owned(), 2.0),
        ]
    );

    stack.run(&["plan", "--detailed-exitcode"]).code(0);
    stack.run(&["destroy", "--yes"]).success();
    assert!(live_counts(&stack).await.values().all(|n| *n == 0), "{:?}", live_counts(&stack).await);
    assert!(scaling_policies(&stack).await.is_empty());
    assert!(owner_records(&stack).await.is_empty());
}

/// Each alarm notifies the environment's topic, on the resource it watches, with dev's
/// threshold. Apart from the test's future, which is larger than a debug build's stack holds.
fn alarms_watch_the_platform(
    alarms: &[aws_sdk_cloudwatch::types::MetricAlarm],
    out: &Value,
    sfx: &str,
    lb_arn: &str,
    cluster_arn: &str,
    db_cluster: &str,
) {
    let ours: Vec<_> = alarms.iter().filter(|a| a.alarm_name().unwrap().ends_with(sfx)).collect();
    let mut watched: Vec<(&str, &str, f64)> =
        ours.iter().map(|a| (a.namespace().unwrap(), a.metric_name().unwrap(), a.threshold().unwrap())).collect();
    watched.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(
        watched,
        [
            ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", 50.0),
            ("AWS/ApplicationELB", "TargetResponseTime", 3.0),
            ("AWS/DynamoDB", "ReplicationLatency", 300_000.0),
            ("AWS/ECS", "CPUUtilization", 90.0),
            ("AWS/ECS", "CPUUtilization", 90.0),
            ("AWS/RDS", "CPUUtilization", 90.0),
            ("AWS/RDS", "DatabaseConnections", 400.0),
            ("AWS/S3", "ReplicationLatency", 300.0),
        ]
    );
    for a in &ours {
        assert_eq!(a.alarm_actions(), [out["sns_topic_arn"].as_str().unwrap()], "{:?}", a.alarm_name());
        // Each watches one resource: the ECS ones name the cluster and the service, the
        // sessions' replication the table and the replica's region, the artifacts' the two
        // buckets and the rule.
        let expected = match a.namespace() {
            Some("AWS/ECS" | "AWS/DynamoDB") => 2,
            Some("AWS/S3") => 3,
            _ => 1,
        };
        assert_eq!(a.dimensions().len(), expected, "{:?}: {:?}", a.alarm_name(), a.dimensions());
        for d in a.dimensions() {
            let value = d.value().unwrap();
            match d.name().unwrap() {
                "LoadBalancer" => {
                    assert!(lb_arn.ends_with(value) && value.starts_with("app/"))
                }
                "DBClusterIdentifier" => assert_eq!(value, db_cluster),
                "ClusterName" => assert!(cluster_arn.ends_with(value)),
                "ServiceName" => assert!(
                    out["ecs_service_arns"]
                        .as_object()
                        .unwrap()
                        .values()
                        .any(|arn| arn.as_str().unwrap().ends_with(value))
                ),
                "TableName" => assert_eq!(value, out["sessions_table_name"].as_str().unwrap()),
                "ReceivingRegion" => assert_eq!(value, crate::support::REPLICA_REGION),
                "SourceBucket" => assert_eq!(value, out["artifacts_bucket"].as_str().unwrap()),
                "DestinationBucket" => assert_eq!(value, out["artifacts_replica_bucket"].as_str().unwrap()),
                "RuleId" => assert_eq!(value, "everything-to-the-replica"),
                other => panic!("unexpected dimension {other}"),
            }
        }
    }
}

/// IAM returns policy documents URL-encoded.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}
