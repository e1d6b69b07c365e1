//! What the platform watches in itself: the API calls that can break a compliance rule, as
//! CloudTrail records them, and what the rules hold an environment to. Both are plain data
//! here, because both sides use them: the blueprint writes the EventBridge patterns from
//! [`TRIGGERS`] and hands the compliance function its environment's [`Expectations`], and
//! `paystack-rules` reads events and evaluates with the same two.

use std::collections::{BTreeMap, BTreeSet};

use paystack_config::Environment;
use serde::{Deserialize, Serialize};

use crate::kinds::{self, KindDef};

/// One API call that can break a rule.
pub struct Trigger {
    /// The EventBridge source (`aws.ec2`).
    pub source: &'static str,
    pub event_name: &'static str,
    /// The kind of resource it changes.
    pub kind: &'static KindDef,
    /// The request parameter that names the resource.
    pub parameter: &'static str,
}

const fn t(source: &'static str, event_name: &'static str, kind: &'static KindDef, parameter: &'static str) -> Trigger {
    Trigger { source, event_name, kind, parameter }
}

/// Every call the rules watch, by service.
pub const TRIGGERS: &[Trigger] = &[
    t("aws.ec2", "AuthorizeSecurityGroupIngress", &kinds::SECURITY_GROUP, "groupId"),
    t("aws.ec2", "ModifySecurityGroupRules", &kinds::SECURITY_GROUP, "groupId"),
    t("aws.ec2", "CreateNetworkAclEntry", &kinds::NETWORK_ACL, "networkAclId"),
    t("aws.ec2", "ReplaceNetworkAclEntry", &kinds::NETWORK_ACL, "networkAclId"),
    t("aws.ec2", "ModifySubnetAttribute", &kinds::SUBNET, "subnetId"),
    t("aws.rds", "ModifyDBCluster", &kinds::DB_CLUSTER, "dBClusterIdentifier"),
    t("aws.rds", "RemoveTagsFromResource", &kinds::DB_CLUSTER, "resourceName"),
    t("aws.s3", "PutBucketPolicy", &kinds::BUCKET, "bucketName"),
    t("aws.s3", "DeleteBucketPolicy", &kinds::BUCKET, "bucketName"),
    t("aws.s3", "PutBucketEncryption", &kinds::BUCKET, "bucketName"),
    t("aws.s3", "DeleteBucketEncryption", &kinds::BUCKET, "bucketName"),
    t("aws.s3", "PutBucketVersioning", &kinds::BUCKET, "bucketName"),
    t("aws.s3", "PutBucketPublicAccessBlock", &kinds::BUCKET, "bucketName"),
    t("aws.s3", "DeleteBucketPublicAccessBlock", &kinds::BUCKET, "bucketName"),
    t("aws.s3", "PutBucketTagging", &kinds::BUCKET, "bucketName"),
    t("aws.iam", "PutRolePolicy", &kinds::IAM_ROLE, "roleName"),
    t("aws.iam", "AttachRolePolicy", &kinds::IAM_ROLE, "roleName"),
    t("aws.iam", "DeleteRolePermissionsBoundary", &kinds::IAM_ROLE, "roleName"),
    t("aws.iam", "PutRolePermissionsBoundary", &kinds::IAM_ROLE, "roleName"),
    t("aws.iam", "UntagRole", &kinds::IAM_ROLE, "roleName"),
    t("aws.iam", "UpdateAssumeRolePolicy", &kinds::IAM_ROLE, "roleName"),
    t("aws.elasticloadbalancing", "ModifyListener", &kinds::LISTENER, "listenerArn"),
    t("aws.elasticloadbalancing", "ModifyLoadBalancerAttributes", &kinds::LOAD_BALANCER, "loadBalancerArn"),
    t("aws.dynamodb", "UpdateTable", &kinds::TABLE, "tableName"),
    t("aws.dynamodb", "UpdateContinuousBackups", &kinds::TABLE, "tableName"),
    t("aws.ecs", "UntagResource", &kinds::ECS_SERVICE, "resourceArn"),
    t("aws.kms", "DisableKeyRotation", &kinds::KMS_KEY, "keyId"),
    t("aws.kms", "UntagResource", &kinds::KMS_KEY, "keyId"),
    t("aws.logs", "PutRetentionPolicy", &kinds::LOG_GROUP, "logGroupName"),
    t("aws.logs", "DeleteRetentionPolicy", &kinds::LOG_GROUP, "logGroupName"),
    t("aws.logs", "DisassociateKmsKey", &kinds::LOG_GROUP, "logGroupName"),
    t("aws.secretsmanager", "UpdateSecret", &kinds::SECRET, "secretId"),
    t("aws.sns", "SetTopicAttributes", &kinds::TOPIC, "topicArn"),
];

/// The event names each source is watched for: what the EventBridge patterns list.
pub fn watched() -> BTreeMap<&'static str, Vec<&'static str>> {
    let mut by_source: BTreeMap<&'static str, Vec<&'static str>> = BTreeMap::new();
    for trigger in TRIGGERS {
        by_source.entry(trigger.source).or_default().push(trigger.event_name);
    }
    by_source
}

/// What the rules hold one environment's live resources to: its own configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectations {
    /// The tags every taggable resource carries, by key.
    pub required_tags: BTreeMap<String, String>,
    pub log_retention_days: u32,
    /// The HTTPS listener's security policy.
    pub tls_policy: String,
    /// The boundary every role carries, where the environment has one.
    pub permissions_boundary: Option<String>,
    /// The ports the load balancer's security group may open to the internet.
    pub public_ports: BTreeSet<u16>,
}

impl Expectations {
    /// What `env`'s configuration sets.
    pub fn of(env: &Environment) -> Self {
        Self {
            required_tags: crate::blueprint::required_tags(env).into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            log_retention_days: env.logs.retention_days,
            tls_policy: env.load_balancer.tls_policy.clone(),
            permissions_boundary: crate::bootstrap::boundary_arn(env),
            public_ports: env.security.alb_ingress_ports.iter().copied().collect(),
        }
    }
}
