//! What a payments auditor reads back from what apply built (`docs/security.md`), each
//! control through the SDK; and the controls that change in place do so.

use std::collections::BTreeMap;

use aws_sdk_ec2 as ec2;
use aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute;
use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::support::{Stack, changes, ec2, ecs, elbv2, iam, logs, rds, s3, secretsmanager, tags, wafv2};

/// The load balancer's attributes, key to value.
async fn load_balancer_attributes(arn: &str) -> BTreeMap<String, String> {
    let out = elbv2().await.describe_load_balancer_attributes().load_balancer_arn(arn).send().await.unwrap();
    out.attributes().iter().map(|a| (a.key().unwrap().to_owned(), a.value().unwrap_or_default().to_owned())).collect()
}

/// TLS 1.2 and up on the HTTPS listener; invalid headers dropped, desync mitigated.
/// Returns the load balancer's ARN.
async fn listener_and_attributes(stack: &Stack) -> String {
    let elbv2 = elbv2().await;
    let lbs = elbv2.describe_load_balancers().names(stack.name_of("edge.alb").await).send().await.unwrap();
    let alb = lbs.load_balancers()[0].load_balancer_arn().unwrap().to_owned();
    assert_eq!(https_policy(&alb).await.as_deref(), Some("ELBSecurityPolicy-TLS13-1-2-2021-06"));
    let attributes = load_balancer_attributes(&alb).await;
    assert_eq!(attributes["routing.http.drop_invalid_header_fields.enabled"], "true");
    assert_eq!(attributes["routing.http.desync_mitigation_mode"], "strictest");
    alb
}

/// The load balancer writes a record of every request into the access-log bucket, and S3
/// one of every request to the artifacts bucket. The bucket is private, under S3's keys
/// (the only ones log delivery writes with), writable by log delivery alone, each under its
/// own prefix and for its own source, and expires what it holds. Returns its name.
async fn access_logs(stack: &Stack, alb: &str) -> String {
    let bucket = stack.name_of("audit.access_logs").await;
    let attributes = load_balancer_attributes(alb).await;
    assert_eq!(attributes["access_logs.s3.enabled"], "true");
    assert_eq!(attributes["access_logs.s3.bucket"], bucket);
    assert_eq!(attributes["access_logs.s3.prefix"], "alb");

    let s3 = s3().await;
    let encryption = s3.get_bucket_encryption().bucket(&bucket).send().await.unwrap();
    let rule = &encryption.server_side_encryption_configuration().unwrap().rules()[0];
    let by_default = rule.apply_server_side_encryption_by_default().unwrap();
    assert_eq!(by_default.sse_algorithm().as_str(), "AES256");
    let blocks = s3.get_public_access_block().bucket(&bucket).send().await.unwrap();
    let b = blocks.public_access_block_configuration().unwrap();
    let all = [b.block_public_acls(), b.ignore_public_acls(), b.block_public_policy(), b.restrict_public_buckets()];
    assert!(all.iter().all(|on| *on == Some(true)), "{b:?}");
    let versioning = s3.get_bucket_versioning().bucket(&bucket).send().await.unwrap();
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    let lifecycle = s3.get_bucket_lifecycle_configuration().bucket(&bucket).send().await.unwrap();
    assert_eq!(lifecycle.rules()[0].expiration().and_then(|e| e.days()), Some(14), "dev.toml keeps two weeks");

    let policy = s3.get_bucket_policy().bucket(&bucket).send().await.unwrap();
    let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    let sid = |s: &str| statements.iter().find(|st| st["Sid"] == s).unwrap_or_else(|| panic!("no {s}: {policy:#}"));
    assert_eq!(sid("DenyRequestsWithoutTls")["Condition"]["Bool"]["aws:SecureTransport"], "false");
    let elb = sid("LoadBalancerAccessLogs");
    assert_eq!(elb["Principal"]["AWS"], "arn:aws:iam::127311923021:root", "us-east-1's Elastic Load Balancing");
    assert_eq!(elb["Resource"], format!("arn:aws:s3:::{bucket}/alb/AWSLogs/123456789012/*"));
    let artifacts = stack.name_of("storage.artifacts").await;
    let from_artifacts = sid("S3AccessLogsOfArtifacts");
    assert_eq!(from_artifacts["Principal"]["Service"], "logging.s3.amazonaws.com");
    assert_eq!(from_artifacts["Condition"]["ArnLike"]["aws:SourceArn"], format!("arn:aws:s3:::{artifacts}"));
    assert_eq!(from_artifacts["Condition"]["StringEquals"]["aws:SourceAccount"], "123456789012");
    assert_eq!(statements.len(), 3, "nothing else may write: {policy:#}");

    let logging = s3.get_bucket_logging().bucket(&artifacts).send().await.unwrap();
    let logging = logging.logging_enabled().expect("the artifacts bucket logs its access");
    assert_eq!(logging.target_bucket(), bucket);
    assert_eq!(logging.target_prefix(), "storage.artifacts.access_log/");
    bucket
}

/// The managed groups the firewall runs, in order, each with whether it only counts.
async fn firewall_rules(name: &str, id: &str) -> Vec<(String, bool)> {
    let scope = aws_sdk_wafv2::types::Scope::Regional;
    let acl = wafv2().await.get_web_acl().name(name).id(id).scope(scope).send().await.unwrap();
    let mut rules: Vec<_> = acl.web_acl().unwrap().rules().to_vec();
    rules.sort_by_key(|r| r.priority());
    rules
        .iter()
        .map(|r| {
            let group = r.statement().unwrap().managed_rule_group_statement().unwrap();
            assert_eq!(group.vendor_name(), "AWS");
            (group.name().to_owned(), r.override_action().unwrap().count().is_some())
        })
        .collect()
}

/// The firewall guards the load balancer with the four managed groups, each blocking, and
/// logs to a group WAF accepts, with the environment's retention. Returns its name and id.
async fn firewall(stack: &Stack, alb: &str) -> (String, String) {
    let waf = wafv2().await;
    let name = stack.name_of("edge.waf").await;
    let listed = waf.list_web_acls().scope(aws_sdk_wafv2::types::Scope::Regional).limit(100).send().await.unwrap();
    let acl = listed.web_acls().iter().find(|a| a.name() == Some(name.as_str())).expect("the web ACL exists");
    let (id, arn) = (acl.id().unwrap().to_owned(), acl.arn().unwrap().to_owned());
    let blocking = |g: &str| (g.to_owned(), false);
    assert_eq!(
        firewall_rules(&name, &id).await,
        [
            blocking("AWSManagedRulesCommonRuleSet"),
            blocking("AWSManagedRulesKnownBadInputsRuleSet"),
            blocking("AWSManagedRulesSQLiRuleSet"),
            blocking("AWSManagedRulesAmazonIpReputationList"),
        ]
    );
    let guarded = waf.list_resources_for_web_acl().web_acl_arn(&arn).send().await.unwrap();
    assert_eq!(guarded.resource_arns(), [alb]);
    let logging = waf.get_logging_configuration().resource_arn(&arn).send().await.unwrap();
    let destination = logging.logging_configuration().unwrap().log_destination_configs()[0].clone();
    let group_name = stack.name_of("edge.waf.logs").await;
    assert!(group_name.starts_with("aws-waf-logs-"), "WAF logs only to such a group: {group_name}");
    assert!(destination.ends_with(&format!(":log-group:{group_name}")), "{destination}");
    let groups = logs().await.describe_log_groups().log_group_name_prefix(&group_name).send().await.unwrap();
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(7), "dev's retention");
    assert!(groups.log_groups()[0].kms_key_id().is_some(), "under the environment's key");
    (name, id)
}

/// The TLS policy of the load balancer's HTTPS listener.
async fn https_policy(alb: &str) -> Option<String> {
    let listeners = elbv2().await.describe_listeners().load_balancer_arn(alb).send().await.unwrap();
    let https = listeners.listeners().iter().find(|l| l.port() == Some(443)).unwrap();
    https.ssl_policy().map(str::to_owned)
}

/// No subnet hands out public addresses, the public ones included.
async fn no_public_addresses(stack: &Stack) {
    let subnets = ec2().await.describe_subnets().filters(stack.filter()).send().await.unwrap();
    let flags: BTreeMap<String, bool> = subnets
        .subnets()
        .iter()
        .map(|s| (tags(s.tags())["paystack:resource"].clone(), s.map_public_ip_on_launch().unwrap_or(true)))
        .collect();
    assert_eq!(flags.len(), 6, "{flags:?}");
    assert!(flags.values().all(|public| !public), "{flags:?}");
}

/// PostgreSQL's log goes to a group paystack made first, with the environment's
/// retention and key.
async fn database_log_export(stack: &Stack) {
    let cluster = stack.name_of("database.cluster").await;
    let described = rds().await.describe_db_clusters().db_cluster_identifier(&cluster).send().await.unwrap();
    assert_eq!(described.db_clusters()[0].enabled_cloudwatch_logs_exports(), ["postgresql"]);
    let group_name = format!("/aws/rds/cluster/{cluster}/postgresql");
    let groups = logs().await.describe_log_groups().log_group_name_prefix(&group_name).send().await.unwrap();
    let group = &groups.log_groups()[0];
    assert_eq!(group.log_group_name(), Some(group_name.as_str()));
    assert_eq!(group.retention_in_days(), Some(7));
    assert!(group.kms_key_id().is_some_and(|k| k.contains(":key/")), "{group:?}");
}

/// Each container runs as its image's unprivileged user on a read-only root, writing only
/// to the task's volume at /tmp.
async fn containers(stack: &Stack) {
    let ecs = ecs().await;
    for (service, user) in [("payments-api", "101"), ("worker", "65534")] {
        let family = stack.name_of(&format!("app.{service}.task")).await;
        let td = ecs.describe_task_definition().task_definition(&family).send().await.unwrap().task_definition.unwrap();
        let container = &td.container_definitions()[0];
        assert_eq!(container.readonly_root_filesystem(), Some(true), "{service}");
        assert_eq!(container.user(), Some(user), "{service}");
        let mounts: Vec<_> = container
            .mount_points()
            .iter()
            .map(|m| (m.source_volume().unwrap(), m.container_path().unwrap()))
            .collect();
        assert_eq!(mounts, [("tmp", "/tmp")], "{service}");
        let volumes: Vec<_> = td.volumes().iter().filter_map(|v| v.name()).collect();
        assert_eq!(volumes, ["tmp"], "{service}");
    }
}

/// Only the execution roles read the database password: the secret's policy refuses
/// everyone else.
async fn secret_readers(stack: &Stack) {
    let secret = stack.name_of("database.secret").await;
    let got = secretsmanager().await.get_resource_policy().secret_id(&secret).send().await.unwrap();
    let policy: Value = serde_json::from_str(got.resource_policy().unwrap()).unwrap();
    let statement = &policy["Statement"][0];
    assert_eq!(
        (statement["Effect"].as_str(), statement["Action"].as_str()),
        (Some("Deny"), Some("secretsmanager:GetSecretValue"))
    );
    let readers = statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"].as_array().unwrap();
    let mut expected = Vec::new();
    for service in ["payments-api", "worker"] {
        let role = stack.name_of(&format!("app.{service}.execution_role")).await;
        expected.push(format!("arn:aws:iam::123456789012:role/paystack/{}/{role}", stack.key()));
    }
    assert_eq!(readers, &expected, "{policy:#}");
}

/// The S3 endpoint lets through the environment's buckets and the image layers, nothing else.
async fn endpoint_policy(stack: &Stack) {
    let endpoints = ec2().await.describe_vpc_endpoints().filters(stack.filter()).send().await.unwrap();
    let policy: Value = serde_json::from_str(endpoints.vpc_endpoints()[0].policy_document().unwrap()).unwrap();
    let artifacts = stack.name_of("storage.artifacts").await;
    let expected: Vec<String> = [artifacts, stack.bucket()]
        .iter()
        .flat_map(|b| [format!("arn:aws:s3:::{b}"), format!("arn:aws:s3:::{b}/*")])
        .collect();
    assert_eq!(policy["Statement"][0]["Resource"], serde_json::json!(expected), "{policy:#}");
    assert_eq!(
        policy["Statement"][1]["Resource"],
        serde_json::json!(["arn:aws:s3:::prod-us-east-1-starport-layer-bucket/*"])
    );
    assert_eq!(policy["Statement"].as_array().unwrap().len(), 2, "{policy:#}");
}

/// Every packet of the VPC is logged, into a group with the environment's retention and
/// key, by a role that may write there alone.
async fn flow_log(stack: &Stack) {
    let flow_logs = ec2().await.describe_flow_logs().filter(stack.filter()).send().await.unwrap();
    let [flow_log] = flow_logs.flow_logs() else { panic!("one flow log: {flow_logs:?}") };
    let vpcs = ec2().await.describe_vpcs().filters(stack.filter()).send().await.unwrap();
    assert_eq!(flow_log.resource_id(), vpcs.vpcs()[0].vpc_id());
    assert_eq!(flow_log.traffic_type().map(|t| t.as_str()), Some("ALL"));
    let group = stack.name_of("network.flow_log.logs").await;
    assert_eq!(flow_log.log_group_name(), Some(group.as_str()));
    let described = logs().await.describe_log_groups().log_group_name_prefix(&group).send().await.unwrap();
    assert_eq!(described.log_groups()[0].retention_in_days(), Some(7));
    let role = stack.name_of("network.flow_log.role").await;
    assert!(flow_log.deliver_logs_permission_arn().is_some_and(|a| a.ends_with(&format!("/{role}"))), "{flow_log:?}");
}

/// The VPC's default group and default ACL are the stack's, and let nothing through: the
/// group has no rule, the ACL only AWS's deny-all ones.
async fn defaults_emptied(stack: &Stack) -> String {
    let ec2 = ec2().await;
    let by_name = ec2::types::Filter::builder().name("group-name").values("default").build();
    let groups = ec2.describe_security_groups().filters(stack.filter()).filters(by_name).send().await.unwrap();
    let [group] = groups.security_groups() else { panic!("the default group is tagged: {groups:?}") };
    assert_eq!((group.ip_permissions().len(), group.ip_permissions_egress().len()), (0, 0), "{group:?}");
    let default = ec2::types::Filter::builder().name("default").values("true").build();
    let acls = ec2.describe_network_acls().filters(stack.filter()).filters(default).send().await.unwrap();
    let [acl] = acls.network_acls() else { panic!("the default ACL is tagged: {acls:?}") };
    let numbers: Vec<i32> = acl.entries().iter().filter_map(|e| e.rule_number()).collect();
    assert!(numbers.iter().all(|n| *n == 32767), "only AWS's deny-all entries: {acl:?}");
    group.group_id().unwrap().to_owned()
}

/// Each role a service takes is held to this account and its resources.
async fn service_trust(stack: &Stack) {
    let iam = iam().await;
    let roles = iam.list_roles().path_prefix(format!("/paystack/{}/", stack.key())).send().await.unwrap();
    assert!(roles.roles().len() >= 4, "the services' roles: {:?}", roles.roles());
    for r in roles.roles() {
        let document = r.assume_role_policy_document().unwrap();
        let trust: Value = serde_json::from_str(&percent_decode_str(document).decode_utf8_lossy()).unwrap();
        let condition = &trust["Statement"][0]["Condition"];
        assert_eq!(condition["StringEquals"]["aws:SourceAccount"], "123456789012", "{}: {trust}", r.role_name());
        let source = match trust["Statement"][0]["Principal"]["Service"].as_str().unwrap() {
            "ecs-tasks.amazonaws.com" => "arn:aws:ecs:us-east-1:123456789012:*".to_owned(),
            "s3.amazonaws.com" => format!("arn:aws:s3:::{}", stack.name_of("storage.artifacts").await),
            "vpc-flow-logs.amazonaws.com" => "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/*".to_owned(),
            other => panic!("{}: trusts {other}", r.role_name()),
        };
        assert_eq!(condition["ArnLike"]["aws:SourceArn"], source.as_str(), "{}", r.role_name());
    }
}

#[tokio::test]
async fn dev_holds_every_control_and_the_edge_s_change_in_place() {
    let stack = Stack::new("dev", "hardening");
    stack.apply();
    // Each part on the heap: together their futures outgrow a test thread's stack.
    let alb = Box::pin(listener_and_attributes(&stack)).await;
    let access_log_bucket = Box::pin(access_logs(&stack, &alb)).await;
    let (acl_name, acl_id) = Box::pin(firewall(&stack, &alb)).await;
    Box::pin(no_public_addresses(&stack)).await;
    Box::pin(database_log_export(&stack)).await;
    Box::pin(containers(&stack)).await;
    Box::pin(secret_readers(&stack)).await;
    Box::pin(endpoint_policy(&stack)).await;
    Box::pin(flow_log(&stack)).await;
    Box::pin(service_trust(&stack)).await;
    let default_group = Box::pin(defaults_emptied(&stack)).await;

    // Someone opens the default group: drift names it, and apply empties it again.
    crate::support::open_to_the_internet(&default_group, 22).await;
    let drift = stack.run(&["drift", "--json"]).code(2).json();
    assert!(drift.to_string().contains("network.default_sg"), "{drift:#}");
    stack.apply();
    Box::pin(defaults_emptied(&stack)).await;

    // Someone relaxes desync mitigation by hand: check names it, and apply puts it back in place.
    let relaxed = LoadBalancerAttribute::builder().key("routing.http.desync_mitigation_mode").value("defensive");
    elbv2()
        .await
        .modify_load_balancer_attributes()
        .load_balancer_arn(&alb)
        .attributes(relaxed.build())
        .send()
        .await
        .unwrap();
    let report = stack.run(&["check", "--json"]).code(2).json();
    let rules: Vec<&str> = report["violations"].as_array().unwrap().iter().filter_map(|v| v["rule"].as_str()).collect();
    assert_eq!(rules, ["alb-request-hardening"], "{report:#}");

    // A newer TLS policy in config, and the SQL injection group set to count while it is
    // tried: the listener, the load balancer and the firewall change in place.
    stack.edit_config("dev.toml", |t| t + "\n[load_balancer]\ntls_policy = \"ELBSecurityPolicy-TLS13-1-3-2021-06\"\n");
    let counting = "[waf]\nrule_groups = [\n  { name = \"AWSManagedRulesCommonRuleSet\" },\n  { name = \"AWSManagedRulesKnownBadInputsRuleSet\" },\n  { name = \"AWSManagedRulesSQLiRuleSet\", action = \"count\" },\n  { name = \"AWSManagedRulesAmazonIpReputationList\" },\n]\n";
    stack.edit_config("dev.toml", |t| t.replace("[waf]\n", counting));
    let plan = stack.run(&["plan", "--json"]).success().json();
    assert_eq!(
        changes(&plan),
        [
            ("edge.alb".to_owned(), "update".to_owned()),
            ("edge.listener.https".to_owned(), "update".to_owned()),
            ("edge.waf".to_owned(), "update".to_owned())
        ]
    );
    stack.apply();
    let sqli = ("AWSManagedRulesSQLiRuleSet".to_owned(), true);
    assert_eq!(firewall_rules(&acl_name, &acl_id).await[2], sqli, "the same ACL, now only counting SQL injection");
    assert_eq!(https_policy(&alb).await.as_deref(), Some("ELBSecurityPolicy-TLS13-1-3-2021-06"));
    assert_eq!(load_balancer_attributes(&alb).await["routing.http.desync_mitigation_mode"], "strictest");
    stack.run(&["plan", "--detailed-exitcode"]).code(0);
    stack.run(&["check"]).code(0);

    // The logs that arrived meanwhile do not keep destroy from taking the bucket.
    for key in ["alb/AWSLogs/123456789012/elasticloadbalancing/log.gz", "storage.artifacts.access_log/2026-12-03"] {
        let body = aws_sdk_s3::primitives::ByteStream::from_static(b"a request");
        s3().await.put_object().bucket(&access_log_bucket).key(key).body(body).send().await.unwrap();
    }
    stack.run(&["destroy", "--yes"]).success();
    let listed = s3().await.list_buckets().prefix(&access_log_bucket).send().await.unwrap();
    assert!(listed.buckets().is_empty(), "the access-log bucket is gone with its logs");
    let left = crate::support::live_resources(&stack).await;
    assert!(left.is_empty(), "nothing is left: {left:#?}");
}
