//! `ec2.security_group`: a security group and its ingress rules.
//!
//! Rules reference other groups by id, which is what chains internet → ALB → app → database.
//! Egress keeps the AWS default.

use async_trait::async_trait;
use aws_sdk_ec2 as ec2;
use ec2::types::{IpPermission, IpRange, ResourceType, UserIdGroupPair};
use paystack_core::{FieldChange, Fields, KindSchema, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds;
use serde_json::{Value, json};

use super::{
    cannot_update, created, objects, observed, stack_filter, str_field, sync_tags, tag_specification, updated,
};
use crate::error::{all, classify, missing, unless_not_found};

pub(crate) struct SecurityGroups {
    client: ec2::Client,
    schema: KindSchema,
}

/// One rule of the spec as the permission EC2 takes.
fn permission(rule: &Fields) -> Result<IpPermission, ReconcileError> {
    let bad = || ReconcileError::permanent(format!("malformed ingress rule {}", Value::Object(rule.clone())));
    let port = |k: &str| rule.get(k).and_then(Value::as_i64).and_then(|p| i32::try_from(p).ok()).ok_or_else(bad);
    let description = rule.get("description").and_then(Value::as_str);
    let mut p = IpPermission::builder()
        .ip_protocol(rule.get("protocol").and_then(Value::as_str).ok_or_else(bad)?)
        .from_port(port("from_port")?)
        .to_port(port("to_port")?);
    if let Some(cidr) = rule.get("cidr_ipv4").and_then(Value::as_str) {
        p = p.ip_ranges(IpRange::builder().cidr_ip(cidr).set_description(description.map(str::to_owned)).build());
    } else if let Some(group) = rule.get("source_security_group_id").and_then(Value::as_str) {
        p = p.user_id_group_pairs(
            UserIdGroupPair::builder().group_id(group).set_description(description.map(str::to_owned)).build(),
        );
    } else {
        return Err(bad());
    }
    Ok(p.build())
}

/// The group's ingress, one rule per source, in the spec's shape.
fn rules(permissions: &[IpPermission]) -> Vec<Value> {
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
        for g in p.user_id_group_pairs() {
            if let Some(group) = g.group_id() {
                out.push(base(("source_security_group_id", group), g.description()));
            }
        }
    }
    out
}

impl SecurityGroups {
    pub(crate) fn new(client: &ec2::Client) -> Self {
        Self { client: client.clone(), schema: kinds::SECURITY_GROUP.schema() }
    }

    async fn authorize(&self, group: &str, rules: &[Fields]) -> Result<(), ReconcileError> {
        if rules.is_empty() {
            return Ok(());
        }
        let permissions = rules.iter().map(permission).collect::<Result<Vec<_>, _>>()?;
        self.client
            .authorize_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(permissions))
            .send()
            .await
            .map_err(|e| classify("AuthorizeSecurityGroupIngress", e))?;
        Ok(())
    }

    async fn revoke(&self, group: &str, rules: &[Fields]) -> Result<(), ReconcileError> {
        if rules.is_empty() {
            return Ok(());
        }
        let permissions = rules.iter().map(permission).collect::<Result<Vec<_>, _>>()?;
        self.client
            .revoke_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(permissions))
            .send()
            .await
            .map_err(|e| classify("RevokeSecurityGroupIngress", e))?;
        Ok(())
    }
}

#[async_trait]
impl Reconciler for SecurityGroups {
    fn schema(&self) -> &KindSchema {
        &self.schema
    }

    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let groups = all(
            "DescribeSecurityGroups",
            self.client.describe_security_groups().filters(stack_filter(scope)).into_paginator().items().send(),
        )
        .await?;
        let mut out = Vec::new();
        for g in groups {
            let id = g.group_id().ok_or_else(|| missing("security group id"))?;
            let attributes = json!({
                "vpc_id": g.vpc_id(),
                "group_name": g.group_name(),
                "description": g.description(),
                "ingress": rules(g.ip_permissions()),
            });
            out.extend(observed(scope, g.tags(), id, attributes, json!({})));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let out = self
            .client
            .create_security_group()
            .group_name(str_field(desired, "group_name")?)
            .description(str_field(desired, "description")?)
            .vpc_id(str_field(desired, "vpc_id")?)
            .tag_specifications(tag_specification(ResourceType::SecurityGroup, desired))
            .send()
            .await
            .map_err(|e| classify("CreateSecurityGroup", e))?;
        let id = out.group_id().ok_or_else(|| missing("security group id"))?;
        self.authorize(id, &objects(desired.fields.get("ingress"))).await?;
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
                "ingress" => {
                    let want = objects(desired.fields.get("ingress"));
                    let have = objects(current.attributes.get("ingress"));
                    let stale: Vec<Fields> = have.iter().filter(|r| !want.contains(r)).cloned().collect();
                    let new: Vec<Fields> = want.iter().filter(|r| !have.contains(r)).cloned().collect();
                    self.revoke(&current.aws_id, &stale).await?;
                    self.authorize(&current.aws_id, &new).await?;
                }
                "tags" => sync_tags(&self.client, desired, current).await?,
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
