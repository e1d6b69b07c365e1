//! The storage layer: the environment's customer-managed KMS key in each region it uses;
//! the DynamoDB sessions table, encrypted with it, with a global-table replica in the
//! replica region under that region's key, and its capacity's auto-scaling if provisioned;
//! and the S3 artifacts bucket, replicated to a
//! bucket of the replica region by a role of its own.

use paystack_core::Input;
use serde_json::{Value, json};

use super::compute::allow_where;
use super::trust::{Trusted, may_assume};
use super::{BlueprintError, Builder, Lookups, NOT_LOOKED_UP};
use crate::kinds::{
    self, Bucket, BucketReplication, Handle, IamRole, KmsKey, Lifecycle, PolicyDocument, RDS_LOG_GROUP_PREFIX, Table,
    TableReplica, TableScaling,
};
use paystack_config::SessionsCapacity;

/// The sessions table's key attribute.
pub(super) const SESSION_KEY: &str = "session_id";

/// What the other layers build on.
pub(super) struct Storage {
    /// The key of the environment's own region.
    pub(super) key: Handle<KmsKey>,
    pub(super) sessions: Handle<Table>,
    pub(super) artifacts: Handle<Bucket>,
    /// Its name, known before it exists, for the policies that name it.
    pub(super) artifacts_name: String,
    /// The artifacts' replica, in the replica region, if the environment has one.
    pub(super) artifacts_replica: Option<Handle<Bucket>>,
    /// The account the environment's resources live in, for ARNs built before they exist.
    pub(super) account: String,
}

/// Days after which S3 aborts a multipart upload left incomplete.
const ABORT_MULTIPART_DAYS: u32 = 7;

/// The account the environment's resources are in: configured, or else looked up.
pub(super) fn account_of(env: &paystack_config::Environment, lookups: &Lookups) -> String {
    env.account
        .as_ref()
        .map(|a| a.id.clone())
        .or_else(|| lookups.account_id.clone())
        .unwrap_or_else(|| NOT_LOOKED_UP.to_owned())
}

/// The artifacts bucket's name: global, so it carries the account.
pub(super) fn artifacts_name(b: &Builder<'_>, account: &str) -> String {
    b.name("artifacts", account)
}

pub(super) fn storage(b: &mut Builder<'_>, lookups: &Lookups) -> Result<Storage, BlueprintError> {
    let env = b.env;
    let account = account_of(env, lookups);
    // Every log group of the stack: its names start alike, the database's after RDS's prefix.
    let stack_names = format!("{}-{}-*", env.name, env.region);
    let log_groups = vec![
        stack_names.clone(),
        format!("{RDS_LOG_GROUP_PREFIX}{stack_names}"),
        format!("{}{stack_names}", kinds::WAF_LOG_GROUP_PREFIX),
    ];
    let key_in = |region: &str| {
        let account = account.clone();
        let region = region.to_owned();
        let home = region == env.region;
        let log_groups = log_groups.clone();
        move |n: super::Named| KmsKey {
            alias: format!("alias/{}", n.name),
            description: format!("paystack: what {} keeps at rest in {region}", env.name),
            policy: key_policy(&account, &region, home, &log_groups),
            enable_key_rotation: true,
            tags: n.tags,
        }
    };
    let key = b.add("storage.key", ("storage", "key"), key_in(&env.region))?;
    let replica_key = match &env.replica_region {
        Some(region) => Some((
            region.clone(),
            b.add_in_region(region, "storage.key.replica", ("storage", "replica-key"), key_in(region))?,
        )),
        None => None,
    };
    let provisioned = match &env.sessions.capacity {
        SessionsCapacity::OnDemand => None,
        SessionsCapacity::Provisioned { read, write } => Some((read, write)),
    };
    let sessions = b.add("storage.sessions", ("storage", "sessions"), |n| Table {
        table_name: n.name,
        hash_key: SESSION_KEY.into(),
        billing_mode: if provisioned.is_some() { kinds::PROVISIONED } else { kinds::PAY_PER_REQUEST }.into(),
        kms_key_arn: key.arn(),
        point_in_time_recovery: env.sessions.point_in_time_recovery,
        ttl_attribute: env.sessions.ttl_attribute.clone(),
        replicas: replica_key
            .iter()
            .map(|(region, k)| TableReplica { region: region.clone(), kms_key_arn: k.arn() })
            .collect(),
        tags: n.tags,
    })?;
    if let Some((read, write)) = provisioned {
        for (dimension, range) in [("read", read), ("write", write)] {
            let id = format!("storage.sessions.{dimension}_scaling");
            let scaling = TableScaling {
                policy_name: kinds::scaling_policy_name(&b.stack.key(), &id),
                resource_id: sessions.scaling_resource_id(),
                dimension: dimension.into(),
                min_capacity: range.min,
                max_capacity: range.max,
                target_percent: range.target_percent,
            };
            b.setting(&id, &sessions, &scaling)?;
        }
    }
    let artifacts_name = artifacts_name(b, &account);
    let (artifacts, artifacts_replica) = artifacts(b, &account, &artifacts_name, &key, replica_key.as_ref())?;
    Ok(Storage { key, sessions, artifacts, artifacts_name, artifacts_replica, account })
}

/// The artifacts bucket, and its replica with the role that replicates to it. Bucket names
/// are global: the account's id makes them the environment's own.
fn artifacts(
    b: &mut Builder<'_>,
    account: &str,
    name: &str,
    key: &Handle<KmsKey>,
    replica_key: Option<&(String, Handle<KmsKey>)>,
) -> Result<(Handle<Bucket>, Option<Handle<Bucket>>), BlueprintError> {
    let env = b.env;
    let a = &env.artifacts;
    let lifecycle = Lifecycle {
        infrequent_access_days: Some(a.infrequent_access_days),
        glacier_ir_days: Some(a.glacier_ir_days),
        expiration_days: None,
        noncurrent_expiration_days: a.noncurrent_expiration_days,
        abort_multipart_days: ABORT_MULTIPART_DAYS,
    };
    let bucket = |n: super::Named, key: &Handle<KmsKey>, replication: Option<BucketReplication>| Bucket {
        policy: kinds::tls_only_policy(&n.name),
        bucket: n.name,
        versioning: true,
        kms_key_arn: Some(key.arn()),
        block_public_access: true,
        object_ownership: kinds::BUCKET_OWNER_ENFORCED.into(),
        lifecycle: lifecycle.clone(),
        replication,
        tags: n.tags,
    };
    let Some((region, replica_key)) = replica_key else {
        let home = b.placement(&kinds::BUCKET);
        let primary = b.add_at(home, name.to_owned(), "storage.artifacts", |n| bucket(n, key, None))?;
        return Ok((primary, None));
    };
    let replica_name = b.name("replica", account);
    let replica_at = paystack_core::Placement::regional(env.account.as_ref().map(|a| a.id.as_str()), region);
    let replica =
        b.add_at(replica_at, replica_name.clone(), "storage.artifacts.replica", |n| bucket(n, replica_key, None))?;
    let path = kinds::role_path(&b.stack.key());
    let role = b.add("storage.artifacts.replication_role", ("artifacts", "replication-role"), |n| IamRole {
        name: n.name,
        path,
        assume_role_policy: may_assume(&Trusted::S3Replication { bucket: name }, account),
        policy: PolicyDocument {
            version: "2012-10-17".into(),
            statement: replication_statements(&env.region, region, name, &replica_name, key, replica_key),
        },
        permissions_boundary: crate::bootstrap::boundary_arn(env),
        other_policies: std::collections::BTreeMap::new(),
        managed_policy_arns: Vec::new(),
        tags: n.tags,
    })?;
    let replication = BucketReplication {
        role_arn: role.arn(),
        destination_bucket_arn: replica.arn(),
        destination_kms_key_arn: replica_key.arn(),
    };
    let home = b.placement(&kinds::BUCKET);
    let primary = b.add_at(home, name.to_owned(), "storage.artifacts", |n| bucket(n, key, Some(replication)))?;
    Ok((primary, Some(replica)))
}

/// What replication needs and nothing more: read the source bucket's replication setting
/// and its object versions, decrypting them with the home key through S3 of the home region;
/// replicate objects, deletes and tags into the replica bucket, encrypting them with the
/// replica region's key through S3 there.
fn replication_statements(
    home: &str,
    replica_region: &str,
    source: &str,
    destination: &str,
    key: &Handle<KmsKey>,
    replica_key: &Handle<KmsKey>,
) -> Vec<kinds::Statement> {
    let bucket = |name: &str| Input::from(format!("arn:aws:s3:::{name}"));
    let objects = |name: &str| Input::from(format!("arn:aws:s3:::{name}/*"));
    let in_region = |region: &str| json!({ "StringEquals": { "aws:RequestedRegion": region } });
    let via_s3 = |region: &str| json!({ "StringEquals": { "kms:ViaService": format!("s3.{region}.amazonaws.com") } });
    vec![
        allow_where(&["s3:GetReplicationConfiguration", "s3:ListBucket"], vec![bucket(source)], in_region(home)),
        allow_where(
            &["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
            vec![objects(source)],
            in_region(home),
        ),
        allow_where(
            &["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
            vec![objects(destination)],
            in_region(replica_region),
        ),
        allow_where(&["kms:Decrypt"], vec![key.arn()], via_s3(home)),
        allow_where(&["kms:Encrypt", "kms:GenerateDataKey"], vec![replica_key.arn()], via_s3(replica_region)),
    ]
}

/// The key's policy: the account administers it (which lets IAM policies of the account
/// grant its use); the environment's services use it in this region for the account's
/// principals (DynamoDB and S3 in every region, and at home Secrets Manager, SNS and SSM);
/// CloudWatch Logs encrypts the environment's log groups with it, and CloudWatch alarms
/// may publish to the encrypted topic. Nothing else may use it.
fn key_policy(account: &str, region: &str, home: bool, log_groups: &[String]) -> Value {
    let root = format!("arn:aws:iam::{account}:root");
    let services: Vec<String> =
        if home { &["dynamodb", "s3", "secretsmanager", "sns", "ssm"][..] } else { &["dynamodb", "s3"][..] }
            .iter()
            .map(|s| format!("{s}.{region}.amazonaws.com"))
            .collect();
    let mut statements = vec![
        json!({
            "Sid": "TheAccountAdministersTheKey",
            "Effect": "Allow",
            "Principal": { "AWS": root },
            "Action": [
                "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
                "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
                "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
            ],
            "Resource": "*",
        }),
        json!({
            "Sid": "TheEnvironmentsServicesUseItForTheAccount",
            "Effect": "Allow",
            "Principal": { "AWS": root },
            "Action": [
                "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey",
                "kms:CreateGrant",
            ],
            "Resource": "*",
            "Condition": {
                "StringEquals": { "kms:ViaService": services, "kms:CallerAccount": account },
            },
        }),
    ];
    if home {
        statements.push(json!({
            "Sid": "CloudWatchLogsEncryptsTheEnvironmentsGroups",
            "Effect": "Allow",
            "Principal": { "Service": format!("logs.{region}.amazonaws.com") },
            "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            "Resource": "*",
            "Condition": {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": log_groups
                        .iter()
                        .map(|g| format!("arn:aws:logs:{region}:{account}:log-group:{g}"))
                        .collect::<Vec<_>>(),
                },
            },
        }));
        statements.push(json!({
            "Sid": "CloudWatchAlarmsPublishToTheEncryptedTopic",
            "Effect": "Allow",
            "Principal": { "Service": "cloudwatch.amazonaws.com" },
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": { "StringEquals": { "aws:SourceAccount": account } },
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}
