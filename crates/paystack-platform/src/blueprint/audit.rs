//! The audit trail: a flow log of every packet of the VPC, into a log group with the
//! environment's retention and key, delivered by a role that may write to that group alone;
//! and the access-log bucket, where the load balancer writes a record of every request it
//! served and S3 one of every request made to the artifacts and state buckets.

use std::collections::BTreeMap;

use paystack_config::StateStore;
use serde_json::{Value, json};

use super::compute::allow;
use super::network::Network;
use super::storage::Storage;
use super::trust::{Trusted, may_assume};
use super::{BlueprintError, Builder};
use crate::kinds::{self, Bucket, BucketLogging, FlowLog, Handle, IamRole, Lifecycle, LogGroup, PolicyDocument};

/// What the other layers build on.
pub(super) struct Audit {
    /// The bucket the load balancer writes its access logs to, under [`ALB_LOG_PREFIX`].
    pub(super) access_logs: Handle<Bucket>,
}

/// Where in the access-log bucket the load balancer writes.
pub(super) const ALB_LOG_PREFIX: &str = "alb";
/// The accounts through which Elastic Load Balancing writes access logs, in the regions
/// that opened before August 2022. A region not listed here is newer, and takes the log
/// delivery service principal instead.
const ELB_LOG_ACCOUNTS: &[(&str, &str)] = &[
    ("us-east-1", "127311923021"),
    ("us-east-2", "033677994240"),
    ("us-west-1", "027434742980"),
    ("us-west-2", "797873946194"),
    ("af-south-1", "098369216593"),
    ("ap-east-1", "754344448648"),
    ("ap-south-1", "718504428378"),
    ("ap-northeast-1", "582318560864"),
    ("ap-northeast-2", "600734575887"),
    ("ap-northeast-3", "383597477331"),
    ("ap-southeast-1", "114774131450"),
    ("ap-southeast-2", "783225319266"),
    ("ap-southeast-3", "589379963580"),
    ("ca-central-1", "985666609251"),
    ("eu-central-1", "054676820928"),
    ("eu-west-1", "156460612806"),
    ("eu-west-2", "652711504416"),
    ("eu-west-3", "009996457667"),
    ("eu-south-1", "635631232127"),
    ("eu-north-1", "897822967062"),
    ("me-south-1", "076674570225"),
    ("sa-east-1", "507241528517"),
];
/// The principal that writes load balancer access logs in the regions opened since.
const ELB_LOG_DELIVERY: &str = "logdelivery.elasticloadbalancing.amazonaws.com";

/// Every packet: those the security groups and ACLs accepted, and those they rejected.
const ALL_TRAFFIC: &str = "ALL";
/// Seconds over which AWS aggregates a flow into one record; 60 is the finest it offers.
const AGGREGATION_SECONDS: i32 = 60;

pub(super) fn audit(b: &mut Builder<'_>, network: &Network, storage: &Storage) -> Result<Audit, BlueprintError> {
    flow_log(b, network, storage)?;
    let access_logs = access_logs(b, storage)?;
    Ok(Audit { access_logs })
}

fn flow_log(b: &mut Builder<'_>, network: &Network, storage: &Storage) -> Result<(), BlueprintError> {
    let env = b.env;
    let logs = b.add("network.flow_log.logs", ("network", "flow-logs"), |n| LogGroup {
        name: n.name,
        retention_in_days: env.logs.retention_days,
        kms_key_id: storage.key.arn(),
        tags: n.tags,
    })?;
    let path = kinds::role_path(&b.stack.key());
    let role = b.add("network.flow_log.role", ("network", "flow-log-role"), |n| IamRole {
        name: n.name,
        path,
        assume_role_policy: may_assume(&Trusted::FlowLogs { region: &env.region }, &storage.account),
        policy: PolicyDocument {
            version: "2012-10-17".into(),
            statement: vec![allow(
                &env.region,
                &["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                vec![logs.arn(), logs.streams_arn()],
            )],
        },
        other_policies: BTreeMap::new(),
        managed_policy_arns: Vec::new(),
        permissions_boundary: crate::bootstrap::boundary_arn(env),
        tags: n.tags,
    })?;
    b.add("network.flow_log", ("network", "flow-log"), |n| FlowLog {
        vpc_id: network.vpc.id(),
        traffic_type: ALL_TRAFFIC.into(),
        log_group_name: logs.name(),
        deliver_logs_role_arn: role.arn(),
        max_aggregation_interval: AGGREGATION_SECONDS,
        tags: n.tags,
    })?;
    Ok(())
}

/// The access-log bucket, and the logging of the artifacts bucket and (from the stack
/// without a suffix, which owns the environment's shared resources) of the state bucket
/// into it. Load balancers and S3's log delivery write only to a bucket under S3's own keys:
/// this is the one bucket not under the environment's key. It is versioned, so that a log
/// cannot be taken back unseen; every version expires after the environment's
/// `access_logs.expiration_days`.
fn access_logs(b: &mut Builder<'_>, storage: &Storage) -> Result<Handle<Bucket>, BlueprintError> {
    let env = b.env;
    let account = storage.account.as_str();
    let name = b.name("access-logs", account);
    let home = b.placement(&kinds::BUCKET);
    let artifacts_id = "storage.artifacts.access_log";
    let state_id = "storage.state.access_log";
    // The state bucket is found by the environment's names: one named elsewhere is not logged.
    let state = match (&env.state.backend, env.suffix.as_deref()) {
        (StateStore::S3 { .. }, None) => {
            env.state_bucket().filter(|n| n.starts_with(&format!("{}-{}-", env.name, env.region)))
        }
        _ => None,
    };
    let mut sources = vec![(artifacts_id, "Artifacts", storage.artifacts_name.clone())];
    sources.extend(state.iter().map(|s| (state_id, "State", s.clone())));
    let bucket = b.add_at(home, name, "audit.access_logs", |n| Bucket {
        policy: log_bucket_policy(&n.name, &env.region, account, &sources),
        bucket: n.name,
        versioning: true,
        kms_key_arn: None,
        block_public_access: true,
        object_ownership: kinds::BUCKET_OWNER_ENFORCED.into(),
        lifecycle: Lifecycle {
            infrequent_access_days: None,
            glacier_ir_days: None,
            expiration_days: Some(env.access_logs.expiration_days),
            // A log deleted or overwritten by hand is kept as long as the logs are.
            noncurrent_expiration_days: env.access_logs.expiration_days,
            abort_multipart_days: 1,
        },
        replication: None,
        tags: n.tags,
    })?;
    let artifacts = BucketLogging {
        bucket: storage.artifacts.name(),
        target_bucket: bucket.name(),
        target_prefix: kinds::access_log_prefix(artifacts_id),
    };
    b.setting(artifacts_id, &storage.artifacts, &artifacts)?;
    if let Some(state) = state {
        let logging = BucketLogging {
            bucket: state.clone().into(),
            target_bucket: bucket.name(),
            target_prefix: kinds::access_log_prefix(state_id),
        };
        b.untagged(state_id, state, &logging)?;
    }
    Ok(bucket)
}

/// TLS only; the load balancer's delivery may write its logs, of this account, under its
/// prefix; S3's delivery may write each source's logs under that source's prefix, for that
/// source bucket of this account alone.
fn log_bucket_policy(bucket: &str, region: &str, account: &str, sources: &[(&str, &str, String)]) -> Value {
    let mut policy = kinds::tls_only_policy(bucket);
    let elb = match ELB_LOG_ACCOUNTS.iter().find(|(r, _)| *r == region) {
        Some((_, elb)) => json!({ "AWS": format!("arn:aws:iam::{elb}:root") }),
        None => json!({ "Service": ELB_LOG_DELIVERY }),
    };
    let mut statements = vec![json!({
        "Sid": "LoadBalancerAccessLogs",
        "Effect": "Allow",
        "Principal": elb,
        "Action": "s3:PutObject",
        "Resource": format!("arn:aws:s3:::{bucket}/{ALB_LOG_PREFIX}/AWSLogs/{account}/*"),
    })];
    for (id, label, source) in sources {
        statements.push(json!({
            "Sid": format!("S3AccessLogsOf{label}"),
            "Effect": "Allow",
            "Principal": { "Service": kinds::S3_LOG_DELIVERY },
            "Action": ["s3:PutObject"],
            "Resource": format!("arn:aws:s3:::{bucket}/{}*", kinds::access_log_prefix(id)),
            "Condition": {
                "StringEquals": { "aws:SourceAccount": account },
                "ArnLike": { "aws:SourceArn": format!("arn:aws:s3:::{source}") },
            },
        }));
    }
    if let Some(all) = policy["Statement"].as_array_mut() {
        all.extend(statements);
    }
    policy
}
