//! What `paystack bootstrap` sets up once in an environment's account: the deploy role that
//! paystack assumes there, its policy, and the permissions boundary that every role paystack
//! makes there carries (the deploy role included). Plain data: `paystack_aws::bootstrap`
//! makes it so.
//!
//! The deploy role may do only what paystack calls, each statement held to the
//! environment's regions (`aws:RequestedRegion`; IAM and Route 53 answer in us-east-1), and
//! on the environment's own names wherever IAM scopes the action by resource: its roles,
//! log groups, secrets, topics, database resources, state bucket and lock table. It can make
//! a role only with the boundary on it, and can neither lift a boundary nor change the
//! boundary policy, so nothing it makes can do more than the boundary allows.

use paystack_config::Environment;
use serde_json::{Value, json};

use crate::kinds::{RDS_LOG_GROUP_PREFIX, ROLE_PATH_ROOT, WAF_LOG_GROUP_PREFIX};

mod automation;
mod data;
mod discovery;
mod edge;

/// The region IAM's and Route 53's global endpoints answer in: what `aws:RequestedRegion` is
/// for their calls.
const GLOBAL_REGION: &str = "us-east-1";

/// The boundary's name, under the path `/paystack/`.
fn boundary_name(env: &Environment) -> String {
    format!("{}-permissions-boundary", env.name)
}

/// The ARN of the permissions boundary of `env`'s roles: the configured one, or for an
/// environment in its own account, the one `bootstrap` makes there.
pub fn boundary_arn(env: &Environment) -> Option<String> {
    if let Some(arn) = &env.iam.permissions_boundary_arn {
        return Some(arn.clone());
    }
    let account = env.account.as_ref()?;
    Some(format!("arn:aws:iam::{}:policy{ROLE_PATH_ROOT}{}", account.id, boundary_name(env)))
}

/// Everything `bootstrap` makes in the account.
#[derive(Clone, Debug, PartialEq)]
pub struct Bootstrap {
    pub account: String,
    pub role_name: String,
    pub role_path: String,
    pub trust_policy: Value,
    /// The deploy role's inline policy, named [`Bootstrap::POLICY_NAME`].
    pub role_policy: Value,
    pub boundary_name: String,
    pub boundary_path: String,
    pub boundary_arn: String,
    pub boundary_policy: Value,
}

impl Bootstrap {
    pub const POLICY_NAME: &'static str = "paystack-deploy";
}

/// What to make in `env`'s account so that `caller_account` (the account whose principals
/// run paystack) can deploy it. `None` for an environment without `[account]`: it runs with
/// the caller's own credentials and has no deploy role.
pub fn bootstrap(env: &Environment, caller_account: &str) -> Option<Bootstrap> {
    let account = env.account.as_ref()?;
    let (role_path, role_name) = split_role_arn(&account.role_arn)?;
    let boundary_arn = format!("arn:aws:iam::{}:policy{ROLE_PATH_ROOT}{}", account.id, boundary_name(env));
    let mut trust = json!({
        "Effect": "Allow",
        "Principal": { "AWS": format!("arn:aws:iam::{caller_account}:root") },
        "Action": "sts:AssumeRole",
    });
    if let Some(external_id) = &account.external_id {
        trust["Condition"] = json!({ "StringEquals": { "sts:ExternalId": external_id } });
    }
    let scope = Scope { env, account: &account.id, boundary: &boundary_arn };
    Some(Bootstrap {
        account: account.id.clone(),
        role_name,
        role_path,
        trust_policy: json!({ "Version": "2012-10-17", "Statement": [trust] }),
        role_policy: json!({ "Version": "2012-10-17", "Statement": scope.deploy_statements() }),
        boundary_name: boundary_name(env),
        boundary_path: ROLE_PATH_ROOT.to_owned(),
        boundary_policy: json!({ "Version": "2012-10-17", "Statement": scope.boundary_statements() }),
        boundary_arn,
    })
}

/// What a role that only looks may do in `env`'s `account`: every read of configuration
/// that `plan` makes, never a secret's value, state or items; with `state`, the reads of the
/// environment's state besides (the scheduled drift's).
pub fn read_only_statements(env: &Environment, account: &str, state: bool) -> Vec<Value> {
    Scope { env, account, boundary: "" }.read_only_statements(state)
}

/// `arn:aws:iam::ACCOUNT:role/PATH/NAME` → (`/PATH/`, `NAME`).
fn split_role_arn(arn: &str) -> Option<(String, String)> {
    let resource = arn.splitn(6, ':').nth(5)?.strip_prefix("role/")?;
    let (path, name) = resource.rsplit_once('/').map_or(("", resource), |(p, n)| (p, n));
    let path = if path.is_empty() { "/".to_owned() } else { format!("/{path}/") };
    Some((path, name.to_owned()))
}

struct Scope<'a> {
    env: &'a Environment,
    account: &'a str,
    boundary: &'a str,
}

/// What paystack calls, by service: the actions it needs on every resource of the service
/// (lists and describes cannot be scoped), held to the environment's regions.
const UNSCOPED: &[(&str, &[&str])] = &[
    (
        "ec2",
        &[
            "ec2:Describe*",
            "ec2:CreateVpc",
            "ec2:DeleteVpc",
            "ec2:ModifyVpcAttribute",
            "ec2:CreateSubnet",
            "ec2:DeleteSubnet",
            "ec2:ModifySubnetAttribute",
            "ec2:CreateFlowLogs",
            "ec2:DeleteFlowLogs",
            "ec2:CreateInternetGateway",
            "ec2:DeleteInternetGateway",
            "ec2:AttachInternetGateway",
            "ec2:DetachInternetGateway",
            "ec2:AllocateAddress",
            "ec2:ReleaseAddress",
            "ec2:CreateNatGateway",
            "ec2:DeleteNatGateway",
            "ec2:CreateRouteTable",
            "ec2:DeleteRouteTable",
            "ec2:CreateRoute",
            "ec2:DeleteRoute",
            "ec2:AssociateRouteTable",
            "ec2:DisassociateRouteTable",
            "ec2:CreateNetworkAcl",
            "ec2:DeleteNetworkAcl",
            "ec2:CreateNetworkAclEntry",
            "ec2:DeleteNetworkAclEntry",
            "ec2:ReplaceNetworkAclEntry",
            "ec2:ReplaceNetworkAclAssociation",
            "ec2:CreateSecurityGroup",
            "ec2:DeleteSecurityGroup",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:RevokeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupEgress",
            "ec2:CreateVpcEndpoint",
            "ec2:ModifyVpcEndpoint",
            "ec2:DeleteVpcEndpoints",
            "ec2:CreateTransitGatewayVpcAttachment",
            "ec2:ModifyTransitGatewayVpcAttachment",
            "ec2:DeleteTransitGatewayVpcAttachment",
            "ec2:CreateTags",
            "ec2:DeleteTags",
        ],
    ),
    (
        "elasticloadbalancing",
        &[
            "elasticloadbalancing:Describe*",
            "elasticloadbalancing:CreateLoadBalancer",
            "elasticloadbalancing:DeleteLoadBalancer",
            "elasticloadbalancing:ModifyLoadBalancerAttributes",
            "elasticloadbalancing:SetSecurityGroups",
            "elasticloadbalancing:SetSubnets",
            "elasticloadbalancing:CreateTargetGroup",
            "elasticloadbalancing:ModifyTargetGroup",
            "elasticloadbalancing:DeleteTargetGroup",
            "elasticloadbalancing:CreateListener",
            "elasticloadbalancing:ModifyListener",
            "elasticloadbalancing:DeleteListener",
            "elasticloadbalancing:AddTags",
            "elasticloadbalancing:RemoveTags",
        ],
    ),
    (
        "ecs",
        &[
            "ecs:Describe*",
            "ecs:List*",
            "ecs:CreateCluster",
            "ecs:DeleteCluster",
            "ecs:UpdateClusterSettings",
            "ecs:RegisterTaskDefinition",
            "ecs:DeregisterTaskDefinition",
            "ecs:CreateService",
            "ecs:UpdateService",
            "ecs:DeleteService",
            "ecs:TagResource",
            "ecs:UntagResource",
        ],
    ),
    (
        "application-autoscaling",
        &[
            "application-autoscaling:Describe*",
            "application-autoscaling:ListTagsForResource",
            "application-autoscaling:RegisterScalableTarget",
            "application-autoscaling:DeregisterScalableTarget",
            "application-autoscaling:PutScalingPolicy",
            "application-autoscaling:DeleteScalingPolicy",
            "application-autoscaling:TagResource",
            "application-autoscaling:UntagResource",
        ],
    ),
    (
        "cloudwatch",
        &[
            "cloudwatch:DescribeAlarms",
            "cloudwatch:ListTagsForResource",
            "cloudwatch:PutMetricAlarm",
            "cloudwatch:DeleteAlarms",
            "cloudwatch:TagResource",
            "cloudwatch:UntagResource",
        ],
    ),
    ("acm", &["acm:ListCertificates", "acm:ListTagsForCertificate", "acm:DescribeCertificate"]),
    ("rds", &["rds:Describe*", "rds:ListTagsForResource"]),
    ("logs", &["logs:DescribeLogGroups"]),
    ("secretsmanager", &["secretsmanager:ListSecrets", "secretsmanager:GetRandomPassword"]),
    ("sns", &["sns:ListTopics"]),
    ("kms", &["kms:CreateKey", "kms:ListKeys", "kms:ListAliases"]),
    ("dynamodb", &["dynamodb:ListTables"]),
    ("s3", &["s3:ListAllMyBuckets"]),
];

impl Scope<'_> {
    fn regions(&self, global: bool) -> Value {
        let mut regions = vec![self.env.region.clone()];
        regions.extend(self.env.replica_region.clone());
        if global && !regions.iter().any(|r| r == GLOBAL_REGION) {
            regions.push(GLOBAL_REGION.to_owned());
        }
        json!(regions)
    }

    fn allow(&self, actions: &[&str], resources: Vec<String>, global: bool) -> Value {
        json!({
            "Effect": "Allow",
            "Action": actions,
            "Resource": resources,
            "Condition": { "StringEquals": { "aws:RequestedRegion": self.regions(global) } },
        })
    }

    /// ARNs of `service` in each of the environment's regions, for `resource` patterns.
    fn arns(&self, service: &str, resource: &str) -> Vec<String> {
        let mut regions = vec![self.env.region.clone()];
        regions.extend(self.env.replica_region.clone());
        regions.iter().map(|r| format!("arn:aws:{service}:{r}:{}:{resource}", self.account)).collect()
    }

    /// Every name of the environment's resources starts with `{env}-` (then its region).
    fn named(&self) -> String {
        format!("{}-*", self.env.name)
    }

    fn deploy_statements(&self) -> Vec<Value> {
        let named = self.named();
        let roles = vec![
            format!("arn:aws:iam::{}:role{ROLE_PATH_ROOT}{}/*", self.account, self.env.name),
            format!("arn:aws:iam::{}:role{ROLE_PATH_ROOT}{}-*", self.account, self.env.name),
        ];
        let mut statements: Vec<Value> =
            UNSCOPED.iter().map(|(_, actions)| self.allow(actions, vec!["*".into()], false)).collect();
        statements.push(
            self.allow(
                &[
                    "rds:CreateDBSubnetGroup",
                    "rds:ModifyDBSubnetGroup",
                    "rds:DeleteDBSubnetGroup",
                    "rds:CreateDBClusterParameterGroup",
                    "rds:ModifyDBClusterParameterGroup",
                    "rds:ResetDBClusterParameterGroup",
                    "rds:DeleteDBClusterParameterGroup",
                    "rds:CreateDBCluster",
                    "rds:ModifyDBCluster",
                    "rds:DeleteDBCluster",
                    "rds:CreateDBInstance",
                    "rds:ModifyDBInstance",
                    "rds:DeleteDBInstance",
                    "rds:AddTagsToResource",
                    "rds:RemoveTagsFromResource",
                    "rds:CreateDBClusterSnapshot",
                ],
                ["subgrp", "cluster-pg", "cluster", "db", "cluster-snapshot"]
                    .iter()
                    .flat_map(|kind| self.arns("rds", &format!("{kind}:{named}")))
                    .collect(),
                false,
            ),
        );
        statements.push(
            self.allow(
                &[
                    "logs:CreateLogGroup",
                    "logs:DeleteLogGroup",
                    "logs:PutRetentionPolicy",
                    "logs:ListTagsForResource",
                    "logs:TagResource",
                    "logs:UntagResource",
                ],
                [
                    format!("log-group:{named}"),
                    format!("log-group:{RDS_LOG_GROUP_PREFIX}{named}"),
                    format!("log-group:{WAF_LOG_GROUP_PREFIX}{named}"),
                ]
                .iter()
                .flat_map(|group| self.arns("logs", group))
                .collect(),
                false,
            ),
        );
        statements.push(self.allow(
            &[
                "secretsmanager:CreateSecret",
                "secretsmanager:DeleteSecret",
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
                "secretsmanager:UpdateSecret",
                "secretsmanager:DescribeSecret",
                "secretsmanager:RotateSecret",
                "secretsmanager:CancelRotateSecret",
                "secretsmanager:TagResource",
                "secretsmanager:UntagResource",
                "secretsmanager:PutResourcePolicy",
                "secretsmanager:GetResourcePolicy",
                "secretsmanager:DeleteResourcePolicy",
            ],
            self.arns("secretsmanager", &format!("secret:{named}")),
            false,
        ));
        // The rotation function is looked up for the role it runs as, a reader of the secret.
        if let Some(rotation) = &self.env.database.rotation {
            statements.push(self.allow(&["lambda:GetFunctionConfiguration"], vec![rotation.lambda_arn.clone()], false));
        }
        statements.push(self.allow(
            &[
                "sns:CreateTopic",
                "sns:DeleteTopic",
                "sns:GetTopicAttributes",
                "sns:ListTagsForResource",
                "sns:TagResource",
                "sns:UntagResource",
                "sns:Subscribe",
                "sns:Unsubscribe",
                "sns:ListSubscriptionsByTopic",
                "sns:Publish",
            ],
            self.arns("sns", &named),
            false,
        ));
        if let (Some(bucket), Some(table)) = (self.env.state_bucket(), self.env.lock_table()) {
            statements.push(self.allow(
                &[
                    "s3:CreateBucket",
                    "s3:ListBucket",
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:GetBucketTagging",
                    "s3:PutBucketTagging",
                    "s3:GetEncryptionConfiguration",
                    "s3:PutEncryptionConfiguration",
                    "s3:GetBucketPublicAccessBlock",
                    "s3:PutBucketPublicAccessBlock",
                    "s3:GetBucketVersioning",
                    "s3:PutBucketVersioning",
                    "s3:GetBucketPolicy",
                    "s3:PutBucketPolicy",
                    "s3:ListBucketVersions",
                    "s3:GetObjectVersion",
                ],
                vec![format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
                false,
            ));
            statements.push(self.allow(
                &[
                    "dynamodb:CreateTable",
                    "dynamodb:DescribeTable",
                    "dynamodb:UpdateTable",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:DescribeContinuousBackups",
                    "dynamodb:UpdateContinuousBackups",
                    "dynamodb:ListTagsOfResource",
                    "dynamodb:TagResource",
                    "dynamodb:UntagResource",
                ],
                self.arns("dynamodb", &format!("table/{table}")),
                false,
            ));
        }
        statements.extend(self.data_statements());
        statements.extend(self.discovery_statements());
        statements.extend(self.firewall_statements());
        statements.extend(self.automation_statements());
        statements.push(self.allow(
            &[
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:DeleteRole",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:DetachRolePolicy",
                "iam:UpdateAssumeRolePolicy",
                "iam:TagRole",
                "iam:UntagRole",
            ],
            roles.clone(),
            true,
        ));
        // A role is made, or its boundary set, only with this environment's boundary on it.
        let mut with_boundary = self.allow(&["iam:CreateRole", "iam:PutRolePermissionsBoundary"], roles.clone(), true);
        with_boundary["Condition"]["StringEquals"]["iam:PermissionsBoundary"] = json!(self.boundary);
        statements.push(with_boundary);
        let mut pass = self.allow(&["iam:PassRole"], roles, true);
        pass["Condition"]["StringEquals"]["iam:PassedToService"] =
            json!(["ecs-tasks.amazonaws.com", "s3.amazonaws.com", "vpc-flow-logs.amazonaws.com"]);
        statements.push(pass);
        // How roles and the tags of kinds whose listings carry none are read; neither takes a
        // resource (docs/security.md, docs/PERFORMANCE.md).
        statements.push(self.allow(&["iam:GetAccountAuthorizationDetails"], vec!["*".into()], true));
        statements.push(self.allow(&["tag:GetResources"], vec!["*".into()], false));
        let mut linked = self.allow(
            &["iam:CreateServiceLinkedRole"],
            vec![format!("arn:aws:iam::{}:role/aws-service-role/*", self.account)],
            true,
        );
        linked["Condition"]["StringEquals"]["iam:AWSServiceName"] = json!([
            "ecs.amazonaws.com",
            "elasticloadbalancing.amazonaws.com",
            "rds.amazonaws.com",
            "application-autoscaling.amazonaws.com"
        ]);
        statements.push(linked);
        statements.push(self.allow(
            &["route53:ListHostedZones", "route53:ListHostedZonesByName", "route53:GetChange"],
            vec!["*".into()],
            true,
        ));
        statements.push(self.allow(
            &["route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets", "route53:ListTagsForResource"],
            vec!["arn:aws:route53:::hostedzone/*".into()],
            true,
        ));
        statements
    }

    /// The ceiling of every role paystack makes in the account: what the deploy role does,
    /// what the services' roles do at run time, and no way out of the ceiling itself.
    fn boundary_statements(&self) -> Vec<Value> {
        let mut statements = self.deploy_statements();
        statements.push(self.allow(
            &[
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "ecr:GetAuthorizationToken",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchCheckLayerAvailability",
                "kms:Decrypt",
                "ssm:GetParameters",
                "ssm:GetParametersByPath",
            ],
            vec!["*".into()],
            false,
        ));
        // What the services and the replication role do at run time, on the environment's
        // own table and buckets.
        statements.push(self.allow(
            &[
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:BatchWriteItem",
                "dynamodb:ConditionCheckItem",
            ],
            self.arns("dynamodb", &format!("table/{}", self.named())),
            false,
        ));
        statements.push(self.allow(
            &[
                "s3:GetObject",
                "s3:PutObject",
                "s3:ListBucket",
                "s3:GetObjectVersionForReplication",
                "s3:GetObjectVersionAcl",
                "s3:GetObjectVersionTagging",
                "s3:ReplicateObject",
                "s3:ReplicateDelete",
                "s3:ReplicateTags",
            ],
            vec![format!("arn:aws:s3:::{}", self.named()), format!("arn:aws:s3:::{}/*", self.named())],
            false,
        ));
        statements.push(self.allow(
            &["kms:Encrypt", "kms:GenerateDataKey", "sns:Publish"],
            [self.arns("kms", "key/*"), self.arns("sns", &self.named())].concat(),
            false,
        ));
        statements.push(json!({
            "Effect": "Deny",
            "Action": ["iam:CreateRole", "iam:PutRolePermissionsBoundary"],
            "Resource": "*",
            "Condition": { "StringNotEquals": { "iam:PermissionsBoundary": self.boundary } },
        }));
        statements.push(json!({
            "Effect": "Deny",
            "Action": [
                "iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion", "iam:DeletePolicy",
                "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion",
            ],
            "Resource": "*",
        }));
        statements
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::bootstrap) fn env(external_id: Option<&str>) -> Environment {
        let mut e = crate::blueprint::tests::env("prod", "10.2.0.0/16", 3);
        e.replica_region = Some("eu-west-1".into());
        e.account = Some(paystack_config::Account {
            id: "333333333333".into(),
            role_arn: "arn:aws:iam::333333333333:role/ops/paystack-deploy".into(),
            external_id: external_id.map(str::to_owned),
        });
        e
    }

    #[test]
    fn the_deploy_role_trusts_the_caller_s_account_with_the_external_id() {
        let b = bootstrap(&env(Some("payments-prod")), "123456789012").unwrap();
        assert_eq!((b.role_path.as_str(), b.role_name.as_str()), ("/ops/", "paystack-deploy"));
        let trust = &b.trust_policy["Statement"][0];
        assert_eq!(trust["Principal"]["AWS"], "arn:aws:iam::123456789012:root");
        assert_eq!(trust["Condition"]["StringEquals"]["sts:ExternalId"], "payments-prod");
        let without = bootstrap(&env(None), "123456789012").unwrap();
        assert!(without.trust_policy["Statement"][0].get("Condition").is_none());
        assert_eq!(b.boundary_arn, "arn:aws:iam::333333333333:policy/paystack/prod-permissions-boundary");
        assert_eq!(boundary_arn(&env(None)).as_deref(), Some(b.boundary_arn.as_str()));
    }

    /// The auditor's reading: no `"Action": "*"`, no `"Resource": "*"` without a condition,
    /// every Allow held to the environment's regions.
    #[test]
    fn no_statement_allows_everything_or_anywhere() {
        let b = bootstrap(&env(None), "123456789012").unwrap();
        for doc in [&b.role_policy, &b.boundary_policy] {
            for s in doc["Statement"].as_array().unwrap() {
                let actions: Vec<&str> = match &s["Action"] {
                    Value::String(a) => vec![a.as_str()],
                    v => v.as_array().unwrap().iter().filter_map(Value::as_str).collect(),
                };
                assert!(!actions.contains(&"*") && actions.iter().all(|a| !a.ends_with(":*")), "{s}");
                if s["Effect"] == "Allow" {
                    let regions = &s["Condition"]["StringEquals"]["aws:RequestedRegion"];
                    assert!(regions.as_array().is_some_and(|r| r.contains(&json!("us-east-1"))), "{s}");
                    assert!(regions.as_array().unwrap().contains(&json!("eu-west-1")), "the replica region: {s}");
                }
            }
        }
        let creates = b.role_policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Action"].as_array().unwrap().contains(&json!("iam:CreateRole")))
            .unwrap();
        assert_eq!(creates["Condition"]["StringEquals"]["iam:PermissionsBoundary"], json!(b.boundary_arn));
        assert!(
            creates["Resource"].as_array().unwrap().iter().all(|r| r.as_str().unwrap().contains(":role/paystack/prod")),
            "{creates}"
        );
    }

    #[test]
    fn an_environment_without_an_account_has_nothing_to_bootstrap() {
        let mut e = env(None);
        e.account = None;
        assert_eq!(bootstrap(&e, "123456789012"), None);
        assert_eq!(boundary_arn(&e), None);
        e.iam.permissions_boundary_arn = Some("arn:aws:iam::1:policy/b".into());
        assert_eq!(boundary_arn(&e).as_deref(), Some("arn:aws:iam::1:policy/b"), "a configured one wins");
    }
}
