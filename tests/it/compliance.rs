//! `check`: the compliance rules held against what apply made, then against three changes
//! made by hand through the SDK, one at a time, as someone in the console would. Each is
//! named exactly; apply removes each (the group's rule, the role's extra policy, the
//! bucket's suspended versioning), and then everything complies again.

use serde_json::{Value, json};

use crate::support::{Stack, ec2, elbv2, iam, s3};

/// `check --json`'s violations as `(rule, resource, expected, actual)`.
fn violations(report: &Value) -> Vec<(String, String, String, String)> {
    let field = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    report["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (field(v, "rule"), field(v, "resource"), field(v, "expected"), field(v, "actual")))
        .collect()
}

/// The one violation `check` finds now, after which apply puts it right.
fn only_violation(stack: &Stack) -> (String, String, String, String) {
    let report = stack.run(&["check", "--json"]).code(2).json();
    assert_eq!(report["compliant"], false);
    let found = violations(&report);
    assert_eq!(found.len(), 1, "{report:#}");
    let text = stack.run(&["check"]).code(2);
    assert!(text.stdout.contains("1 violation of 1 rule."), "{}", text.stdout);
    stack.apply();
    stack.run(&["check"]).code(0);
    found.into_iter().next().unwrap()
}

#[tokio::test]
async fn check_passes_after_apply_and_names_exactly_each_change_made_by_hand() {
    let stack = Stack::new("dev", "check");
    stack.apply();
    let report = stack.run(&["check", "--json"]).code(0).json();
    assert_eq!(report["compliant"], true);
    assert_eq!(report["violations"], json!([]));
    let rules: Vec<&str> = report["rules"].as_array().unwrap().iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(rules.len(), 15, "{rules:?}");
    assert!(report["resources_checked"].as_u64().unwrap() > 70, "{report:#}");
    let out = stack.run(&["output", "--json"]).success().json();

    // The HTTPS listener's TLS policy, as AWS holds it.
    let elbv2 = elbv2().await;
    let lbs = elbv2.describe_load_balancers().names(stack.name_of("edge.alb").await).send().await.unwrap();
    let alb = lbs.load_balancers()[0].load_balancer_arn().unwrap();
    let listeners = elbv2.describe_listeners().load_balancer_arn(alb).send().await.unwrap();
    let https = listeners.listeners().iter().find(|l| l.port() == Some(443)).unwrap();
    assert_eq!(https.ssl_policy(), Some("ELBSecurityPolicy-TLS13-1-2-2021-06"));

    // 1. Postgres opened to the internet.
    let db_sg = out["security_group_ids"]["db"].as_str().unwrap();
    let postgres = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(5432)
        .to_port(5432)
        .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build();
    ec2().await.authorize_security_group_ingress().group_id(db_sg).ip_permissions(postgres).send().await.unwrap();
    let (rule, resource, expected, actual) = only_violation(&stack);
    assert_eq!(
        (rule.as_str(), resource.as_str(), expected.as_str(), actual.as_str()),
        ("open-ingress", "security.sg.db", "no ingress from anywhere", "0.0.0.0/0 on tcp port 5432")
    );

    // 2. The artifacts bucket's versioning suspended.
    let bucket = out["artifacts_bucket"].as_str().unwrap();
    let suspended = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
        .build();
    s3().await.put_bucket_versioning().bucket(bucket).versioning_configuration(suspended).send().await.unwrap();
    let (rule, resource, _, actual) = only_violation(&stack);
    assert_eq!(
        (rule.as_str(), resource.as_str(), actual.as_str()),
        ("bucket-versioning", "storage.artifacts", "`versioning` is false")
    );

    // 3. A policy of its own on a role, allowing every action.
    let role = stack.name_of("app.payments-api.task_role").await;
    let everything = json!({ "Version": "2012-10-17", "Statement": [
        { "Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::elsewhere/*" }
    ]});
    let iam = iam().await;
    iam.put_role_policy()
        .role_name(&role)
        .policy_name("debugging")
        .policy_document(everything.to_string())
        .send()
        .await
        .unwrap();
    let (rule, resource, _, actual) = only_violation(&stack);
    assert_eq!(
        (rule.as_str(), resource.as_str(), actual.as_str()),
        ("iam-wildcard-action", "app.payments-api.task_role", "policy `debugging`: allows `*`")
    );
    let left = iam.list_role_policies().role_name(&role).send().await.unwrap();
    assert_eq!(left.policy_names(), ["paystack"], "apply removed the policy added by hand");

    stack.run(&["plan", "--detailed-exitcode"]).code(0);
    stack.run(&["destroy", "--yes"]).success();
    let left = crate::support::live_resources(&stack).await;
    assert!(left.is_empty(), "nothing is left: {left:#?}");
    let after = stack.run(&["check"]).code(0);
    assert!(after.stdout.contains("Nothing of"), "{}", after.stdout);
}
