//! The monitoring layer: CloudWatch alarms on the load balancer, the database and every
//! service, each notifying the environment's topic, with the environment's thresholds.

use std::collections::BTreeMap;

use paystack_core::Input;

use super::alerts::Alerts;
use super::compute::Compute;
use super::database::Database;
use super::edge::Edge;
use super::storage::Storage;
use super::{BlueprintError, Builder};
use crate::kinds::{self, Alarm};

/// The replication latency past which a replica would lose more than five minutes of
/// writes with its region: the recovery point the platform promises, in milliseconds
/// (DynamoDB's unit; S3 reports seconds).
const REPLICATION_LATENCY_MS: f64 = 300_000.0;

/// One alarm: what it watches and when it fires.
struct Watch {
    id: String,
    resource: String,
    namespace: &'static str,
    metric: &'static str,
    statistic: &'static str,
    periods: u32,
    threshold: f64,
    dimensions: BTreeMap<String, Input<String>>,
}

pub(super) fn monitoring(
    b: &mut Builder<'_>,
    alerts: &Alerts,
    edge: &Edge,
    database: &Database,
    compute: &Compute,
    storage: &Storage,
) -> Result<(), BlueprintError> {
    let a = &b.env.alarms;
    let load_balancer = || BTreeMap::from([("LoadBalancer".to_owned(), edge.load_balancer.arn_suffix())]);
    let cluster = || BTreeMap::from([("DBClusterIdentifier".to_owned(), database.cluster.id())]);
    let watch = |id: &str, resource: &str, (namespace, metric, statistic), periods, threshold, dimensions| Watch {
        id: format!("alarms.{id}"),
        resource: resource.to_owned(),
        namespace,
        metric,
        statistic,
        periods,
        threshold,
        dimensions,
    };
    let mut watched = vec![
        watch(
            "edge.5xx",
            "alb-5xx",
            ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum"),
            1,
            a.alb_5xx_count,
            load_balancer(),
        ),
        watch(
            "edge.response_time",
            "alb-response-time",
            ("AWS/ApplicationELB", "TargetResponseTime", "Average"),
            3,
            a.target_response_seconds,
            load_balancer(),
        ),
        watch("database.cpu", "db-cpu", ("AWS/RDS", "CPUUtilization", "Average"), 3, a.db_cpu_percent, cluster()),
        watch(
            "database.connections",
            "db-connections",
            ("AWS/RDS", "DatabaseConnections", "Average"),
            3,
            a.db_connections,
            cluster(),
        ),
    ];
    for s in &compute.services {
        watched.push(watch(
            &format!("app.{}.cpu", s.name),
            &format!("{}-cpu", s.name),
            ("AWS/ECS", "CPUUtilization", "Average"),
            3,
            a.ecs_cpu_percent,
            BTreeMap::from([
                ("ClusterName".to_owned(), compute.cluster.name()),
                ("ServiceName".to_owned(), s.service.name()),
            ]),
        ));
    }
    // How far the sessions' replica is behind: the recovery point if the region is lost.
    if let Some(replica) = &b.env.replica_region {
        watched.push(watch(
            "storage.sessions.replication",
            "sessions-replication",
            ("AWS/DynamoDB", "ReplicationLatency", "Average"),
            1,
            REPLICATION_LATENCY_MS,
            BTreeMap::from([
                ("TableName".to_owned(), storage.sessions.name()),
                ("ReceivingRegion".to_owned(), Input::from(replica.as_str())),
            ]),
        ));
    }
    // How far the artifacts' replica is behind, in seconds, under Replication Time Control.
    if let Some(replica) = &storage.artifacts_replica {
        watched.push(watch(
            "storage.artifacts.replication",
            "artifacts-replication",
            ("AWS/S3", "ReplicationLatency", "Maximum"),
            1,
            REPLICATION_LATENCY_MS / 1000.0,
            BTreeMap::from([
                ("SourceBucket".to_owned(), storage.artifacts.name()),
                ("DestinationBucket".to_owned(), replica.name()),
                ("RuleId".to_owned(), Input::from(kinds::REPLICATION_RULE_ID)),
            ]),
        ));
    }
    for w in watched {
        b.add(&w.id, ("alarms", &w.resource), |n| Alarm {
            name: n.name,
            namespace: w.namespace.into(),
            metric_name: w.metric.into(),
            dimensions: w.dimensions,
            statistic: w.statistic.into(),
            period: 300,
            evaluation_periods: w.periods,
            threshold: w.threshold,
            comparison_operator: "GreaterThanThreshold".into(),
            alarm_actions: vec![alerts.topic.arn()],
            tags: n.tags,
        })?;
    }
    Ok(())
}
