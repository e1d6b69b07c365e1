//! How platform engineers work a stack from the command line: one layer at a time with
//! `--target`, a saved plan applied by its file alone, `state rm`, one output for a script,
//! and the commands that messages suggest, which must reach the same stack when pasted.

use std::process::Stdio;

use crate::support::{Run, Stack, changes, live_counts};

/// `paystack ARGS` for `stack` with no terminal on stdin, as in CI.
fn without_terminal(stack: &Stack, args: &[&str]) -> Run {
    Run::from(stack.command(args).stdin(Stdio::null()).output().unwrap())
}

/// The ids a plan would change, with their actions.
fn planned(stack: &Stack, args: &[&str]) -> Vec<(String, String)> {
    let mut all = vec!["plan", "--json"];
    all.extend_from_slice(args);
    changes(&stack.run(&all).success().json())
}

#[tokio::test]
async fn a_target_plans_applies_and_destroys_only_its_closure() {
    let stack = Stack::new("dev", "target");
    let sg = ["--target", "network.igw"];

    // The plan says it is partial, and holds the group and the VPC it lives in.
    let text = stack.run(&["plan", "--target", "network.igw"]).success().stdout;
    assert!(text.starts_with("This plan is partial: only `network.igw` and what they depend on."), "{text}");
    assert_eq!(
        planned(&stack, &sg),
        [("network.igw".to_owned(), "create".to_owned()), ("network.vpc".to_owned(), "create".to_owned())]
    );
    let typo = stack.run(&["plan", "--target", "securty"]).code(1);
    assert!(typo.stderr.contains("--target securty names no resource"), "{}", typo.stderr);

    // Without a terminal the refusal suggests this very command, targets and all.
    let refused = without_terminal(&stack, &["apply", "--target", "network.igw"]).code(1);
    let again = format!("paystack apply {} --target network.igw --yes", stack.typed());
    assert!(refused.stderr.contains(&again), "expected `{again}` in:\n{}", refused.stderr);

    let applied = stack.run(&["apply", "-y", "--target", "network.igw"]).success().stdout;
    assert!(applied.contains("Apply complete: 2 created, in "), "{applied}");
    let live = live_counts(&stack).await;
    assert_eq!((live["vpc"], live["internet_gateway"], live["subnet"], live["s3_bucket"]), (1, 1, 0, 0), "{live:?}");
    let listed = stack.run(&["state", "list"]).success().stdout;
    assert_eq!(listed.lines().count(), 2, "{listed}");

    // The rest of the stack is still to be made; what was made is settled.
    let whole = planned(&stack, &[]);
    assert!(!whole.iter().any(|(id, _)| id == "network.vpc" || id == "network.igw"), "{whole:?}");
    assert!(whole.iter().all(|(_, action)| action == "create"), "{whole:?}");

    // Destroying the VPC takes what depends on it, and says so before it starts.
    let destroy_plan = planned(&stack, &["--destroy", "--target", "network.vpc"]);
    assert_eq!(
        destroy_plan,
        [("network.igw".to_owned(), "delete".to_owned()), ("network.vpc".to_owned(), "delete".to_owned())]
    );
    let refused = without_terminal(&stack, &["destroy", "--target", "network.vpc", "--override-protection"]).code(1);
    let again = format!("paystack destroy {} --target network.vpc --override-protection --yes", stack.typed());
    assert!(refused.stderr.contains(&again), "expected `{again}` in:\n{}", refused.stderr);
    let destroyed = stack.run(&["destroy", "--yes", "--target", "network.vpc"]).success().stdout;
    assert!(destroyed.contains("Destroy complete: 2 deleted, in "), "only what happened is counted: {destroyed}");
    assert!(live_counts(&stack).await.values().all(|n| *n == 0), "nothing is left");
}

#[test]
fn a_saved_plan_is_applied_by_its_file_alone() {
    let stack = Stack::new("dev", "savedfile");
    let file = stack.state.path().join("vpc.plan");
    let file = file.to_str().unwrap();
    stack.run(&["plan", "--target", "network.vpc", "--out", file]).success();
    // No --env: the plan says which stack, and which targets, it was made for.
    let run = Run::from(stack.command_for_every_env(&["apply", file]).output().unwrap()).success();
    assert!(run.stdout.contains("Apply complete: 1 created"), "{}", run.stdout);
    let other = Run::from(stack.command_for_every_env(&["apply", file, "--target", "edge"]).output().unwrap()).code(1);
    assert!(other.stderr.contains("was planned for network.vpc"), "{}", other.stderr);
    stack.run(&["destroy", "--yes"]).success();
}

#[tokio::test]
async fn state_rm_forgets_without_deleting_and_outputs_are_read_one_by_one() {
    let stack = Stack::new("dev", "staterm");
    stack.run(&["apply", "--yes", "--target", "network.igw"]).success();

    // One output, bare for a shell; quoted JSON without --raw.
    let vpc = stack.run(&["output", "vpc_id", "--raw"]).success().stdout;
    assert!(vpc.starts_with("vpc-") && vpc.ends_with('\n') && !vpc.contains('"'), "{vpc:?}");
    let quoted = stack.run(&["output", "vpc_id"]).success().stdout;
    assert_eq!(quoted.trim(), format!("\"{}\"", vpc.trim()));
    let unknown = stack.run(&["output", "vpc"]).code(1);
    assert!(unknown.stderr.contains("has no output `vpc`") && unknown.stderr.contains("vpc_id"), "{}", unknown.stderr);
    let unmade = stack.run(&["output", "alb_dns_name"]).code(1);
    assert!(unmade.stderr.contains("comes from a resource not applied yet"), "{}", unmade.stderr);

    // Without a terminal, nothing is forgotten unasked.
    let refused = without_terminal(&stack, &["state", "rm", "network.igw"]).code(1);
    assert!(
        refused.stderr.contains(&format!("paystack state rm {} network.igw --yes", stack.typed())),
        "{}",
        refused.stderr
    );
    let missing = stack.run(&["state", "rm", "network.nothing", "--yes"]).code(1);
    assert!(missing.stderr.contains("`network.nothing` is not in the state"), "{}", missing.stderr);

    stack.run(&["state", "rm", "network.igw", "-y"]).success();
    let listed = stack.run(&["state", "list"]).success().stdout;
    assert!(!listed.contains("network.igw") && listed.contains("network.vpc"), "{listed}");
    assert_eq!(live_counts(&stack).await["internet_gateway"], 1, "the gateway is still in AWS");
    // Still in the configuration and still tagged: the next run adopts it, creating nothing.
    assert_eq!(planned(&stack, &["--target", "network.igw"]), []);
    stack.run(&["apply", "--yes", "--target", "network.igw"]).success();
    assert!(stack.run(&["state", "list"]).success().stdout.contains("network.igw"));

    stack.run(&["destroy", "--yes"]).success();
    let after = stack.run(&["output"]).success();
    assert_eq!(after.stdout, "");
    assert!(after.stderr.contains("has no outputs: nothing of it is applied"), "{}", after.stderr);
}

#[test]
fn a_mistake_in_one_environment_does_not_hold_up_reading_another() {
    let stack = Stack::new("dev", "othertypo");
    stack.edit_config("staging.toml", |t| format!("{t}nat_gatways = 2\n"));
    for args in [&["state", "list"][..], &["output"], &["graph"], &["unlock", "no-such-lock"]] {
        let run = stack.run(args);
        assert!(!run.stderr.contains("staging.toml"), "`{args:?}` read staging's file:\n{}", run.stderr);
    }
    stack.run(&["state", "list"]).success();
    // What plans and changes still checks every environment, and points at the mistake.
    let plan = stack.run(&["plan"]).code(1);
    assert!(plan.stderr.contains("staging.toml") && plan.stderr.contains("nat_gatways"), "{}", plan.stderr);
}

#[test]
fn small_things_a_terminal_user_notices() {
    let stack = Stack::uninitialised("dev", "small");
    let typo = Run::from(stack.command_for_every_env(&["output", "--env", "prd"]).output().unwrap()).code(1);
    assert!(typo.stderr.contains("did you mean `prod`?"), "{}", typo.stderr);
    assert!(!typo.stderr.contains("configuration is invalid"), "{}", typo.stderr);
    let missing = Run::from(
        std::process::Command::new(crate::support::binary())
            .args(["--config", "/nonexistent", "plan", "--env", "dev"])
            .output()
            .unwrap(),
    )
    .code(1);
    assert!(missing.stderr.contains("the configuration directory /nonexistent does not exist"), "{}", missing.stderr);
    let version =
        Run::from(std::process::Command::new(crate::support::binary()).arg("--version").output().unwrap()).success();
    assert!(version.stdout.starts_with(&format!("paystack {} (", env!("CARGO_PKG_VERSION"))), "{}", version.stdout);
    let config = stack.config.path().to_str().unwrap();
    let envs = Run::from(
        std::process::Command::new(crate::support::binary()).args(["--config", config, "envs"]).output().unwrap(),
    )
    .success();
    let rows: Vec<&str> = envs.stdout.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(rows, ["environment", "dev", "staging", "prod"]);
    assert!(envs.stdout.lines().nth(3).unwrap().contains("yes"), "prod is protected: {}", envs.stdout);
}

#[test]
fn completions_parse_in_bash() {
    let script =
        Run::from(std::process::Command::new(crate::support::binary()).args(["completions", "bash"]).output().unwrap())
            .success();
    assert!(script.stdout.contains("--target") && script.stdout.contains("--override-protection"));
    let mut bash = std::process::Command::new("bash").arg("-n").stdin(Stdio::piped()).spawn().unwrap();
    use std::io::Write as _;
    bash.stdin.take().unwrap().write_all(script.stdout.as_bytes()).unwrap();
    assert!(bash.wait().unwrap().success(), "bash -n refused the script");
}

/// `import`: a VPC made by hand is adopted as `network.vpc` (tagged, recorded), the next plan
/// of it only updates it, apply makes no second VPC, and a plan after that is empty. A
/// resource of another kind, another stack's resource, a kind with no tags of its own and
/// an address the configuration does not have are refused, changing nothing.
#[tokio::test]
async fn import_adopts_a_hand_made_resource_and_refuses_what_it_cannot_own() {
    use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
    let stack = Stack::new("dev", "import");
    let ec2 = crate::support::ec2().await;
    let vpc = |tags: Vec<Tag>| {
        let ec2 = ec2.clone();
        async move {
            let spec = TagSpecification::builder().resource_type(ResourceType::Vpc).set_tags(Some(tags)).build();
            let mut create = ec2.create_vpc().cidr_block("10.0.0.0/16");
            if !spec.tags().is_empty() {
                create = create.tag_specifications(spec);
            }
            create.send().await.unwrap().vpc.unwrap().vpc_id.unwrap()
        }
    };
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    let by_hand = vpc(vec![]).await;
    let theirs = vpc(vec![tag("paystack:stack", "dev-someone-else"), tag("paystack:resource", "network.vpc")]).await;

    let refused = stack.run(&["import", "network.vpc", &theirs]).code(1);
    assert!(
        refused.stderr.contains("is already the resource `network.vpc` of the stack `dev-someone-else`"),
        "{}",
        refused.stderr
    );
    let wrong = stack.run(&["import", "network.subnet.public.a", &by_hand]).code(1);
    assert!(wrong.stderr.contains("its id starts with `subnet-`"), "{}", wrong.stderr);
    let untaggable = stack.run(&["import", "edge.dns", "Z123"]).code(1);
    assert!(untaggable.stderr.contains("a route53.record cannot be imported"), "{}", untaggable.stderr);
    let unknown = stack.run(&["import", "network.vpcc", &by_hand]).code(1);
    assert!(unknown.stderr.contains("`network.vpcc` is not a resource of"), "{}", unknown.stderr);
    let tags_of = |id: String| {
        let ec2 = ec2.clone();
        async move {
            let out = ec2.describe_vpcs().vpc_ids(id).send().await.unwrap();
            crate::support::tags(out.vpcs()[0].tags())
        }
    };
    assert!(tags_of(by_hand.clone()).await.is_empty(), "the refusals changed nothing");

    let imported = stack.run(&["import", "network.vpc", &by_hand]).success();
    assert!(imported.stdout.contains(&format!("Imported `network.vpc` (ec2.vpc) as {by_hand}")), "{}", imported.stdout);
    let tags = tags_of(by_hand.clone()).await;
    assert_eq!(tags.get("paystack:stack"), Some(&stack.key()));
    assert_eq!(tags.get("paystack:resource").map(String::as_str), Some("network.vpc"));
    let shown = stack.run(&["state", "show", "network.vpc"]).success().json();
    assert_eq!(shown["aws_id"], by_hand.as_str());
    let again = stack.run(&["import", "network.vpc", &by_hand]).code(1);
    assert!(again.stderr.contains("`network.vpc` is already managed"), "{}", again.stderr);

    // The next plan updates it to what the configuration wants, and makes nothing new.
    let plan = stack.run(&["plan", "--json", "--target", "network.vpc"]).success().json();
    assert_eq!(changes(&plan), [("network.vpc".to_owned(), "update".to_owned())], "{plan}");
    stack.run(&["apply", "--yes", "--target", "network.vpc"]).success();
    stack.run(&["plan", "--detailed-exitcode", "--target", "network.vpc"]).code(0);
    let owned = ec2.describe_vpcs().filters(stack.filter()).send().await.unwrap();
    assert_eq!(owned.vpcs().iter().map(|v| v.vpc_id().unwrap()).collect::<Vec<_>>(), [by_hand.as_str()]);
    assert_eq!(
        tags_of(by_hand.clone()).await.get("Name").map(String::as_str),
        Some(format!("dev-us-east-1-network-vpc-{}", stack.suffix).as_str())
    );

    stack.run(&["destroy", "--yes"]).success();
    ec2.delete_vpc().vpc_id(theirs).send().await.unwrap();
    assert!(ec2.describe_vpcs().vpc_ids(&by_hand).send().await.is_err(), "destroy deleted the imported VPC");
}
