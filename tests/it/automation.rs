//! What the platform runs to watch itself, turned on in a dev stack: the compliance
//! function with its EventBridge rules and permissions, and drift on a schedule. Each piece
//! is read back through the SDK; a second plan is empty; the function's handler, run
//! in-process with the variables apply gave the function, publishes exactly one message for
//! an event that breaks a rule and none for one that does not; destroy leaves nothing.

use serde_json::{Value, json};

use crate::support::{Stack, function_package, open_to_the_internet, sdk_config};

fn watching(stack: &Stack) {
    assert!(
        function_package().exists(),
        "{} is missing: build it with `scripts/package-function --profile dev` (scripts/test does)",
        function_package().display()
    );
    stack.edit_config("dev.toml", |t| {
        format!("{t}\n[compliance]\nfunction = true\n\n[drift.schedule]\nenabled = true\n")
    });
}

#[tokio::test]
async fn the_compliance_function_and_the_drift_schedule_are_deployed_least_privileged_and_go_with_destroy() {
    let stack = Stack::new("dev", "watch");
    watching(&stack);
    stack.apply();
    let config = sdk_config().await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let scheduler = aws_sdk_scheduler::Client::new(&config);
    let out = stack.run(&["output", "--json"]).success().json();

    // The function: the Rust binary on provided.al2023, its code the package's, its logs in
    // the stack's group, its variables naming the stack and the topic.
    let name = stack.name_of("compliance.function").await;
    let f = lambda.get_function_configuration().function_name(&name).send().await.unwrap();
    assert_eq!(f.runtime().map(|r| r.as_str()), Some("provided.al2023"));
    assert_eq!(f.handler(), Some("bootstrap"));
    let variables = f.environment().and_then(|e| e.variables()).cloned().unwrap();
    assert_eq!(variables["PAYSTACK_STACK"], stack.key());
    assert_eq!(variables["PAYSTACK_TOPIC_ARN"], out["sns_topic_arn"].as_str().unwrap());
    assert_eq!(f.kms_key_arn(), out["kms_key_arn"].as_str());
    assert_eq!(f.logging_config().and_then(|l| l.log_group()), Some(stack.name_of("compliance.logs").await.as_str()));
    let role = f.role().unwrap().rsplit('/').next().unwrap().to_owned();
    let iam_role = crate::support::iam().await.get_role().role_name(&role).send().await.unwrap();
    assert_eq!(iam_role.role().unwrap().path(), format!("/paystack/{}/", stack.key()));
    let policy = crate::support::iam().await.get_role_policy().role_name(&role).policy_name("paystack").send().await;
    let text = percent_decode(policy.unwrap().policy_document());
    assert!(!text.contains("GetSecretValue"), "the function's role never reads a secret: {text}");
    assert!(text.contains("sns:Publish") && text.contains("ec2:Describe*"), "{text}");

    // One rule per watched service, each with an explicit list of calls and one source, each
    // targeting the function, and each the only ARN its permission lets invoke it.
    let rules = events.list_rules().name_prefix("dev-us-east-1-compliance-").send().await.unwrap();
    let ours: Vec<_> =
        rules.rules().iter().filter(|r| r.name().unwrap().ends_with(&format!("-{}", stack.suffix))).collect();
    assert_eq!(ours.len(), paystack_platform::watch::watched().len(), "{ours:?}");
    let policy: Value =
        serde_json::from_str(lambda.get_policy().function_name(&name).send().await.unwrap().policy().unwrap()).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), ours.len());
    for rule in &ours {
        let pattern: Value = serde_json::from_str(rule.event_pattern().unwrap()).unwrap();
        let sources = pattern["source"].as_array().unwrap();
        assert_eq!(sources.len(), 1);
        assert!(!sources[0].as_str().unwrap().contains('*'));
        assert_eq!(pattern["detail-type"], json!(["AWS API Call via CloudTrail"]));
        assert!(!pattern["detail"]["eventName"].as_array().unwrap().is_empty());
        let targets = events.list_targets_by_rule().rule(rule.name().unwrap()).send().await.unwrap();
        assert_eq!(targets.targets().iter().map(|t| t.arn()).collect::<Vec<_>>(), [f.function_arn().unwrap()]);
        let allows: Vec<&Value> =
            statements.iter().filter(|s| s.to_string().contains(&format!("\"{}\"", rule.arn().unwrap()))).collect();
        assert_eq!(allows.len(), 1, "exactly one statement lets {} invoke", rule.name().unwrap());
        assert_eq!(allows[0]["Principal"]["Service"], "events.amazonaws.com");
    }

    // The schedule: RunTask of the drift task on Fargate in the private subnets, no public
    // address, through the scheduler's own role.
    let schedule = scheduler.get_schedule().name(format!("{}.drift.schedule", stack.key())).send().await.unwrap();
    assert_eq!(schedule.schedule_expression(), Some("rate(15 minutes)"));
    let target = schedule.target().unwrap();
    assert_eq!(target.arn(), out["ecs_cluster_arn"].as_str().unwrap());
    assert!(target.role_arn().contains("drift-scheduler-role"), "{}", target.role_arn());
    let ecs = target.ecs_parameters().unwrap();
    let vpc = ecs.network_configuration().unwrap().awsvpc_configuration().unwrap();
    let private: Vec<&str> =
        out["private_subnet_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(vpc.subnets(), private);
    assert_eq!(vpc.security_groups(), [out["security_group_ids"]["app"].as_str().unwrap()]);
    assert_eq!(vpc.assign_public_ip().map(|a| a.as_str()), Some("DISABLED"));
    let task = crate::support::ecs()
        .await
        .describe_task_definition()
        .task_definition(ecs.task_definition_arn())
        .send()
        .await
        .unwrap();
    let container = &task.task_definition().unwrap().container_definitions()[0];
    assert_eq!(
        container.command(),
        ["drift", "--env", "dev", "--suffix", stack.suffix.as_str(), "--notify", "--no-assume-role"]
    );

    // Nothing to change on a second plan.
    stack.run(&["plan", "--detailed-exitcode"]).code(0);

    // The handler, with the variables apply gave the function: one message for Postgres
    // opened to the internet, none for a change that breaks nothing.
    let settings = paystack_function::Settings::from_variables(|k| variables.get(k).cloned()).unwrap();
    let handler = paystack_function::Handler::from_env("us-east-1", settings).await.unwrap();
    let db = out["security_group_ids"]["db"].as_str().unwrap();
    open_to_the_internet(db, 5432).await;
    let event = recorded("authorize-security-group-ingress.json", "{GROUP_ID}", db);
    let outcome = handler.handle(&event).await.unwrap();
    assert_eq!(outcome.checked, ["security.sg.db"]);
    assert_eq!(outcome.published.len(), 1, "{outcome:?}");
    let log_group = stack.name_of("app.payments-api.logs").await;
    let kept = recorded("put-retention-policy.json", "{LOG_GROUP}", &log_group);
    let outcome = handler.handle(&kept).await.unwrap();
    assert_eq!((outcome.checked.len(), outcome.published.len()), (1, 0), "{outcome:?}");

    // Destroy takes all of it.
    stack.run(&["destroy", "--yes"]).success();
    let functions = lambda.list_functions().send().await.unwrap();
    assert!(functions.functions().iter().all(|f| f.function_name() != Some(name.as_str())));
    let rules = events.list_rules().name_prefix("dev-us-east-1-compliance-").send().await.unwrap();
    assert!(rules.rules().iter().all(|r| !r.name().unwrap().ends_with(&format!("-{}", stack.suffix))));
    let schedules = scheduler.list_schedules().send().await.unwrap();
    assert!(schedules.schedules().iter().all(|s| s.name() != Some(format!("{}.drift.schedule", stack.key()).as_str())));
}

/// A recorded CloudTrail event with this stack's resource in place of `placeholder`.
fn recorded(file: &str, placeholder: &str, resource: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cloudtrail").join(file);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap().replace(placeholder, resource)).unwrap()
}

/// IAM returns policy documents URL-encoded.
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}
