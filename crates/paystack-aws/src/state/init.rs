//! `paystack init`: the state bucket and the lock table of one environment, created or
//! brought to the required settings. Each setting is read first and written only if it
//! differs, so a second run changes nothing and says so.

use std::time::Duration;

use aws_sdk_dynamodb as ddb;
use aws_sdk_s3 as s3;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use ddb::client::Waiters as _;
use paystack_state::StateError;
use s3::client::Waiters as _;
use s3::error::{ProvideErrorMetadata, SdkError};

use super::StateLocation;
use crate::Clients;

/// What `init` did to one setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitStep {
    pub what: String,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Changed,
    /// Set again without reading it first; setting it changes nothing if it was already so.
    Reapplied,
    Unchanged,
}

const WAIT: Duration = Duration::from_secs(300);

/// Creates the bucket and the table of `at` if missing, and sets what each must have:
/// the bucket versioned, encrypted, closed to the public and tagged; the table on-demand,
/// with point-in-time recovery, and tagged.
pub async fn init(
    clients: &Clients,
    region: &str,
    at: &StateLocation,
    tags: &[(String, String)],
) -> Result<Vec<InitStep>, StateError> {
    let mut steps = Vec::new();
    Bucket { client: &clients.s3, name: &at.bucket }.ensure(region, tags, &mut steps).await?;
    Table { client: &clients.dynamodb, name: &at.lock_table }.ensure(tags, &mut steps).await?;
    Ok(steps)
}

fn failed<E>(action: &'static str, location: String) -> impl FnOnce(SdkError<E, HttpResponse>) -> StateError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |e| super::remote(action, location, &e)
}

fn built<E: std::fmt::Display>(location: &str) -> impl FnOnce(E) -> StateError {
    let location = location.to_owned();
    move |e| StateError::Remote {
        action: "cannot build a request for",
        location,
        message: e.to_string(),
        retryable: false,
    }
}

fn step(steps: &mut Vec<InitStep>, what: String, outcome: Outcome) {
    tracing::info!(%what, ?outcome, "init");
    steps.push(InitStep { what, outcome });
}

struct Bucket<'a> {
    client: &'a s3::Client,
    name: &'a str,
}

impl Bucket<'_> {
    fn at(&self) -> String {
        format!("s3://{}", self.name)
    }

    async fn ensure(
        &self,
        region: &str,
        tags: &[(String, String)],
        steps: &mut Vec<InitStep>,
    ) -> Result<(), StateError> {
        use s3::types::*;
        let (c, b) = (self.client, self.name);

        let created = match c.head_bucket().bucket(b).send().await {
            Ok(_) => false,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                let mut create = c.create_bucket().bucket(b);
                if region != "us-east-1" {
                    create = create.create_bucket_configuration(
                        CreateBucketConfiguration::builder()
                            .location_constraint(BucketLocationConstraint::from(region))
                            .build(),
                    );
                }
                match create.send().await {
                    Ok(_) => {}
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => {}
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_exists()) => {
                        return Err(StateError::Remote {
                            action: "cannot create",
                            location: self.at(),
                            message:
                                "the name is taken by another AWS account; set `state.bucket` to a name of your own"
                                    .into(),
                            retryable: false,
                        });
                    }
                    Err(e) => return Err(failed("cannot create", self.at())(e)),
                }
                c.wait_until_bucket_exists()
                    .bucket(b)
                    .wait(WAIT)
                    .await
                    .map_err(|e| super::remote_wait("waiting for", self.at(), &e))?;
                true
            }
            Err(e) => return Err(failed("cannot look at", self.at())(e)),
        };
        step(steps, format!("S3 bucket {}", self.at()), if created { Outcome::Created } else { Outcome::Unchanged });

        // Versioning is set without reading it first: enabling it again changes nothing.
        c.put_bucket_versioning()
            .bucket(b)
            .versioning_configuration(
                VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build(),
            )
            .send()
            .await
            .map_err(failed("cannot enable versioning on", self.at()))?;
        let outcome = if created { Outcome::Changed } else { Outcome::Reapplied };
        step(steps, "  versioning enabled".into(), outcome);

        let encrypted = match c.get_bucket_encryption().bucket(b).send().await {
            Ok(out) => out
                .server_side_encryption_configuration()
                .is_some_and(|conf| conf.rules().iter().any(|r| r.apply_server_side_encryption_by_default().is_some())),
            Err(e) if e.code() == Some("ServerSideEncryptionConfigurationNotFoundError") => false,
            Err(e) => return Err(failed("cannot read", self.at())(e)),
        };
        let outcome = if encrypted {
            Outcome::Unchanged
        } else {
            let by_default = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .map_err(built(&self.at()))?;
            let rule = ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).build();
            let conf = ServerSideEncryptionConfiguration::builder().rules(rule).build().map_err(built(&self.at()))?;
            c.put_bucket_encryption()
                .bucket(b)
                .server_side_encryption_configuration(conf)
                .send()
                .await
                .map_err(failed("cannot encrypt", self.at()))?;
            Outcome::Changed
        };
        step(steps, "  default encryption".into(), outcome);

        let blocked = match c.get_public_access_block().bucket(b).send().await {
            Ok(out) => out.public_access_block_configuration().is_some_and(|p| {
                [p.block_public_acls(), p.ignore_public_acls(), p.block_public_policy(), p.restrict_public_buckets()]
                    .iter()
                    .all(|v| *v == Some(true))
            }),
            Err(e) if e.code() == Some("NoSuchPublicAccessBlockConfiguration") => false,
            Err(e) => return Err(failed("cannot read", self.at())(e)),
        };
        let outcome = if blocked {
            Outcome::Unchanged
        } else {
            c.put_public_access_block()
                .bucket(b)
                .public_access_block_configuration(
                    PublicAccessBlockConfiguration::builder()
                        .block_public_acls(true)
                        .ignore_public_acls(true)
                        .block_public_policy(true)
                        .restrict_public_buckets(true)
                        .build(),
                )
                .send()
                .await
                .map_err(failed("cannot block public access to", self.at()))?;
            Outcome::Changed
        };
        step(steps, "  public access blocked".into(), outcome);

        // Requests without TLS are denied. A policy someone else wrote keeps its statements.
        let ours = paystack_platform::kinds::tls_only_policy(b);
        let existing: Option<serde_json::Value> = match c.get_bucket_policy().bucket(b).send().await {
            Ok(out) => out.policy().and_then(|p| serde_json::from_str(p).ok()),
            Err(e) if e.code() == Some("NoSuchBucketPolicy") => None,
            Err(e) => return Err(failed("cannot read", self.at())(e)),
        };
        let statement = &ours["Statement"][0];
        let has = |p: &serde_json::Value| {
            p["Statement"].as_array().is_some_and(|all| all.iter().any(|s| s["Sid"] == statement["Sid"]))
        };
        let outcome = match existing {
            Some(p) if has(&p) => Outcome::Unchanged,
            existing => {
                let policy = match existing {
                    Some(mut p) if p["Statement"].is_array() => {
                        p["Statement"].as_array_mut().into_iter().for_each(|all| all.push(statement.clone()));
                        p
                    }
                    _ => ours,
                };
                c.put_bucket_policy()
                    .bucket(b)
                    .policy(policy.to_string())
                    .send()
                    .await
                    .map_err(failed("cannot set the policy of", self.at()))?;
                Outcome::Changed
            }
        };
        step(steps, "  requests without TLS denied".into(), outcome);

        let mut current: Vec<(String, String)> = match c.get_bucket_tagging().bucket(b).send().await {
            Ok(out) => out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect(),
            Err(e) if e.code() == Some("NoSuchTagSet") => Vec::new(),
            Err(e) => return Err(failed("cannot read", self.at())(e)),
        };
        let outcome = if tags.iter().all(|t| current.contains(t)) {
            Outcome::Unchanged
        } else {
            // Keep tags someone else added; set ours.
            current.retain(|(k, _)| !tags.iter().any(|(key, _)| key == k));
            current.extend(tags.iter().cloned());
            let set = current
                .iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(built(&self.at())))
                .collect::<Result<Vec<_>, _>>()?;
            let tagging = Tagging::builder().set_tag_set(Some(set)).build().map_err(built(&self.at()))?;
            c.put_bucket_tagging().bucket(b).tagging(tagging).send().await.map_err(failed("cannot tag", self.at()))?;
            Outcome::Changed
        };
        step(steps, "  tags".into(), outcome);
        Ok(())
    }
}

struct Table<'a> {
    client: &'a ddb::Client,
    name: &'a str,
}

impl Table<'_> {
    fn at(&self) -> String {
        format!("dynamodb://{}", self.name)
    }

    async fn ensure(&self, tags: &[(String, String)], steps: &mut Vec<InitStep>) -> Result<(), StateError> {
        use ddb::types::*;
        let (c, t) = (self.client, self.name);
        let tag_list = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(built(&self.at())))
            .collect::<Result<Vec<_>, _>>()?;

        let described = match c.describe_table().table_name(t).send().await {
            Ok(out) => out.table,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => None,
            Err(e) => return Err(failed("cannot look at", self.at())(e)),
        };
        let arn = match described {
            Some(table) => {
                step(steps, format!("DynamoDB table {}", self.at()), Outcome::Unchanged);
                let on_demand = table
                    .billing_mode_summary()
                    .and_then(BillingModeSummary::billing_mode)
                    .is_some_and(|m| *m == BillingMode::PayPerRequest);
                let outcome = if on_demand {
                    Outcome::Unchanged
                } else {
                    c.update_table()
                        .table_name(t)
                        .billing_mode(BillingMode::PayPerRequest)
                        .send()
                        .await
                        .map_err(failed("cannot switch to on-demand", self.at()))?;
                    c.wait_until_table_exists()
                        .table_name(t)
                        .wait(WAIT)
                        .await
                        .map_err(|e| super::remote_wait("waiting for", self.at(), &e))?;
                    Outcome::Changed
                };
                step(steps, "  on-demand capacity".into(), outcome);
                table.table_arn().map(str::to_owned)
            }
            None => {
                let key = KeySchemaElement::builder()
                    .attribute_name(super::KEY)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(built(&self.at()))?;
                let attribute = AttributeDefinition::builder()
                    .attribute_name(super::KEY)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(built(&self.at()))?;
                match c
                    .create_table()
                    .table_name(t)
                    .key_schema(key)
                    .attribute_definitions(attribute)
                    .billing_mode(BillingMode::PayPerRequest)
                    .set_tags(Some(tag_list.clone()))
                    .send()
                    .await
                {
                    Ok(_) => {}
                    // Another init got there first; the wait below finds its table.
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {}
                    Err(e) => return Err(failed("cannot create", self.at())(e)),
                }
                let ready = c
                    .wait_until_table_exists()
                    .table_name(t)
                    .wait(WAIT)
                    .await
                    .map_err(|e| super::remote_wait("waiting for", self.at(), &e))?;
                step(steps, format!("DynamoDB table {}", self.at()), Outcome::Created);
                step(steps, "  on-demand capacity".into(), Outcome::Changed);
                ready.as_result().ok().and_then(|out| out.table()).and_then(|t| t.table_arn()).map(str::to_owned)
            }
        };

        let backups =
            c.describe_continuous_backups().table_name(t).send().await.map_err(failed("cannot read", self.at()))?;
        let pitr = backups
            .continuous_backups_description()
            .and_then(ContinuousBackupsDescription::point_in_time_recovery_description)
            .and_then(PointInTimeRecoveryDescription::point_in_time_recovery_status)
            .is_some_and(|s| *s == PointInTimeRecoveryStatus::Enabled);
        let outcome = if pitr {
            Outcome::Unchanged
        } else {
            let spec = PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()
                .map_err(built(&self.at()))?;
            c.update_continuous_backups()
                .table_name(t)
                .point_in_time_recovery_specification(spec)
                .send()
                .await
                .map_err(failed("cannot enable point-in-time recovery on", self.at()))?;
            Outcome::Changed
        };
        step(steps, "  point-in-time recovery".into(), outcome);

        let Some(arn) = arn.as_deref() else {
            return Err(StateError::Remote {
                action: "cannot tag",
                location: self.at(),
                message: "AWS returned no table ARN".into(),
                retryable: false,
            });
        };
        let current: Vec<(String, String)> = c
            .list_tags_of_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(failed("cannot read the tags of", self.at()))?
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect();
        let outcome = if tags.iter().all(|t| current.contains(t)) {
            Outcome::Unchanged
        } else {
            c.tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tag_list))
                .send()
                .await
                .map_err(failed("cannot tag", self.at()))?;
            Outcome::Changed
        };
        step(steps, "  tags".into(), outcome);
        Ok(())
    }
}
