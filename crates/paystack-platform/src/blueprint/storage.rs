//! The storage layer: the environment's customer-managed KMS key in each region it uses,
//! and the DynamoDB sessions table, encrypted with it, with a global-table replica in the
//! replica region under that region's key.

use serde_json::{Value, json};

use super::{BlueprintError, Builder, Lookups, NOT_LOOKED_UP};
use crate::kinds::{Handle, KmsKey, Table, TableReplica};

/// The sessions table's key attribute.
pub(super) const SESSION_KEY: &str = "session_id";

/// What the other layers build on.
pub(super) struct Storage {
    /// The key of the environment's own region.
    pub(super) key: Handle<KmsKey>,
    pub(super) sessions: Handle<Table>,
}

pub(super) fn storage(b: &mut Builder<'_>, lookups: &Lookups) -> Result<Storage, BlueprintError> {
    let env = b.env;
    let account = env
        .account
        .as_ref()
        .map(|a| a.id.clone())
        .or_else(|| lookups.account_id.clone())
        .unwrap_or_else(|| NOT_LOOKED_UP.to_owned());
    // Every log group of the stack: its names start alike.
    let log_groups = format!("{}-{}-*", env.name, env.region);
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
    let sessions = b.add("storage.sessions", ("storage", "sessions"), |n| Table {
        table_name: n.name,
        hash_key: SESSION_KEY.into(),
        kms_key_arn: key.arn(),
        point_in_time_recovery: env.sessions.point_in_time_recovery,
        ttl_attribute: env.sessions.ttl_attribute.clone(),
        replicas: replica_key
            .iter()
            .map(|(region, k)| TableReplica { region: region.clone(), kms_key_arn: k.arn() })
            .collect(),
        tags: n.tags,
    })?;
    Ok(Storage { key, sessions })
}

/// The key's policy: the account administers it (which lets IAM policies of the account
/// grant its use); the environment's services use it in this region for the account's
/// principals (DynamoDB in every region, and at home Secrets Manager and SNS too);
/// CloudWatch Logs encrypts the environment's log groups with it, and CloudWatch alarms
/// may publish to the encrypted topic. Nothing else may use it.
fn key_policy(account: &str, region: &str, home: bool, log_groups: &str) -> Value {
    let root = format!("arn:aws:iam::{account}:root");
    let services: Vec<String> = if home { &["dynamodb", "secretsmanager", "sns"][..] } else { &["dynamodb"][..] }
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
                    "kms:EncryptionContext:aws:logs:arn": format!("arn:aws:logs:{region}:{account}:log-group:{log_groups}"),
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
