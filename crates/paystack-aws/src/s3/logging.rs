//! `s3.bucket_logging`: a bucket's server access logging. It is a setting of its bucket
//! with no AWS identity of its own, and the bucket may be one paystack does not otherwise
//! manage (the state bucket, which is `init`'s), so it carries no tag. A read finds it by
//! what it writes: logging into a bucket of the scope's stacks, under a prefix that is a
//! setting's id ([`access_log_setting`]). The stack is the target bucket's.

use async_trait::async_trait;
use aws_sdk_s3 as s3;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use paystack_core::stack::STACK_TAG;
use paystack_core::{FieldChange, Fields, Observed, ResourceId};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::{BucketLogging, access_log_setting};
use s3::types::{BucketLoggingStatus, LoggingEnabled};
use serde_json::{Value, json};

use super::{NO_BUCKET, gone_since, perm, scope_buckets, shared_bucket_tags};
use crate::error::classify;
use crate::owned::{cannot_update, resolved, spec, updated};

pub(crate) struct BucketLoggings {
    client: s3::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
}

impl BucketLoggings {
    pub(crate) fn new(client: &s3::Client, tagging: &aws_sdk_resourcegroupstagging::Client) -> Self {
        Self { client: client.clone(), tagging: tagging.clone() }
    }

    /// Logs the requests to `bucket` into `logging`'s target, or stops logging them. `false`
    /// when there is no such bucket.
    async fn put(&self, bucket: &str, logging: Option<LoggingEnabled>) -> Result<bool, ReconcileError> {
        let status = BucketLoggingStatus::builder().set_logging_enabled(logging).build();
        let put = self.client.put_bucket_logging().bucket(bucket).bucket_logging_status(status).send().await;
        match put {
            Err(e) if e.code() == Some(NO_BUCKET) => Ok(false),
            other => other.map(|_| true).map_err(|e| classify("PutBucketLogging", e)),
        }
    }

    async fn enable(&self, desired: &Desired) -> Result<String, ReconcileError> {
        let typed: BucketLogging = spec(desired)?;
        let bucket = resolved(desired, &typed.bucket)?.clone();
        let target = LoggingEnabled::builder()
            .target_bucket(resolved(desired, &typed.target_bucket)?)
            .target_prefix(&typed.target_prefix)
            .build()
            .map_err(perm)?;
        if !self.put(&bucket, Some(target)).await? {
            return Err(ReconcileError::permanent(format!(
                "PutBucketLogging: the bucket `{bucket}` does not exist; for the state bucket, run `paystack init` first"
            )));
        }
        Ok(bucket)
    }
}

#[async_trait]
impl Reconciler for BucketLoggings {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let mut out = Vec::new();
        for bucket in scope_buckets(&self.client, scope).await?.iter() {
            let read = self.client.get_bucket_logging().bucket(bucket).send().await;
            if gone_since(&read) {
                continue;
            }
            let read = read.map_err(|e| classify("GetBucketLogging", e))?;
            let Some(logging) = read.logging_enabled() else { continue };
            let Some(id) = access_log_setting(logging.target_prefix()) else { continue };
            let target = logging.target_bucket();
            // Whose the logging is, is whose its target is.
            let tags = shared_bucket_tags(&self.client, &self.tagging, scope, target).await?;
            let Some(stack) = tags.as_ref().as_ref().and_then(|t| t.get(STACK_TAG)).filter(|s| scope.reads(s)) else {
                continue;
            };
            let Value::Object(attributes) = json!({
                "bucket": bucket,
                "target_bucket": target,
                "target_prefix": logging.target_prefix(),
            }) else {
                continue;
            };
            out.push(Observed::new(ResourceId::new(id), bucket, attributes, Fields::new()).of_stack(stack));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let bucket = self.enable(desired).await?;
        Ok(Observed::new(desired.id.clone(), &bucket, desired.fields.clone(), Fields::new()))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        if let Some(other) =
            changes.iter().map(|c| c.field.as_str()).find(|f| !["target_bucket", "target_prefix"].contains(f))
        {
            return Err(cannot_update(desired, other));
        }
        self.enable(desired).await?;
        Ok(updated(desired, current))
    }

    /// Stops the logging; a bucket deleted already logs nothing.
    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        self.put(&current.aws_id, None).await.map(|_| ())
    }
}
