//! The deploy role's statements for the data layer: the environment's KMS keys, its
//! sessions table and replica, its artifacts buckets, and its parameters.

use serde_json::Value;

use super::Scope;

impl Scope<'_> {
    /// The data layer: the environment's keys (by alias; a key has no name to scope by
    /// before it exists), its sessions table and replica, its artifacts buckets, and its
    /// parameters.
    pub(super) fn data_statements(&self) -> Vec<Value> {
        let named = self.named();
        let env = &self.env.name;
        vec![
            self.allow(
                &[
                    "kms:DescribeKey",
                    "kms:GetKeyPolicy",
                    "kms:PutKeyPolicy",
                    "kms:GetKeyRotationStatus",
                    "kms:EnableKeyRotation",
                    "kms:ListResourceTags",
                    "kms:TagResource",
                    "kms:UntagResource",
                    "kms:CreateAlias",
                    "kms:DeleteAlias",
                    "kms:ScheduleKeyDeletion",
                    "kms:CreateGrant",
                ],
                [self.arns("kms", "key/*"), self.arns("kms", &format!("alias/{named}"))].concat(),
                false,
            ),
            self.allow(
                &[
                    "dynamodb:CreateTable",
                    "dynamodb:DescribeTable",
                    "dynamodb:UpdateTable",
                    "dynamodb:DeleteTable",
                    "dynamodb:CreateTableReplica",
                    "dynamodb:DeleteTableReplica",
                    "dynamodb:DescribeTimeToLive",
                    "dynamodb:UpdateTimeToLive",
                    "dynamodb:DescribeContinuousBackups",
                    "dynamodb:UpdateContinuousBackups",
                    "dynamodb:ListTagsOfResource",
                    "dynamodb:TagResource",
                    "dynamodb:UntagResource",
                ],
                self.arns("dynamodb", &format!("table/{named}")),
                false,
            ),
            self.allow(
                &[
                    "s3:CreateBucket",
                    "s3:DeleteBucket",
                    "s3:GetBucketLocation",
                    "s3:GetBucketTagging",
                    "s3:PutBucketTagging",
                    "s3:GetEncryptionConfiguration",
                    "s3:PutEncryptionConfiguration",
                    "s3:GetBucketPublicAccessBlock",
                    "s3:PutBucketPublicAccessBlock",
                    "s3:GetBucketOwnershipControls",
                    "s3:PutBucketOwnershipControls",
                    "s3:GetBucketVersioning",
                    "s3:PutBucketVersioning",
                    "s3:GetBucketPolicy",
                    "s3:PutBucketPolicy",
                    "s3:GetLifecycleConfiguration",
                    "s3:PutLifecycleConfiguration",
                    "s3:GetReplicationConfiguration",
                    "s3:PutReplicationConfiguration",
                    "s3:GetBucketLogging",
                    "s3:PutBucketLogging",
                    "s3:ListBucketVersions",
                    "s3:DeleteObject",
                    "s3:DeleteObjectVersion",
                ],
                vec![format!("arn:aws:s3:::{named}"), format!("arn:aws:s3:::{named}/*")],
                false,
            ),
            self.allow(
                &[
                    "ssm:PutParameter",
                    "ssm:GetParameter",
                    "ssm:GetParametersByPath",
                    "ssm:DeleteParameter",
                    "ssm:ListTagsForResource",
                    "ssm:AddTagsToResource",
                    "ssm:RemoveTagsFromResource",
                ],
                [self.arns("ssm", &format!("parameter/{env}/*")), self.arns("ssm", &format!("parameter/{named}/*"))]
                    .concat(),
                false,
            ),
        ]
    }
}
