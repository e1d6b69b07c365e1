//! `[waits]`: how long each slow kind may take, in seconds.

use serde::Deserialize;
use toml::Spanned;

use super::Checker;
use crate::model::Waits;

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWaits {
    nat_gateway_seconds: Option<Spanned<i64>>,
    vpc_endpoint_seconds: Option<Spanned<i64>>,
    db_cluster_seconds: Option<Spanned<i64>>,
    db_instance_seconds: Option<Spanned<i64>>,
    load_balancer_seconds: Option<Spanned<i64>>,
    ecs_service_seconds: Option<Spanned<i64>>,
    dns_change_seconds: Option<Spanned<i64>>,
    transit_gateway_attachment_seconds: Option<Spanned<i64>>,
    dynamodb_table_seconds: Option<Spanned<i64>>,
    namespace_seconds: Option<Spanned<i64>>,
}

const MAX_WAIT_SECONDS: u64 = 6 * 3600;

/// The wait limits, each from the environment's file, else `shared.toml`, else its default.
pub(super) fn waits(c: &mut Checker<'_>, env: RawWaits, shared: RawWaits) -> Waits {
    let mut waits = Waits::default();
    let limits = [
        ("nat_gateway_seconds", env.nat_gateway_seconds, shared.nat_gateway_seconds, &mut waits.nat_gateway),
        ("vpc_endpoint_seconds", env.vpc_endpoint_seconds, shared.vpc_endpoint_seconds, &mut waits.vpc_endpoint),
        ("db_cluster_seconds", env.db_cluster_seconds, shared.db_cluster_seconds, &mut waits.db_cluster),
        ("db_instance_seconds", env.db_instance_seconds, shared.db_instance_seconds, &mut waits.db_instance),
        ("load_balancer_seconds", env.load_balancer_seconds, shared.load_balancer_seconds, &mut waits.load_balancer),
        ("ecs_service_seconds", env.ecs_service_seconds, shared.ecs_service_seconds, &mut waits.ecs_service),
        ("dns_change_seconds", env.dns_change_seconds, shared.dns_change_seconds, &mut waits.dns_change),
        (
            "transit_gateway_attachment_seconds",
            env.transit_gateway_attachment_seconds,
            shared.transit_gateway_attachment_seconds,
            &mut waits.transit_gateway_attachment,
        ),
        (
            "dynamodb_table_seconds",
            env.dynamodb_table_seconds,
            shared.dynamodb_table_seconds,
            &mut waits.dynamodb_table,
        ),
        ("namespace_seconds", env.namespace_seconds, shared.namespace_seconds, &mut waits.namespace),
    ];
    for (key, env, shared, limit) in limits {
        let Some(set) = c.pick_optional(env, shared) else { continue };
        match u64::try_from(set.value) {
            Ok(secs @ 1..=MAX_WAIT_SECONDS) => *limit = std::time::Duration::from_secs(secs),
            _ => c.fail(
                &set.at,
                format!("`waits.{key}` = {} is out of range", set.value),
                format!("use 1 to {MAX_WAIT_SECONDS} seconds (six hours)"),
            ),
        }
    }
    waits
}
