//! The storage layer's kinds: the environment's KMS keys, one per region it uses, and the
//! DynamoDB sessions table with its global-table replica.

use paystack_core::Input;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{KindDef, KindSpec, Tags, fields, outputs};

/// The kinds of this layer.
pub(super) const KINDS: &[&KindDef] = &[&KMS_KEY, &TABLE];

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
pub const KMS_KEY: KindDef = KindDef::new("kms.key", "kms", "kms_key").replace_on(fields!(KmsKey: alias)).replicated();
impl KindSpec for KmsKey {
    const DEF: &'static KindDef = &KMS_KEY;
}
outputs!(KmsKey { id: String, arn: String });

/// The days AWS waits before deleting a key whose deletion is scheduled: its shortest.
pub const KEY_DELETION_DAYS: i32 = 7;

/// A replica of a global table (version 2019.11.21) in another region, encrypted with that
/// region's key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableReplica {
    pub region: String,
    pub kms_key_arn: Input<String>,
}

/// A DynamoDB table keyed by one string attribute, on demand, with a stream of new and old
/// images (which global tables need), server-side encryption with the environment's key,
/// point-in-time recovery and time to live as configured, and its replicas.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub table_name: String,
    pub hash_key: String,
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
});
