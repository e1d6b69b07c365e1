//! The storage layer's kinds: the environment's KMS keys, one per region it uses, the
//! DynamoDB sessions table with its global-table replica, the S3 artifacts buckets, and
//! the services' Parameter Store parameters.

use paystack_core::Input;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{KindDef, KindSpec, Tags, fields, outputs};

/// The kinds of this layer.
pub(super) const KINDS: &[&KindDef] = &[&KMS_KEY, &TABLE, &TABLE_SCALING, &BUCKET, &BUCKET_LOGGING, &PARAMETER];

/// A customer-managed symmetric key, found by its alias, with yearly rotation. `policy` is
/// the key policy as AWS takes it. Deleting one only schedules its deletion, with AWS's
/// shortest window (7 days): what it encrypted stays readable until then.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KmsKey {
    pub alias: String,
    pub description: String,
    pub policy: Value,
    pub enable_key_rotation: bool,
    pub tags: Tags,
}
/// The alias is the key's name. A new key would leave what the old one encrypted unreadable
/// once the old one is gone, so nothing but the alias (the stack itself) makes a new one.
pub const KMS_KEY: KindDef = KindDef::new("kms.key", "kms", "kms_key")
    .replace_on(fields!(KmsKey: alias))
    .replicated()
    .deleted_after(KEY_DELETION_DAYS);
impl KindSpec for KmsKey {
    const DEF: &'static KindDef = &KMS_KEY;
}
outputs!(KmsKey { id: String, arn: String });

/// The days AWS waits before deleting a key whose deletion is scheduled: its shortest.
pub const KEY_DELETION_DAYS: u32 = 7;

/// A replica of a global table (version 2019.11.21) in another region, encrypted with that
/// region's key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableReplica {
    pub region: String,
    pub kms_key_arn: Input<String>,
}

/// A DynamoDB table keyed by one string attribute, on demand or provisioned, with a stream of
/// new and old images (which global tables need), server-side encryption with the
/// environment's key, point-in-time recovery and time to live as configured, and its
/// replicas. A provisioned table's capacity is its [`TableScaling`]'s to set: it starts at
/// one unit each way, which registering the scaling moves into its range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub table_name: String,
    pub hash_key: String,
    /// `PAY_PER_REQUEST` or `PROVISIONED`.
    pub billing_mode: String,
    pub kms_key_arn: Input<String>,
    pub point_in_time_recovery: bool,
    /// `None`: time to live is off (written as null, so that turning it off is a change).
    pub ttl_attribute: Option<String>,
    pub replicas: Vec<TableReplica>,
    pub tags: Tags,
}
pub const TABLE: KindDef = KindDef::new("dynamodb.table", "dynamodb", "dynamodb_table")
    .named("table_name", 255)
    .replace_on(fields!(Table: table_name, hash_key))
    .unordered(fields!(Table: replicas));
impl KindSpec for Table {
    const DEF: &'static KindDef = &TABLE;
}
outputs!(Table {
    name: String,
    arn: String,
    /// `{arn}/index/*`: the table's indexes, for item-level grants.
    indexes_arn: String,
    /// `table/{name}`, as Application Auto Scaling names it.
    scaling_resource_id: String,
});

/// The two billing modes of a DynamoDB table.
pub const PAY_PER_REQUEST: &str = "PAY_PER_REQUEST";
pub const PROVISIONED: &str = "PROVISIONED";

/// Target tracking on a provisioned table's read or write capacity utilisation: the
/// scalable target and its one policy, named like a service's ([`super::scaling_policy_name`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableScaling {
    pub policy_name: String,
    /// `table/{name}`.
    pub resource_id: Input<String>,
    /// `read` or `write`.
    pub dimension: String,
    pub min_capacity: u32,
    pub max_capacity: u32,
    pub target_percent: f64,
}
pub const TABLE_SCALING: KindDef =
    KindDef::new("autoscaling.table_scaling", "application-autoscaling", "service_scaling")
        .replace_on(fields!(TableScaling: policy_name, resource_id, dimension));
impl KindSpec for TableScaling {
    const DEF: &'static KindDef = &TABLE_SCALING;
}

/// How S3 ages a bucket's objects: every version current for `infrequent_access_days` moves
/// to STANDARD_IA, then to GLACIER_IR at `glacier_ir_days`, and is deleted at
/// `expiration_days` (each `None` when it does not happen); a version replaced for
/// `noncurrent_expiration_days` is deleted; an upload left incomplete is aborted after
/// `abort_multipart_days`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub infrequent_access_days: Option<u32>,
    pub glacier_ir_days: Option<u32>,
    #[serde(default)]
    pub expiration_days: Option<u32>,
    pub noncurrent_expiration_days: u32,
    pub abort_multipart_days: u32,
}

/// Cross-region replication of every object, delete markers included, to
/// `destination_bucket_arn`, re-encrypted there with `destination_kms_key_arn`, under
/// Replication Time Control (15 minutes) with its metrics, by `role_arn`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BucketReplication {
    pub role_arn: Input<String>,
    pub destination_bucket_arn: Input<String>,
    pub destination_kms_key_arn: Input<String>,
}

/// The id of the one replication rule of a bucket, which the replication metrics name.
pub const REPLICATION_RULE_ID: &str = "everything-to-the-replica";

/// A private S3 bucket: versioned or not, encrypted with a KMS key and a bucket key (or, with
/// no key, with S3's own keys), all four public-access blocks on or off, its object
/// ownership, its policy, its lifecycle, and its replication if it has one. Deleting one
/// empties it first: every version and delete marker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub bucket: String,
    pub versioning: bool,
    /// `None`: SSE-S3, S3's own keys. Only for the access-log bucket: load balancers and S3's
    /// log delivery write to no bucket encrypted with a customer's KMS key.
    pub kms_key_arn: Option<Input<String>>,
    pub block_public_access: bool,
    /// `BucketOwnerEnforced`: ACLs are off, and the bucket's account owns every object.
    pub object_ownership: String,
    pub policy: Value,
    pub lifecycle: Lifecycle,
    pub replication: Option<BucketReplication>,
    pub tags: Tags,
}
/// A bucket's name is global and cannot change. It lives in the replica region too.
pub const BUCKET: KindDef =
    KindDef::new("s3.bucket", "s3", "s3_bucket").named("bucket", 63).replace_on(fields!(Bucket: bucket)).replicated();
impl KindSpec for Bucket {
    const DEF: &'static KindDef = &BUCKET;
}
outputs!(Bucket { name: String, arn: String });

/// The object ownership that turns ACLs off: the bucket's account owns every object.
pub const BUCKET_OWNER_ENFORCED: &str = "BucketOwnerEnforced";

/// A bucket policy that refuses every request not made over TLS, the state bucket's too.
pub fn tls_only_policy(bucket: &str) -> Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyRequestsWithoutTls",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
            "Condition": { "Bool": { "aws:SecureTransport": "false" } },
        }],
    })
}

/// A bucket's server access logging: S3 writes a record of every request made to `bucket`
/// into `target_bucket`, under `target_prefix`. A setting of a bucket, which may be one
/// paystack does not otherwise manage (the state bucket): it has no AWS identity of its own,
/// and is found by its prefix, which is its id followed by `/` ([`access_log_prefix`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BucketLogging {
    pub bucket: Input<String>,
    pub target_bucket: Input<String>,
    pub target_prefix: String,
}
pub const BUCKET_LOGGING: KindDef =
    KindDef::new("s3.bucket_logging", "s3", "s3_bucket_logging").replace_on(fields!(BucketLogging: bucket));
impl KindSpec for BucketLogging {
    const DEF: &'static KindDef = &BUCKET_LOGGING;
}

/// The principal that writes S3 server access logs.
pub const S3_LOG_DELIVERY: &str = "logging.s3.amazonaws.com";

/// Where in the access-log bucket the logs of the setting `id` go: its id, so that a read
/// of a bucket's logging tells which setting wrote it.
pub fn access_log_prefix(id: &str) -> String {
    format!("{id}/")
}

/// The setting id that wrote `prefix`, if paystack wrote it.
pub fn access_log_setting(prefix: &str) -> Option<&str> {
    prefix.strip_suffix('/').filter(|id| !id.is_empty() && !id.contains('/'))
}

/// A `String` parameter of Parameter Store, written only when its value changed, so that its
/// version history holds real changes only. Its name is its path, `/{stack}/{service}/...`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    pub name: String,
    pub value: Input<String>,
    pub tags: Tags,
}
pub const PARAMETER: KindDef =
    KindDef::new("ssm.parameter", "ssm", "ssm_parameter").replace_on(fields!(Parameter: name));
impl KindSpec for Parameter {
    const DEF: &'static KindDef = &PARAMETER;
}
outputs!(Parameter { arn: String });
