//! `s3.bucket`: a private, versioned, KMS-encrypted bucket with its lifecycle and, for the
//! primary, its cross-region replication.
//!
//! S3 lists an account's buckets of every region at once: the listing asks for this
//! client's region and the scope's name prefix, and a bucket is read only if its name may be
//! the stack's. Each setting is one call to read
//! and one to write; S3 has no call that returns them all.
//!
//! A bucket is made, then tagged: a run that stopped in between finds it untagged. Its name
//! holds the environment, its region and the account, so `BucketAlreadyOwnedByYou` on a
//! create means exactly that bucket; it is taken over and set up, unless another stack's
//! tags are on it. Deleting a bucket empties it first, every version and delete marker, a
//! thousand at a time, as S3 refuses to delete a bucket that holds anything.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3 as s3;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use paystack_core::stack::STACK_TAG;
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ErrorClass, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::{Bucket, Lifecycle};
use s3::client::Waiters;
use s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete,
    ObjectIdentifier, ObjectOwnership, OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, VersioningConfiguration,
};
use serde_json::{Value, json};

use super::rules::{lifecycle_of, lifecycle_rule, replication_config, replication_of};
use super::{NO_BUCKET, bucket_tags, gone_since, perm, region_of, scope_buckets, shared_bucket_tags, unless_absent};
use crate::error::classify;
use crate::owned::{TagMap, cannot_update, created, desired_tags, observed, resolved, spec, updated};

/// The most keys one `DeleteObjects` takes.
const DELETE_BATCH: i32 = 1000;
/// How long a new bucket may take to answer, or a deleted one to stop answering.
const EXISTENCE_WAIT: Duration = Duration::from_secs(120);

// Error codes S3 documents for a setting a bucket does not have.
const NO_POLICY: &str = "NoSuchBucketPolicy";
const NO_PUBLIC_ACCESS_BLOCK: &str = "NoSuchPublicAccessBlockConfiguration";
const NO_OWNERSHIP_CONTROLS: &str = "OwnershipControlsNotFoundError";
const NO_LIFECYCLE: &str = "NoSuchLifecycleConfiguration";
const NO_REPLICATION: &str = "ReplicationConfigurationNotFoundError";
const NO_ENCRYPTION: &str = "ServerSideEncryptionConfigurationNotFoundError";

pub(crate) struct Buckets {
    client: s3::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
}

impl Buckets {
    pub(crate) fn new(client: &s3::Client, tagging: &aws_sdk_resourcegroupstagging::Client) -> Self {
        Self { client: client.clone(), tagging: tagging.clone() }
    }

    fn region(&self) -> String {
        region_of(&self.client)
    }

    async fn tags(&self, bucket: &str) -> Result<Option<TagMap>, ReconcileError> {
        bucket_tags(&self.client, bucket).await
    }

    /// Every setting of `bucket`, as the kind's fields (tags aside). S3 answers each in a
    /// call of its own; they are asked at once.
    async fn settings(&self, bucket: &str) -> Result<Value, ReconcileError> {
        let c = &self.client;
        let (versioning, encryption, blocks, ownership, policy, lifecycle, replication) = tokio::join!(
            c.get_bucket_versioning().bucket(bucket).send(),
            c.get_bucket_encryption().bucket(bucket).send(),
            c.get_public_access_block().bucket(bucket).send(),
            c.get_bucket_ownership_controls().bucket(bucket).send(),
            c.get_bucket_policy().bucket(bucket).send(),
            c.get_bucket_lifecycle_configuration().bucket(bucket).send(),
            c.get_bucket_replication().bucket(bucket).send(),
        );
        let versioning = versioning.map_err(|e| classify("GetBucketVersioning", e))?;
        let encryption = unless_absent("GetBucketEncryption", encryption, NO_ENCRYPTION)?;
        let blocks = unless_absent("GetPublicAccessBlock", blocks, NO_PUBLIC_ACCESS_BLOCK)?;
        let ownership = unless_absent("GetBucketOwnershipControls", ownership, NO_OWNERSHIP_CONTROLS)?;
        let policy = unless_absent("GetBucketPolicy", policy, NO_POLICY)?;
        let lifecycle = unless_absent("GetBucketLifecycleConfiguration", lifecycle, NO_LIFECYCLE)?;
        let replication = unless_absent("GetBucketReplication", replication, NO_REPLICATION)?;
        let by_default = encryption
            .as_ref()
            .and_then(|e| e.server_side_encryption_configuration())
            .and_then(|c| c.rules().first())
            .filter(|r| r.bucket_key_enabled() == Some(true));
        let kms_key = by_default
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .filter(|d| d.sse_algorithm() == &ServerSideEncryption::AwsKms)
            .and_then(|d| d.kms_master_key_id());
        let blocked = blocks.as_ref().and_then(|b| b.public_access_block_configuration()).is_some_and(|b| {
            [b.block_public_acls(), b.ignore_public_acls(), b.block_public_policy(), b.restrict_public_buckets()]
                .iter()
                .all(|on| *on == Some(true))
        });
        let ownership = ownership
            .as_ref()
            .and_then(|o| o.ownership_controls())
            .and_then(|o| o.rules().first())
            .map(|r| r.object_ownership().as_str().to_owned());
        let policy: Value =
            policy.and_then(|p| p.policy().and_then(|p| serde_json::from_str(p).ok())).unwrap_or_default();
        Ok(json!({
            "bucket": bucket,
            "versioning": versioning.status() == Some(&BucketVersioningStatus::Enabled),
            "kms_key_arn": kms_key,
            "block_public_access": blocked,
            "object_ownership": ownership,
            "policy": policy,
            "lifecycle": lifecycle_of(lifecycle.as_ref().map(|l| l.rules()).unwrap_or_default()),
            "replication": replication_of(replication.as_ref().and_then(|r| r.replication_configuration())),
        }))
    }

    async fn set_versioning(&self, bucket: &str, on: bool) -> Result<(), ReconcileError> {
        let status = if on { BucketVersioningStatus::Enabled } else { BucketVersioningStatus::Suspended };
        let call = self
            .client
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build());
        call.send().await.map_err(|e| classify("PutBucketVersioning", e))?;
        Ok(())
    }

    /// Under `key` with a bucket key, or under S3's own keys without one.
    async fn set_encryption(&self, bucket: &str, key: Option<&String>) -> Result<(), ReconcileError> {
        let algorithm = if key.is_some() { ServerSideEncryption::AwsKms } else { ServerSideEncryption::Aes256 };
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(algorithm)
            .set_kms_master_key_id(key.cloned())
            .build()
            .map_err(perm)?;
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(by_default)
            .set_bucket_key_enabled(key.is_some().then_some(true))
            .build();
        let config = ServerSideEncryptionConfiguration::builder().rules(rule).build().map_err(perm)?;
        let call = self.client.put_bucket_encryption().bucket(bucket).server_side_encryption_configuration(config);
        call.send().await.map_err(|e| classify("PutBucketEncryption", e))?;
        Ok(())
    }

    async fn set_public_access_block(&self, bucket: &str, on: bool) -> Result<(), ReconcileError> {
        if !on {
            let call = self.client.delete_public_access_block().bucket(bucket);
            call.send().await.map_err(|e| classify("DeletePublicAccessBlock", e))?;
            return Ok(());
        }
        let blocks = PublicAccessBlockConfiguration::builder()
            .block_public_acls(true)
            .ignore_public_acls(true)
            .block_public_policy(true)
            .restrict_public_buckets(true)
            .build();
        let call = self.client.put_public_access_block().bucket(bucket).public_access_block_configuration(blocks);
        call.send().await.map_err(|e| classify("PutPublicAccessBlock", e))?;
        Ok(())
    }

    async fn set_ownership(&self, bucket: &str, ownership: &str) -> Result<(), ReconcileError> {
        let rule = OwnershipControlsRule::builder()
            .object_ownership(ObjectOwnership::from(ownership))
            .build()
            .map_err(perm)?;
        let controls = OwnershipControls::builder().rules(rule).build().map_err(perm)?;
        let call = self.client.put_bucket_ownership_controls().bucket(bucket).ownership_controls(controls);
        call.send().await.map_err(|e| classify("PutBucketOwnershipControls", e))?;
        Ok(())
    }

    async fn set_policy(&self, bucket: &str, policy: &Value) -> Result<(), ReconcileError> {
        let call = self.client.put_bucket_policy().bucket(bucket).policy(policy.to_string());
        call.send().await.map_err(|e| classify("PutBucketPolicy", e))?;
        Ok(())
    }

    async fn set_lifecycle(&self, bucket: &str, lifecycle: &Lifecycle) -> Result<(), ReconcileError> {
        let config = BucketLifecycleConfiguration::builder().rules(lifecycle_rule(lifecycle)?).build().map_err(perm)?;
        let call = self.client.put_bucket_lifecycle_configuration().bucket(bucket).lifecycle_configuration(config);
        call.send().await.map_err(|e| classify("PutBucketLifecycleConfiguration", e))?;
        Ok(())
    }

    async fn set_replication(&self, bucket: &str, desired: &Desired, typed: &Bucket) -> Result<(), ReconcileError> {
        let Some(replication) = &typed.replication else {
            let call = self.client.delete_bucket_replication().bucket(bucket);
            call.send().await.map_err(|e| classify("DeleteBucketReplication", e))?;
            return Ok(());
        };
        let config = replication_config(replication, desired)?;
        let call = self.client.put_bucket_replication().bucket(bucket).replication_configuration(config);
        call.send().await.map_err(|e| classify("PutBucketReplication", e))?;
        Ok(())
    }

    async fn set_tags(&self, bucket: &str, tags: TagMap) -> Result<(), ReconcileError> {
        let set: Vec<Tag> = tags
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(perm))
            .collect::<Result<_, _>>()?;
        let tagging = Tagging::builder().set_tag_set(Some(set)).build().map_err(perm)?;
        let call = self.client.put_bucket_tagging().bucket(bucket).tagging(tagging);
        call.send().await.map_err(|e| classify("PutBucketTagging", e))?;
        Ok(())
    }

    /// Deletes every object version and delete marker of `bucket`, a page at a time.
    async fn empty(&self, bucket: &str) -> Result<(), ReconcileError> {
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(bucket)
                .max_keys(DELETE_BATCH)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await;
            if gone_since(&page) {
                return Ok(()); // deleted already: nothing to empty
            }
            let page = page.map_err(|e| classify("ListObjectVersions", e))?;
            let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
            let markers = page.delete_markers().iter().map(|m| (m.key(), m.version_id()));
            let objects: Vec<ObjectIdentifier> = versions
                .chain(markers)
                .filter_map(|(key, version)| {
                    Some(ObjectIdentifier::builder().key(key?).set_version_id(version.map(str::to_owned)).build())
                })
                .collect::<Result<_, _>>()
                .map_err(perm)?;
            if !objects.is_empty() {
                let delete = Delete::builder().set_objects(Some(objects)).quiet(true).build().map_err(perm)?;
                let out = self.client.delete_objects().bucket(bucket).delete(delete).send().await;
                let out = out.map_err(|e| classify("DeleteObjects", e))?;
                if let Some(failed) = out.errors().first() {
                    return Err(ReconcileError::retryable(format!(
                        "DeleteObjects: {} of the objects in `{bucket}` were not deleted ({}: {})",
                        out.errors().len(),
                        failed.key().unwrap_or_default(),
                        failed.message().unwrap_or_default(),
                    )));
                }
            }
            if page.is_truncated() != Some(true) {
                return Ok(());
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
        }
    }

    /// Sets every setting of the bucket to `typed`'s, tags first: from then on a run finds it.
    async fn set_up(&self, desired: &Desired, typed: &Bucket) -> Result<(), ReconcileError> {
        let bucket = typed.bucket.as_str();
        self.set_tags(bucket, desired_tags(desired)).await?;
        self.set_public_access_block(bucket, typed.block_public_access).await?;
        self.set_ownership(bucket, &typed.object_ownership).await?;
        self.set_encryption(bucket, key_of(desired, typed)?).await?;
        self.set_versioning(bucket, typed.versioning).await?;
        self.set_policy(bucket, &typed.policy).await?;
        self.set_lifecycle(bucket, &typed.lifecycle).await?;
        if typed.replication.is_some() {
            self.set_replication(bucket, desired, typed).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Reconciler for Buckets {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let mut out = Vec::new();
        for bucket in scope_buckets(&self.client, scope).await?.iter() {
            let Some(tags) = &*shared_bucket_tags(&self.client, &self.tagging, scope, bucket).await? else { continue };
            if !crate::owned::owned_by(scope, tags) {
                continue;
            }
            let attributes = self.settings(bucket).await?;
            let outputs = json!({ "name": bucket, "arn": arn(bucket) });
            out.extend(observed(scope, tags, bucket, attributes, outputs));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: Bucket = spec(desired)?;
        let bucket = typed.bucket.as_str();
        let region = self.region();
        let mut call = self
            .client
            .create_bucket()
            .bucket(bucket)
            .object_ownership(ObjectOwnership::from(typed.object_ownership.as_str()));
        // us-east-1 takes no location constraint; every other region must be named.
        if region != "us-east-1" {
            let at = CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()));
            call = call.create_bucket_configuration(at.build());
        }
        match call.send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|e| e.is_bucket_already_owned_by_you()) => {
                // A create of this run or an earlier one whose answer was lost: ours to set
                // up, unless another stack's tags say otherwise.
                let stack = desired_tags(desired).get(STACK_TAG).cloned();
                let tags = self.tags(bucket).await?.unwrap_or_default();
                if tags.get(STACK_TAG).is_some_and(|owner| Some(owner) != stack.as_ref()) {
                    return Err(ReconcileError {
                        class: ErrorClass::Conflict,
                        message: format!(
                            "CreateBucket: the bucket `{bucket}` belongs to the stack `{}`",
                            tags[STACK_TAG]
                        ),
                    });
                }
            }
            Err(e) if e.as_service_error().is_some_and(|e| e.is_bucket_already_exists()) => {
                return Err(ReconcileError {
                    class: ErrorClass::Conflict,
                    message: format!(
                        "CreateBucket: the name `{bucket}` is taken by another AWS account; bucket names are global"
                    ),
                });
            }
            Err(e) => return Err(classify("CreateBucket", e)),
        }
        self.client
            .wait_until_bucket_exists()
            .bucket(bucket)
            .wait(EXISTENCE_WAIT)
            .await
            .map_err(|e| ReconcileError::retryable(format!("waiting for the bucket `{bucket}` to answer: {e}")))?;
        self.set_up(desired, &typed).await?;
        Ok(created(desired, bucket, json!({ "name": bucket, "arn": arn(bucket) })))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let typed: Bucket = spec(desired)?;
        let bucket = current.aws_id.as_str();
        for change in in_setting_order(changes) {
            match change.field.as_str() {
                "versioning" => self.set_versioning(bucket, typed.versioning).await?,
                "kms_key_arn" => self.set_encryption(bucket, key_of(desired, &typed)?).await?,
                "block_public_access" => self.set_public_access_block(bucket, typed.block_public_access).await?,
                "object_ownership" => self.set_ownership(bucket, &typed.object_ownership).await?,
                "policy" => self.set_policy(bucket, &typed.policy).await?,
                "lifecycle" => self.set_lifecycle(bucket, &typed.lifecycle).await?,
                "replication" => self.set_replication(bucket, desired, &typed).await?,
                // S3 replaces a bucket's whole tag set at once.
                "tags" => self.set_tags(bucket, desired_tags(desired)).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    /// Empties the bucket, then deletes it.
    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        let bucket = current.aws_id.as_str();
        self.empty(bucket).await?;
        match self.client.delete_bucket().bucket(bucket).send().await {
            Err(e) if e.code() == Some(NO_BUCKET) => Ok(()),
            other => other.map(|_| ()).map_err(|e| classify("DeleteBucket", e)),
        }
    }

    async fn wait_deleted(&self, current: &Observed) -> Result<(), ReconcileError> {
        let bucket = current.aws_id.as_str();
        self.client
            .wait_until_bucket_not_exists()
            .bucket(bucket)
            .wait(EXISTENCE_WAIT)
            .await
            .map(|_| ())
            .map_err(|e| ReconcileError::retryable(format!("waiting for the bucket `{bucket}` to go: {e}")))
    }
}

/// The order `set_up` makes a bucket's settings in, which an update keeps whatever order its
/// fields come in: S3 refuses a replication configuration until versioning is on, and a
/// bucket a crash left half set up gets both in one update.
const SETTING_ORDER: &[&str] = &[
    "tags",
    "block_public_access",
    "object_ownership",
    "kms_key_arn",
    "versioning",
    "policy",
    "lifecycle",
    "replication",
];

fn in_setting_order(changes: &[FieldChange]) -> Vec<&FieldChange> {
    let mut ordered: Vec<&FieldChange> = changes.iter().collect();
    ordered.sort_by_key(|c| SETTING_ORDER.iter().position(|f| *f == c.field).unwrap_or(usize::MAX));
    ordered
}

/// The key a bucket is to be encrypted with, `None` for S3's own.
fn key_of<'a>(desired: &Desired, typed: &'a Bucket) -> Result<Option<&'a String>, ReconcileError> {
    typed.kms_key_arn.as_ref().map(|k| resolved(desired, k)).transpose()
}

/// The ARN of a bucket, which S3 never reports: S3 ARNs hold no region or account.
fn arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

#[cfg(test)]
mod tests {
    use paystack_core::{FieldChange, Planned};

    use super::*;

    fn change(field: &str) -> FieldChange {
        FieldChange { field: field.into(), before: None, after: Planned::KnownAfterApply, forces_replacement: false }
    }

    #[test]
    fn an_update_turns_versioning_on_before_it_sets_replication() {
        // Fields come sorted by name: replication before versioning.
        let changes = [change("lifecycle"), change("replication"), change("tags"), change("versioning")];
        let order: Vec<&str> = in_setting_order(&changes).iter().map(|c| c.field.as_str()).collect();
        assert_eq!(order, ["tags", "versioning", "lifecycle", "replication"]);
    }
}
