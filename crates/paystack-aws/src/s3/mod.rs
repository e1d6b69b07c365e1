//! S3: the artifacts and access-log buckets, and the access logging of those and of the
//! state bucket. (The state bucket itself is `init`'s, in `crate::state`.)

use std::sync::Arc;

use aws_sdk_s3 as s3;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use paystack_engine::{ReconcileError, Scope};

use crate::error::{all, classify};
use crate::owned::TagMap;
use crate::tag_index::indexed_tags;

pub(crate) mod bucket;
pub(crate) mod logging;
mod rules;

/// S3's error code for a bucket that does not exist.
const NO_BUCKET: &str = "NoSuchBucket";
/// S3's error code for a bucket that has no tags.
const NO_TAGS: &str = "NoSuchTagSet";

/// The region `client` speaks to, which S3's bucket listing filters by.
pub(super) fn region_of(client: &s3::Client) -> String {
    client.config().region().map_or_else(|| "us-east-1".to_owned(), |r| r.to_string())
}

/// The names of this region's buckets that the scope may own: one listing, shared by the
/// buckets' and their logging's reads.
pub(super) async fn scope_buckets(client: &s3::Client, scope: &Scope) -> Result<Arc<Vec<String>>, ReconcileError> {
    scope
        .shared("s3:buckets", || async {
            // S3 keeps one list of an account's buckets for every region: only this region's,
            // named as the scope's may be, are read.
            let listed = client
                .list_buckets()
                .bucket_region(region_of(client))
                .set_prefix(scope.name_prefix().map(str::to_owned))
                .into_paginator()
                .items()
                .send();
            let listed = all("ListBuckets", listed).await?;
            Ok(listed.iter().filter_map(|b| b.name()).filter(|n| scope.may_own(n)).map(str::to_owned).collect())
        })
        .await
}

/// A bucket's tags as `bucket_tags` reads them, read once in a pass: the log bucket's are
/// read as a bucket's and as the target of the others' logging.
pub(super) async fn shared_bucket_tags(
    client: &s3::Client,
    tagging: &aws_sdk_resourcegroupstagging::Client,
    scope: &Scope,
    bucket: &str,
) -> Result<Arc<Option<TagMap>>, ReconcileError> {
    let arn = format!("arn:aws:s3:::{bucket}");
    let read = || indexed_tags(tagging, scope, &arn, || bucket_tags(client, bucket));
    scope.shared(&format!("s3:tags:{bucket}"), read).await
}

/// A bucket's tags, empty if it has none; `None` if it was deleted since it was listed.
pub(super) async fn bucket_tags(client: &s3::Client, bucket: &str) -> Result<Option<TagMap>, ReconcileError> {
    let read = client.get_bucket_tagging().bucket(bucket).send().await;
    if gone_since(&read) {
        return Ok(None);
    }
    let read = unless_absent("GetBucketTagging", read, NO_TAGS)?;
    Ok(Some(
        read.map(|t| t.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect())
            .unwrap_or_default(),
    ))
}

pub(super) fn perm(e: s3::error::BuildError) -> ReconcileError {
    ReconcileError::permanent(e.to_string())
}

/// The value of a read, `None` when S3 answers with `absent` (the bucket has no such
/// setting), or the classified error.
pub(super) fn unless_absent<T, E>(
    operation: &str,
    result: Result<T, s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>>,
    absent: &str,
) -> Result<Option<T>, ReconcileError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code() == Some(absent) => Ok(None),
        Err(e) => Err(classify(operation, e)),
    }
}

/// The bucket was deleted since it was listed (by another stack sharing the account).
pub(super) fn gone_since<E: ProvideErrorMetadata>(
    result: &Result<impl Sized, s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>>,
) -> bool {
    matches!(result, Err(e) if e.code() == Some(NO_BUCKET))
}
