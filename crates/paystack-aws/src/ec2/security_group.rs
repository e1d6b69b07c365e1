//! `ec2.security_group`: a security group, its ingress, and its egress to address blocks.
//!
//! Ingress rules reference other groups by id, which is what chains internet → ALB → app →
//! database. AWS gives a new group an egress rule to everything, anywhere; the group's
//! create revokes it, so `egress` is exactly what the group may send besides the
//! `ec2.security_group_rule`s that name it. The group reports only its egress to address
//! blocks: egress to another group belongs to those rule resources.

use async_trait::async_trait;
use aws_sdk_ec2 as ec2;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use ec2::error::{ProvideErrorMetadata, SdkError};
use ec2::types::{IpPermission, IpRange, Ipv6Range, ResourceType, UserIdGroupPair};
use paystack_core::{FieldChange, Fields, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::SecurityGroup;
use serde_json::{Value, json};

use super::{Listed, cannot_update, created, objects, owned_of, stack_filter, sync_tags, tag_specification, updated};
use crate::error::{all, classify, missing, unless_not_found};
use crate::owned::{resolved, spec};

/// EC2's code for authorizing a rule the group already has (EC2 models none of its errors).
pub(crate) const DUPLICATE_RULE: &str = "InvalidPermission.Duplicate";

pub(crate) struct SecurityGroups {
    client: ec2::Client,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Ingress,
    Egress,
}

/// One rule, in the spec's shape or as observed, as the permission EC2 takes. A rule of
/// every protocol (`-1`) has no ports.
pub(crate) fn permission(rule: &Fields) -> Result<IpPermission, ReconcileError> {
    let bad = || ReconcileError::permanent(format!("malformed security group rule {}", Value::Object(rule.clone())));
    let port = |k: &str| rule.get(k).and_then(Value::as_i64).and_then(|p| i32::try_from(p).ok());
    let description = rule.get("description").and_then(Value::as_str).map(str::to_owned);
    let mut p = IpPermission::builder()
        .ip_protocol(rule.get("protocol").and_then(Value::as_str).ok_or_else(bad)?)
        .set_from_port(port("from_port"))
        .set_to_port(port("to_port"));
    let group = ["source_security_group_id", "destination_security_group_id"]
        .iter()
        .find_map(|k| rule.get(*k).and_then(Value::as_str));
    if let Some(cidr) = rule.get("cidr_ipv4").and_then(Value::as_str) {
        p = p.ip_ranges(IpRange::builder().cidr_ip(cidr).set_description(description).build());
    } else if let Some(cidr) = rule.get("cidr_ipv6").and_then(Value::as_str) {
        // paystack writes none; one added by hand is read, so that it can be revoked.
        p = p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(cidr).set_description(description).build());
    } else if let Some(group) = group {
        p = p.user_id_group_pairs(UserIdGroupPair::builder().group_id(group).set_description(description).build());
    } else {
        return Err(bad());
    }
    Ok(p.build())
}

/// A group's rules of one direction, one per address block or group, in the spec's shape.
/// Egress to groups is left out: it belongs to `ec2.security_group_rule` resources.
pub(crate) fn rules(permissions: &[IpPermission], direction: Direction) -> Vec<Value> {
    let mut out = Vec::new();
    for p in permissions {
        let base = |source: (&str, &str), description: Option<&str>| {
            let mut rule = json!({ "protocol": p.ip_protocol(), "from_port": p.from_port(), "to_port": p.to_port(), source.0: source.1 });
            if let Some(d) = description {
                rule["description"] = json!(d);
            }
            rule
        };
        for r in p.ip_ranges() {
            if let Some(cidr) = r.cidr_ip() {
                out.push(base(("cidr_ipv4", cidr), r.description()));
            }
        }
        for r in p.ipv6_ranges() {
            if let Some(cidr) = r.cidr_ipv6() {
                out.push(base(("cidr_ipv6", cidr), r.description()));
            }
        }
        if direction == Direction::Ingress {
            for g in p.user_id_group_pairs() {
                if let Some(group) = g.group_id() {
                    out.push(base(("source_security_group_id", group), g.description()));
                }
            }
        }
    }
    out
}

/// Authorizes `rules` on `group`; a rule the group already has counts as authorized.
pub(crate) async fn authorize(
    client: &ec2::Client,
    direction: Direction,
    group: &str,
    rules: &[Fields],
) -> Result<(), ReconcileError> {
    // One call per rule: EC2 refuses a whole batch if one of its rules exists already.
    for rule in rules {
        let permission = permission(rule)?;
        match direction {
            Direction::Ingress => unless_duplicate(
                "AuthorizeSecurityGroupIngress",
                client.authorize_security_group_ingress().group_id(group).ip_permissions(permission).send().await,
            )?,
            Direction::Egress => unless_duplicate(
                "AuthorizeSecurityGroupEgress",
                client.authorize_security_group_egress().group_id(group).ip_permissions(permission).send().await,
            )?,
        }
    }
    Ok(())
}

/// Success, or AWS's answer that the rule exists already: the same outcome.
fn unless_duplicate<T, E>(operation: &str, result: Result<T, SdkError<E, HttpResponse>>) -> Result<(), ReconcileError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Err(e) if e.code() != Some(DUPLICATE_RULE) => Err(classify(operation, e)),
        _ => Ok(()),
    }
}

/// Revokes `rules` from `group`; a rule already gone counts as revoked.
pub(crate) async fn revoke(
    client: &ec2::Client,
    direction: Direction,
    group: &str,
    rules: &[Fields],
) -> Result<(), ReconcileError> {
    for rule in rules {
        let permission = permission(rule)?;
        let operation = format!("RevokeSecurityGroup{direction:?}");
        match direction {
            Direction::Ingress => unless_not_found(
                &operation,
                client.revoke_security_group_ingress().group_id(group).ip_permissions(permission).send().await,
            )?,
            Direction::Egress => unless_not_found(
                &operation,
                client.revoke_security_group_egress().group_id(group).ip_permissions(permission).send().await,
            )?,
        }
    }
    Ok(())
}

/// The egress AWS gives every new group: everything, anywhere.
fn aws_default_egress() -> Fields {
    Fields::from_iter([("protocol".to_owned(), json!("-1")), ("cidr_ipv4".to_owned(), json!("0.0.0.0/0"))])
}

impl SecurityGroups {
    pub(crate) fn new(client: &ec2::Client) -> Self {
        Self { client: client.clone() }
    }

    /// Makes one direction's rules equal to the desired ones: revokes what is live and not
    /// wanted, then authorizes what is wanted and not live.
    async fn converge(
        &self,
        direction: Direction,
        desired: &Desired,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let field = match direction {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        };
        let want = objects(desired.fields.get(field));
        let have = objects(current.attributes.get(field));
        let stale: Vec<Fields> = have.iter().filter(|r| !want.contains(r)).cloned().collect();
        let new: Vec<Fields> = want.iter().filter(|r| !have.contains(r)).cloned().collect();
        revoke(&self.client, direction, &current.aws_id, &stale).await?;
        authorize(&self.client, direction, &current.aws_id, &new).await
    }
}

#[async_trait]
impl Reconciler for SecurityGroups {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let listed =
            self.client.describe_security_groups().filters(stack_filter(scope)).into_paginator().items().send();
        let groups = all("DescribeSecurityGroups", listed).await?;
        owned_of(scope, "security group id", &groups, |g| {
            // The VPC's default group, adopted, is `ec2.default_security_group`'s.
            if g.group_name() == Some(super::defaults::DEFAULT_GROUP_NAME) {
                return None;
            }
            let attributes = json!({
                "vpc_id": g.vpc_id(),
                "group_name": g.group_name(),
                "description": g.description(),
                "ingress": rules(g.ip_permissions(), Direction::Ingress),
                "egress": rules(g.ip_permissions_egress(), Direction::Egress),
            });
            Some(Listed::new(g.group_id(), g.tags(), attributes))
        })
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let group: SecurityGroup = spec(desired)?;
        let out = self
            .client
            .create_security_group()
            .group_name(&group.group_name)
            .description(&group.description)
            .vpc_id(resolved(desired, &group.vpc_id)?)
            .tag_specifications(tag_specification(ResourceType::SecurityGroup, desired))
            .send()
            .await
            .map_err(|e| classify("CreateSecurityGroup", e))?;
        let id = out.group_id().ok_or_else(|| missing("security group id"))?;
        revoke(&self.client, Direction::Egress, id, &[aws_default_egress()]).await?;
        authorize(&self.client, Direction::Ingress, id, &objects(desired.fields.get("ingress"))).await?;
        authorize(&self.client, Direction::Egress, id, &objects(desired.fields.get("egress"))).await?;
        Ok(created(desired, id, json!({})))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        for change in changes {
            match change.field.as_str() {
                "ingress" => self.converge(Direction::Ingress, desired, current).await?,
                "egress" => self.converge(Direction::Egress, desired, current).await?,
                "tags" => sync_tags(&self.client, &current.aws_id, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        unless_not_found(
            "DeleteSecurityGroup",
            self.client.delete_security_group().group_id(&current.aws_id).send().await,
        )
    }
}
