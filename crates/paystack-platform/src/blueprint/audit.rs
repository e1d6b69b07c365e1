//! The audit trail the network leaves: a flow log of every packet of the VPC, into a log
//! group with the environment's retention and key, delivered by a role that may write to
//! that group alone.

use std::collections::BTreeMap;

use super::compute::allow;
use super::network::Network;
use super::storage::Storage;
use super::trust::{Trusted, may_assume};
use super::{BlueprintError, Builder};
use crate::kinds::{self, FlowLog, IamRole, LogGroup, PolicyDocument};

/// Every packet: those the security groups and ACLs accepted, and those they rejected.
const ALL_TRAFFIC: &str = "ALL";
/// Seconds over which AWS aggregates a flow into one record; 60 is the finest it offers.
const AGGREGATION_SECONDS: i32 = 60;

pub(super) fn audit(b: &mut Builder<'_>, network: &Network, storage: &Storage) -> Result<(), BlueprintError> {
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
