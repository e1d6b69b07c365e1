//! The S3 and DynamoDB state backend: the shared conformance suite, `init`, and plans saved
//! for a later apply.

use std::sync::Arc;

use async_trait::async_trait;
use paystack_state::StateBackend;
use paystack_state::conformance::Opener;

use crate::support::{Stack, dynamodb, s3};

/// One bucket and table for the whole suite; each check works on its own stack key in it.
struct Remote;

static BACKEND: tokio::sync::OnceCell<paystack_aws::StateLocation> = tokio::sync::OnceCell::const_new();

#[async_trait]
impl Opener for Remote {
    async fn open(&self, stack: &str) -> Arc<dyn StateBackend> {
        let pool = paystack_aws::ClientPool::from_env("us-east-1").await;
        let clients = pool.clients(&paystack_aws::Target { region: "us-east-1".into(), role: None }).await.unwrap();
        let at = BACKEND
            .get_or_init(|| async {
                let at = paystack_aws::StateLocation {
                    bucket: "it-conformance-state".into(),
                    lock_table: "it-conformance-locks".into(),
                };
                paystack_aws::init(&clients, "us-east-1", &at, &[]).await.unwrap();
                at
            })
            .await;
        Arc::new(paystack_aws::RemoteBackend::new(&clients, at, stack))
    }
}

mod conformance {
    paystack_state::conformance_suite!(super::Remote);
}

#[tokio::test]
async fn init_creates_a_versioned_encrypted_private_bucket_and_an_on_demand_table() {
    let stack = Stack::uninitialised("staging", "init");
    let first = stack.run(&["init"]).success();
    assert!(first.stdout.contains(&format!("S3 bucket s3://{} ", stack.bucket())), "{}", first.stdout);
    assert!(first.stdout.contains("created"), "{}", first.stdout);

    let s3 = s3().await;
    let bucket = stack.bucket();
    let encryption = s3.get_bucket_encryption().bucket(&bucket).send().await.unwrap();
    let rules = encryption.server_side_encryption_configuration().unwrap().rules();
    assert!(rules.iter().any(|r| r.apply_server_side_encryption_by_default().is_some()));
    let block = s3.get_public_access_block().bucket(&bucket).send().await.unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(
        [
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ],
        [Some(true); 4]
    );
    let tags = s3.get_bucket_tagging().bucket(&bucket).send().await.unwrap();
    let tags: Vec<(&str, &str)> = tags.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    for required in [("Environment", "staging"), ("ManagedBy", "paystack"), ("CostCenter", "fin-platform-4471")] {
        assert!(tags.contains(&required), "{tags:?}");
    }

    let ddb = dynamodb().await;
    let table = ddb.describe_table().table_name(stack.lock_table()).send().await.unwrap();
    let table = table.table().unwrap();
    assert_eq!(
        table.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
    );
    let backups = ddb.describe_continuous_backups().table_name(stack.lock_table()).send().await.unwrap();
    let pitr = backups
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status());
    assert_eq!(pitr, Some(&aws_sdk_dynamodb::types::PointInTimeRecoveryStatus::Enabled));

    let second = stack.run(&["init"]).success();
    assert!(second.stdout.contains("nothing needed changing"), "{}", second.stdout);

    // Versioned: every state write is kept as its own version.
    stack.apply();
    let serial = stack.serial().await;
    assert!(serial > 2);
    assert_eq!(stack.state_versions().await, (1..=serial).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_uninitialised_environment_says_to_run_init_and_changes_nothing() {
    let stack = Stack::uninitialised("dev", "noinit");
    for args in [&["plan"][..], &["apply", "--yes"], &["output"]] {
        let run = stack.run(args).code(1);
        assert!(run.stderr.contains("the state backend is not initialised"), "{args:?}: {}", run.stderr);
        let init = format!("run `paystack init {}`", stack.typed());
        assert!(run.stderr.contains(&init), "{args:?}: {}", run.stderr);
    }
    assert!(crate::support::live_counts(&stack).await.values().all(|n| *n == 0));
}

#[tokio::test]
async fn a_saved_plan_is_applied_exactly_and_refused_once_state_moved() {
    let stack = Stack::new("dev", "saved");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dev.plan");
    let file = file.to_str().unwrap();
    let planned = stack.run(&["plan", "--out", file]).success();
    assert!(planned.stderr.contains("Saved this plan"), "{}", planned.stderr);
    // Applying a saved plan is its approval: no --yes needed.
    let applied = stack.run(&["apply", file]).success();
    assert!(
        applied.stdout.contains(&format!("Apply complete: {} created", crate::support::expected_specs("dev"))),
        "{}",
        applied.stdout
    );

    // Plan a change, then let another apply move the state before the saved one runs.
    stack.edit_config("shared.toml", |t| t.replace("app_port = 8080", "app_port = 8081"));
    stack.run(&["plan", "--out", file]).success();
    stack.edit_config("shared.toml", |t| t.replace("app_port = 8081", "app_port = 8082"));
    stack.apply();
    let serial = stack.serial().await;
    let refused = stack.run(&["apply", file]).code(1);
    assert!(refused.stderr.contains("moved since the plan was made"), "{}", refused.stderr);
    assert!(refused.stderr.contains("nothing was changed"), "{}", refused.stderr);
    assert_eq!(stack.serial().await, serial, "the refused plan wrote nothing");

    // State unmoved, but a live resource changed out of band: the plan no longer says what
    // apply would do.
    stack.run(&["plan", "--out", file]).success();
    let ec2 = crate::support::ec2().await;
    let vpc = stack.state().await.unwrap()["resources"]["network.vpc"]["aws_id"].as_str().unwrap().to_owned();
    let tag = aws_sdk_ec2::types::Tag::builder().key("CostCenter").build();
    ec2.delete_tags().resources(vpc).tags(tag).send().await.unwrap();
    let serial = stack.serial().await;
    let refused = stack.run(&["apply", file]).code(1);
    assert!(refused.stderr.contains("live resources of"), "{}", refused.stderr);
    assert_eq!(stack.serial().await, serial);

    let other = Stack::new("dev", "saved2");
    let wrong = other.run(&["apply", file]).code(1);
    assert!(wrong.stderr.contains(&format!("is a plan for `{}`", stack.key())), "{}", wrong.stderr);
}
