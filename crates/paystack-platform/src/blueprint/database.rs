//! The database layer: an Aurora PostgreSQL cluster in the private subnets with its subnet
//! and parameter groups, a writer and readers across zones, the master credentials in
//! Secrets Manager, and (where configured) their rotation.

use std::collections::BTreeMap;

use paystack_config::DbCapacity;
use paystack_core::naming;

use super::network::Network;
use super::security::Security;
use super::storage::Storage;
use super::{BlueprintError, Builder, Lookups, NOT_LOOKED_UP};
use crate::kinds::{
    self, DbCluster, DbClusterParameterGroup, DbInstance, DbSubnetGroup, FINAL_SNAPSHOT_TAG, Handle, LogGroup,
    RotationConnection, Secret, SecretPolicy, SecretRotation, ServerlessV2Scaling, each, rds_log_group,
};

const AURORA_ENGINE: &str = "aurora-postgresql";
/// The log type Aurora PostgreSQL exports: the server's log.
const POSTGRESQL_LOG: &str = "postgresql";

/// What the other layers build on.
pub(super) struct Database {
    pub(super) cluster: Handle<DbCluster>,
    pub(super) secret: Handle<Secret>,
}

pub(super) fn database(
    b: &mut Builder<'_>,
    lookups: &Lookups,
    network: &Network,
    security: &Security,
    storage: &Storage,
) -> Result<Database, BlueprintError> {
    let env = b.env;
    let db = &env.database;
    let subnet_group = b.add("database.subnet_group", ("database", "subnets"), |n| DbSubnetGroup {
        name: n.name,
        description: "Aurora: the private subnets".into(),
        subnet_ids: each(&network.private_subnets, |h| h.id()),
        tags: n.tags,
    })?;
    // The name carries a hash of the family, which forces a replacement: a new major version
    // gets a new group beside the old one.
    let parameters = b.add(
        "database.cluster_parameters",
        ("database", &format!("params-{}", naming::short_hash(&db.family))),
        |n| DbClusterParameterGroup {
            name: n.name,
            family: db.family.clone(),
            description: format!("Aurora PostgreSQL cluster settings for {}", env.name),
            // Clients must use TLS, and slow statements are logged.
            parameters: BTreeMap::from([
                ("rds.force_ssl".to_owned(), "1".to_owned()),
                ("log_min_duration_statement".to_owned(), "1000".to_owned()),
            ]),
            tags: n.tags,
        },
    )?;
    let secret = b.add("database.secret", ("database", "credentials"), |n| Secret {
        name: n.name,
        description: format!("Aurora master credentials of {}", env.name),
        username: db.master_username.clone(),
        kms_key_id: storage.key.arn(),
        recovery_window_days: env.protected.then_some(kinds::SECRET_RECOVERY_DAYS),
        tags: n.tags,
    })?;

    let serverless_v2_scaling = match db.capacity {
        DbCapacity::Provisioned { .. } => None,
        DbCapacity::ServerlessV2 { min_acu, max_acu } => {
            Some(ServerlessV2Scaling { min_capacity: min_acu, max_capacity: max_acu })
        }
    };
    // Cluster and instance identifiers carry a hash of the values that force their
    // replacement, so a successor is created beside its predecessor (new first, as for the
    // target group) instead of colliding with its name.
    let cluster_hash = naming::short_hash(&format!("{AURORA_ENGINE}/{}/{}", db.database_name, db.master_username));
    let cluster_name = ("database", format!("cluster-{cluster_hash}"));
    // PostgreSQL's log goes to CloudWatch Logs, into a group made first, with the
    // environment's retention and key: RDS would make one that keeps everything, unencrypted.
    let identifier = b.name_of(&kinds::DB_CLUSTER, cluster_name.0, &cluster_name.1);
    let logs =
        b.add_at(b.placement(&kinds::LOG_GROUP), rds_log_group(&identifier, POSTGRESQL_LOG), "database.logs", |n| {
            LogGroup {
                name: n.name,
                retention_in_days: env.logs.retention_days,
                kms_key_id: storage.key.arn(),
                tags: n.tags,
            }
        })?;
    let cluster = b.add("database.cluster", (cluster_name.0, &cluster_name.1), |mut n| {
        n.tags.insert(FINAL_SNAPSHOT_TAG.into(), db.final_snapshot.to_string());
        DbCluster {
            identifier: n.name,
            engine: AURORA_ENGINE.into(),
            engine_version: db.engine_version.clone(),
            database_name: db.database_name.clone(),
            master_username: db.master_username.clone(),
            master_password_secret: secret.arn(),
            port: env.security.db_port,
            db_subnet_group_name: subnet_group.name(),
            vpc_security_group_ids: vec![security.db.id()],
            db_cluster_parameter_group_name: parameters.name(),
            storage_encrypted: true,
            backup_retention_period: db.backup_retention_days,
            preferred_backup_window: db.backup_window.clone(),
            serverless_v2_scaling,
            // paystack's own guard protects production; AWS's would make destroy fail.
            deletion_protection: false,
            log_exports: BTreeMap::from([(POSTGRESQL_LOG.to_owned(), logs.name())]),
            tags: n.tags,
        }
    })?;

    // The writer first; readers refer to the writer's cluster id, so they start after it and
    // Aurora cannot promote one of them to writer at creation. Readers go round the zones
    // after the writer's.
    let mut writer_cluster = cluster.id();
    for i in 0..=db.readers {
        let (role, promotion_tier) = if i == 0 { ("writer".to_owned(), 0) } else { (format!("reader-{i}"), 1) };
        let az = network.zones[i % network.zones.len()].name.clone();
        let instance_hash = naming::short_hash(&format!("{cluster_hash}/{az}"));
        let instance =
            b.add(&format!("database.instance.{role}"), ("database", &format!("{role}-{instance_hash}")), |n| {
                DbInstance {
                    identifier: n.name,
                    cluster_identifier: writer_cluster.clone(),
                    engine: AURORA_ENGINE.into(),
                    instance_class: db.instance_class().to_owned(),
                    availability_zone: az,
                    promotion_tier,
                    performance_insights: db.performance_insights.then(|| kinds::PerformanceInsights {
                        kms_key_id: storage.key.arn(),
                        retention_days: kinds::PERFORMANCE_INSIGHTS_DAYS,
                    }),
                    tags: n.tags,
                }
            })?;
        if i == 0 {
            writer_cluster = instance.cluster_identifier();
        }
    }

    if let Some(rotation) = &db.rotation {
        let spec = SecretRotation {
            secret_arn: secret.arn(),
            lambda_arn: rotation.lambda_arn.clone(),
            days: rotation.days,
            connection: RotationConnection {
                engine: "postgres".into(),
                // Rotation is switched on once the database it changes the password of is up.
                host: cluster.endpoint(),
                port: env.security.db_port,
                dbname: db.database_name.clone(),
            },
        };
        b.setting("database.secret.rotation", &secret, &spec)?;
    }
    // Only what injects the password, rotates it, or deploys may read it; a read-only role
    // (drift, compliance) never can.
    let mut readers: Vec<String> =
        env.services.iter().map(|s| super::compute::execution_role_arn(b, &storage.account, &s.name)).collect();
    if db.rotation.is_some() {
        readers.push(lookups.rotation_role_arn.clone().unwrap_or_else(|| NOT_LOOKED_UP.to_owned()));
    }
    readers.extend(env.account.as_ref().map(|a| a.role_arn.clone()));
    readers.sort();
    readers.dedup();
    let policy = SecretPolicy { secret_arn: secret.arn(), cluster_arn: cluster.arn(), readers };
    b.setting("database.secret.policy", &secret, &policy)?;
    Ok(Database { cluster, secret })
}
