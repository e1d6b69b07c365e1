//! `check`: the compliance rules held against what apply made, then against three changes
//! made by hand through the SDK, one at a time, as someone in the console would. Each is
//! named exactly; apply removes each (the group's rule, the role's extra policy, the
//! bucket's suspended versioning), and then everything complies again.

use serde_json::{Value, json};

use crate::support::{Stack, elbv2, iam, open_to_the_internet, s3};

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
    assert_eq!(rules.len(), 23, "{rules:?}");
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
    open_to_the_internet(db_sg, 5432).await;
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

/// A recorded CloudTrail event, as EventBridge delivers it, with this stack's resource in
/// place of `placeholder`; written beside the stack's configuration.
fn recorded_event(stack: &Stack, file: &str, placeholder: &str, resource: &str) -> String {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cloudtrail");
    let text = std::fs::read_to_string(fixtures.join(file)).unwrap().replace(placeholder, resource);
    let path = stack.config.path().join(file);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// What the environment's topic delivered to `queue` since the last look, as
/// (subject, attributes).
async fn delivered(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
) -> Vec<(String, std::collections::BTreeMap<String, String>)> {
    let received = sqs.receive_message().queue_url(queue).max_number_of_messages(10).send().await.unwrap();
    let mut out = Vec::new();
    for m in received.messages() {
        let envelope: Value = serde_json::from_str(m.body().unwrap()).unwrap();
        let attributes = envelope["MessageAttributes"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v["Value"].as_str().unwrap().to_owned()))
            .collect();
        out.push((envelope["Subject"].as_str().unwrap().to_owned(), attributes));
        sqs.delete_message().queue_url(queue).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
    }
    out
}

#[tokio::test]
async fn an_event_that_breaks_a_rule_is_published_once_and_one_that_does_not_never() {
    let stack = Stack::new("dev", "events");
    stack.apply();
    let out = stack.run(&["output", "--json"]).success().json();
    let sqs = aws_sdk_sqs::Client::new(&crate::support::sdk_config().await);
    let queue = sqs.create_queue().queue_name(format!("compliance-{}", stack.suffix)).send().await.unwrap();
    let queue = queue.queue_url().unwrap().to_owned();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn = attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    let topic = out["sns_topic_arn"].as_str().unwrap();
    crate::support::sns().await.subscribe().topic_arn(topic).protocol("sqs").endpoint(&queue_arn).send().await.unwrap();

    // Postgres opened to the internet, and the event CloudTrail records for it.
    let db_sg = out["security_group_ids"]["db"].as_str().unwrap();
    open_to_the_internet(db_sg, 5432).await;
    let opened = recorded_event(&stack, "authorize-security-group-ingress.json", "{GROUP_ID}", db_sg);
    let report = stack.run(&["check", "--event", &opened, "--notify", "--json"]).code(2).json();
    assert_eq!(report["resources_checked"], 1, "only the group the event names: {report:#}");
    assert_eq!(
        violations(&report),
        [(
            "open-ingress".to_owned(),
            "security.sg.db".to_owned(),
            "no ingress from anywhere".to_owned(),
            "0.0.0.0/0 on tcp port 5432".to_owned()
        )]
    );
    let messages = delivered(&sqs, &queue).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let (subject, attributes) = &messages[0];
    assert!(subject.contains("security.sg.db") && subject.contains("open-ingress"), "{subject}");
    assert_eq!(
        (attributes["environment"].as_str(), attributes["rule"].as_str(), attributes["resource"].as_str()),
        ("dev", "open-ingress", "security.sg.db")
    );

    // The log group's retention set to what the environment configures: nothing is broken,
    // nothing is sent.
    let log_group = stack.name_of("app.payments-api.logs").await;
    crate::support::logs()
        .await
        .put_retention_policy()
        .log_group_name(&log_group)
        .retention_in_days(7)
        .send()
        .await
        .unwrap();
    let kept = recorded_event(&stack, "put-retention-policy.json", "{LOG_GROUP}", &log_group);
    let run = stack.run(&["check", "--event", &kept, "--notify"]).code(0);
    assert!(run.stdout.contains("Checked 1 resource of"), "{}", run.stdout);
    assert_eq!(delivered(&sqs, &queue).await, [], "a change that breaks nothing sends nothing");

    // A file that is no CloudTrail event is refused before any call.
    let junk = stack.config.path().join("junk.json");
    std::fs::write(&junk, "{\"detail\": {}}").unwrap();
    let refused = stack.run(&["check", "--event", junk.to_str().unwrap()]).code(1);
    assert!(refused.stderr.contains("has no `eventSource`"), "{}", refused.stderr);

    stack.apply();
    stack.run(&["destroy", "--yes"]).success();
}
