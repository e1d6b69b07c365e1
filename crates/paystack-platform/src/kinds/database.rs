//! The database layer's kinds: Aurora's subnet and parameter groups, cluster and instances,
//! and the credentials' secret with its rotation.

use std::collections::BTreeMap;

use paystack_core::Input;
use serde::{Deserialize, Serialize};

use super::{KindDef, KindSpec, Tags, fields, outputs};

/// The kinds of this layer.
pub(super) const KINDS: &[&KindDef] = &[
    &DB_SUBNET_GROUP,
    &DB_CLUSTER_PARAMETER_GROUP,
    &SECRET,
    &SECRET_ROTATION,
    &SECRET_POLICY,
    &DB_CLUSTER,
    &DB_INSTANCE,
];

/// RDS identifiers (clusters, instances, groups) are at most 63 characters.
const RDS_NAME_MAX: usize = 63;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DbSubnetGroup {
    pub name: String,
    pub description: String,
    pub subnet_ids: Vec<Input<String>>,
    pub tags: Tags,
}
pub const DB_SUBNET_GROUP: KindDef = KindDef::new("rds.db_subnet_group", "rds", "db_subnet_group")
    .named("name", RDS_NAME_MAX)
    .replace_on(fields!(DbSubnetGroup: name))
    .unordered(fields!(DbSubnetGroup: subnet_ids));
impl KindSpec for DbSubnetGroup {
    const DEF: &'static KindDef = &DB_SUBNET_GROUP;
}
outputs!(DbSubnetGroup { name: String, arn: String });

/// `parameters` are the values this group sets; every other parameter keeps the family's
/// default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DbClusterParameterGroup {
    pub name: String,
    pub family: String,
    pub description: String,
    pub parameters: BTreeMap<String, String>,
    pub tags: Tags,
}
pub const DB_CLUSTER_PARAMETER_GROUP: KindDef =
    KindDef::new("rds.db_cluster_parameter_group", "rds", "db_cluster_parameter_group")
        .named("name", RDS_NAME_MAX)
        .replace_on(fields!(DbClusterParameterGroup: name, family, description));
impl KindSpec for DbClusterParameterGroup {
    const DEF: &'static KindDef = &DB_CLUSTER_PARAMETER_GROUP;
}
outputs!(DbClusterParameterGroup { name: String, arn: String });

/// The database credentials: a JSON document with `username` and a password that the
/// reconciler generates when it creates the secret. The password is never a field: nothing
/// paystack plans, records or prints can hold it. A new username is a new secret, and so a
/// new password. Replaced old-first: the successor needs the name, and the cluster refers to
/// the secret only to be given its password.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Secret {
    pub name: String,
    pub description: String,
    pub username: String,
    /// The environment's key, which encrypts the secret's versions from now on.
    pub kms_key_id: Input<String>,
    /// Days Secrets Manager keeps the secret after a delete, recoverable until then (a
    /// protected environment's); `None`: deleted at once, and its name free again.
    #[serde(default)]
    pub recovery_window_days: Option<u32>,
    pub tags: Tags,
}

/// How long a protected environment's secret stays recoverable after a delete: the
/// shortest window Secrets Manager offers.
pub const SECRET_RECOVERY_DAYS: u32 = 7;
pub const SECRET: KindDef = KindDef::new("secretsmanager.secret", "secretsmanager", "secret")
    .named("name", 512)
    .replace_on(fields!(Secret: name, username))
    .delete_before_create();
impl KindSpec for Secret {
    const DEF: &'static KindDef = &SECRET;
}
outputs!(Secret { arn: String });

/// On a database cluster: whether deleting it takes a final snapshot. A tag, because a delete
/// sees only the live resource.
pub const FINAL_SNAPSHOT_TAG: &str = "paystack:final-snapshot";

/// Where a rotation function finds the database, written into the secret's document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RotationConnection {
    pub engine: String,
    pub host: Input<String>,
    pub port: u16,
    pub dbname: String,
}

/// Rotation of a secret by a Lambda function that already exists. It has no AWS identity of
/// its own: it is a setting of its secret (its AWS id is the secret's ARN).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecretRotation {
    pub secret_arn: Input<String>,
    pub lambda_arn: String,
    pub days: u16,
    pub connection: RotationConnection,
}
pub const SECRET_ROTATION: KindDef = KindDef::new("secretsmanager.rotation", "secretsmanager", "secret_rotation")
    .replace_on(fields!(SecretRotation: secret_arn));
impl KindSpec for SecretRotation {
    const DEF: &'static KindDef = &SECRET_ROTATION;
}

/// Who may read a secret's value: a resource policy on the secret that denies
/// `GetSecretValue` to every principal but `readers` (role ARNs, sorted). It lives on its
/// secret, like the rotation. `cluster_arn` only orders it after the cluster, which is given
/// the password by paystack itself before the policy can refuse paystack; it is never read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecretPolicy {
    pub secret_arn: Input<String>,
    pub cluster_arn: Input<String>,
    pub readers: Vec<String>,
}
pub const SECRET_POLICY: KindDef = KindDef::new("secretsmanager.secret_policy", "secretsmanager", "secret_policy")
    .replace_on(fields!(SecretPolicy: secret_arn))
    .unread(fields!(SecretPolicy: cluster_arn))
    .unordered(fields!(SecretPolicy: readers));
impl KindSpec for SecretPolicy {
    const DEF: &'static KindDef = &SECRET_POLICY;
}

/// The statement of a secret's policy that keeps its value from all but its readers.
pub const ONLY_ITS_READERS: &str = "OnlyItsReadersGetTheValue";

/// The resource policy of [`SecretPolicy`].
pub fn readers_only_policy(readers: &[String]) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": ONLY_ITS_READERS,
            "Effect": "Deny",
            "Principal": "*",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "*",
            "Condition": { "ArnNotEquals": { "aws:PrincipalArn": readers } },
        }],
    })
}

/// The readers a policy of [`readers_only_policy`]'s shape names; `None` for any other.
pub fn readers_of(policy: &serde_json::Value) -> Option<Vec<String>> {
    let statement = policy.get("Statement")?.as_array()?.iter().find(|s| s["Sid"] == ONLY_ITS_READERS)?;
    let readers = &statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"];
    let mut readers: Vec<String> = match readers {
        serde_json::Value::String(one) => vec![one.clone()],
        many => many.as_array()?.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect(),
    };
    readers.sort();
    Some(readers)
}

/// Aurora Serverless v2 capacity, in capacity units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerlessV2Scaling {
    pub min_capacity: f64,
    pub max_capacity: f64,
}

/// An Aurora cluster. `master_password_secret` is the ARN of the secret whose password the
/// cluster is given; changing it sets the new secret's password in place. A
/// [`FINAL_SNAPSHOT_TAG`] tag says whether deleting it takes a final snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DbCluster {
    pub identifier: String,
    pub engine: String,
    pub engine_version: String,
    pub database_name: String,
    pub master_username: String,
    pub master_password_secret: Input<String>,
    pub port: u16,
    pub db_subnet_group_name: Input<String>,
    pub vpc_security_group_ids: Vec<Input<String>>,
    pub db_cluster_parameter_group_name: Input<String>,
    pub storage_encrypted: bool,
    pub backup_retention_period: u16,
    pub preferred_backup_window: String,
    pub serverless_v2_scaling: Option<ServerlessV2Scaling>,
    pub deletion_protection: bool,
    /// The logs it exports to CloudWatch Logs, by type (`postgresql`), each to the group
    /// [`rds_log_group`] names, which paystack makes first.
    pub log_exports: BTreeMap<String, Input<String>>,
    pub tags: Tags,
}

/// Where RDS writes a cluster's exported logs: it makes the group itself, kept forever and
/// unencrypted, unless it exists already.
pub const RDS_LOG_GROUP_PREFIX: &str = "/aws/rds/cluster/";

/// The log group RDS exports the cluster's `log_type` logs to.
pub fn rds_log_group(cluster: &str, log_type: &str) -> String {
    format!("{RDS_LOG_GROUP_PREFIX}{cluster}/{log_type}")
}
pub const DB_CLUSTER: KindDef = KindDef::new("rds.db_cluster", "rds", "rds_cluster")
    .named("identifier", RDS_NAME_MAX)
    .replace_on(fields!(DbCluster:
        identifier,
        engine,
        database_name,
        master_username,
        db_subnet_group_name,
        storage_encrypted,
    ))
    .unordered(fields!(DbCluster: vpc_security_group_ids));
impl KindSpec for DbCluster {
    const DEF: &'static KindDef = &DB_CLUSTER;
}
outputs!(DbCluster {
    /// The identifier.
    id: String,
    arn: String,
    endpoint: String,
    reader_endpoint: String,
    port: u16,
});

/// An Aurora instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DbInstance {
    pub identifier: String,
    pub cluster_identifier: Input<String>,
    pub engine: String,
    pub instance_class: String,
    pub availability_zone: String,
    pub promotion_tier: i32,
    /// `None`: Performance Insights is off.
    #[serde(default)]
    pub performance_insights: Option<PerformanceInsights>,
    pub tags: Tags,
}

/// Performance Insights on an instance: what it records is kept `retention_days` and
/// encrypted with `kms_key_id`, which AWS does not let change once set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerformanceInsights {
    pub kms_key_id: Input<String>,
    pub retention_days: i32,
}

/// Days Performance Insights keeps what it records: AWS's free tier.
pub const PERFORMANCE_INSIGHTS_DAYS: i32 = 7;
pub const DB_INSTANCE: KindDef = KindDef::new("rds.db_instance", "rds", "rds_instance")
    .named("identifier", RDS_NAME_MAX)
    .replace_on(fields!(DbInstance: identifier, cluster_identifier, engine, availability_zone));
impl KindSpec for DbInstance {
    const DEF: &'static KindDef = &DB_INSTANCE;
}
outputs!(DbInstance {
    id: String,
    /// So a reader can wait for the writer by referring to it.
    cluster_identifier: String,
    endpoint: String,
});
