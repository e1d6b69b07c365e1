//! `ec2.default_security_group` and `ec2.default_network_acl`: what AWS makes with every
//! VPC and deletes with it. paystack adopts them (tags them, so they are found like the
//! rest), takes away every rule that lets anything through, and keeps them so: a rule added
//! later is drift. A delete only takes the tags back; the VPC's deletion removes them.

use async_trait::async_trait;
use aws_sdk_ec2 as ec2;
use ec2::types::{Filter, NetworkAcl, SecurityGroup, Tag};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::{DefaultNetworkAcl, DefaultSecurityGroup};
use serde_json::{Value, json};

use super::network_acl::AWS_DEFAULT_RULE;
use super::security_group::{Direction, rules};
use super::{Listed, cannot_update, created, desired_tags, owned_of, stack_filter, updated};
use crate::error::{all, classify, is_not_found, missing, unless_not_found};
use crate::owned::{resolved, spec};

/// The name AWS gives every VPC's default security group, and no other group may have.
pub(crate) const DEFAULT_GROUP_NAME: &str = "default";

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// Tags `id` as `desired` is tagged: the create of an adopted resource.
async fn adopt(client: &ec2::Client, id: &str, desired: &Desired) -> Result<(), ReconcileError> {
    let tags = desired_tags(desired).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build());
    client
        .create_tags()
        .resources(id)
        .set_tags(Some(tags.collect()))
        .send()
        .await
        .map_err(|e| classify("CreateTags", e))?;
    Ok(())
}

/// Takes back the tags `current` carries: the resource is no longer the stack's.
async fn release(client: &ec2::Client, current: &Observed) -> Result<(), ReconcileError> {
    let keys = current.attributes.get("tags").and_then(Value::as_object).map(|t| t.keys().cloned().collect());
    let Some(keys) = keys.filter(|k: &Vec<String>| !k.is_empty()) else { return Ok(()) };
    let tags = keys.into_iter().map(|k| Tag::builder().key(k).build()).collect();
    unless_not_found("DeleteTags", client.delete_tags().resources(&current.aws_id).set_tags(Some(tags)).send().await)
}

pub(crate) struct DefaultSecurityGroups {
    client: ec2::Client,
}

impl DefaultSecurityGroups {
    pub(crate) fn new(client: &ec2::Client) -> Self {
        Self { client: client.clone() }
    }

    async fn group(&self, filters: Vec<Filter>) -> Result<Option<SecurityGroup>, ReconcileError> {
        let listed = self.client.describe_security_groups().set_filters(Some(filters)).send().await;
        let listed = listed.map_err(|e| classify("DescribeSecurityGroups", e))?;
        Ok(listed.security_groups().first().cloned())
    }

    /// Revokes every rule the group has now, in both directions.
    async fn empty(&self, id: &str) -> Result<(), ReconcileError> {
        let group = self.group(vec![filter("group-id", id)]).await?.ok_or_else(|| missing("default security group"))?;
        if !group.ip_permissions().is_empty() {
            let revoked = self
                .client
                .revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(group.ip_permissions().to_vec()))
                .send()
                .await;
            unless_not_found("RevokeSecurityGroupIngress", revoked)?;
        }
        if !group.ip_permissions_egress().is_empty() {
            let revoked = self
                .client
                .revoke_security_group_egress()
                .group_id(id)
                .set_ip_permissions(Some(group.ip_permissions_egress().to_vec()))
                .send()
                .await;
            unless_not_found("RevokeSecurityGroupEgress", revoked)?;
        }
        Ok(())
    }
}

#[async_trait]
impl Reconciler for DefaultSecurityGroups {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let filters = vec![stack_filter(scope), filter("group-name", DEFAULT_GROUP_NAME)];
        let listed = self.client.describe_security_groups().set_filters(Some(filters)).into_paginator().items().send();
        let groups = all("DescribeSecurityGroups", listed).await?;
        owned_of(scope, "security group id", &groups, |g| {
            let attributes = json!({
                "vpc_id": g.vpc_id(),
                "ingress": rules(g.ip_permissions(), Direction::Ingress),
                "egress": rules(g.ip_permissions_egress(), Direction::Egress),
            });
            Some(Listed::new(g.group_id(), g.tags(), attributes))
        })
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: DefaultSecurityGroup = spec(desired)?;
        let vpc = resolved(desired, &typed.vpc_id)?;
        let group = self.group(vec![filter("vpc-id", vpc), filter("group-name", DEFAULT_GROUP_NAME)]).await?;
        // AWS makes it with the VPC; right after, EC2 may not show it yet.
        let id = group
            .and_then(|g| g.group_id().map(str::to_owned))
            .ok_or_else(|| ReconcileError::retryable(format!("VPC {vpc} shows no default security group yet")))?;
        adopt(&self.client, &id, desired).await?;
        self.empty(&id).await?;
        Ok(created(desired, &id, json!({})))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let mut emptied = false;
        for change in changes {
            match change.field.as_str() {
                "ingress" | "egress" if !emptied => {
                    emptied = true;
                    self.empty(&current.aws_id).await?;
                }
                "ingress" | "egress" => {}
                "tags" => super::sync_tags(&self.client, &current.aws_id, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        release(&self.client, current).await
    }
}

pub(crate) struct DefaultNetworkAcls {
    client: ec2::Client,
}

/// The entries of `acl` that are not AWS's own deny-all: `{ingress|egress} {rule number}`.
fn entries(acl: &NetworkAcl) -> Vec<(bool, i32)> {
    acl.entries()
        .iter()
        .filter_map(|e| Some((e.egress()?, e.rule_number()?)))
        .filter(|(_, number)| *number != AWS_DEFAULT_RULE)
        .collect()
}

fn shown((egress, number): (bool, i32)) -> String {
    format!("{} {number}", if egress { "egress" } else { "ingress" })
}

impl DefaultNetworkAcls {
    pub(crate) fn new(client: &ec2::Client) -> Self {
        Self { client: client.clone() }
    }

    async fn acl(&self, filters: Vec<Filter>) -> Result<Option<NetworkAcl>, ReconcileError> {
        let listed = self.client.describe_network_acls().set_filters(Some(filters)).send().await;
        let listed = listed.map_err(|e| classify("DescribeNetworkAcls", e))?;
        Ok(listed.network_acls().first().cloned())
    }

    /// Deletes every entry but AWS's deny-all ones.
    async fn empty(&self, acl: &NetworkAcl) -> Result<(), ReconcileError> {
        let id = acl.network_acl_id().ok_or_else(|| missing("network ACL id"))?;
        for (egress, number) in entries(acl) {
            let deleted = self
                .client
                .delete_network_acl_entry()
                .network_acl_id(id)
                .egress(egress)
                .rule_number(number)
                .send()
                .await;
            match deleted {
                Err(e) if !is_not_found(&e) => return Err(classify("DeleteNetworkAclEntry", e)),
                _ => {}
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Reconciler for DefaultNetworkAcls {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let filters = vec![stack_filter(scope), filter("default", "true")];
        let listed = self.client.describe_network_acls().set_filters(Some(filters)).into_paginator().items().send();
        let acls = all("DescribeNetworkAcls", listed).await?;
        owned_of(scope, "network ACL id", &acls, |acl| {
            let shown: Vec<String> = entries(acl).into_iter().map(shown).collect();
            let attributes = json!({ "vpc_id": acl.vpc_id(), "entries": shown });
            Some(Listed::new(acl.network_acl_id(), acl.tags(), attributes))
        })
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: DefaultNetworkAcl = spec(desired)?;
        let vpc = resolved(desired, &typed.vpc_id)?;
        let acl = self.acl(vec![filter("vpc-id", vpc), filter("default", "true")]).await?;
        let acl =
            acl.ok_or_else(|| ReconcileError::retryable(format!("VPC {vpc} shows no default network ACL yet")))?;
        let id = acl.network_acl_id().ok_or_else(|| missing("network ACL id"))?.to_owned();
        adopt(&self.client, &id, desired).await?;
        self.empty(&acl).await?;
        Ok(created(desired, &id, json!({})))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        for change in changes {
            match change.field.as_str() {
                "entries" => {
                    // Read by its id: the emulator has no `network-acl-id` filter.
                    let listed = self.client.describe_network_acls().network_acl_ids(&current.aws_id).send().await;
                    let listed = listed.map_err(|e| classify("DescribeNetworkAcls", e))?;
                    if let Some(acl) = listed.network_acls().first() {
                        self.empty(acl).await?;
                    }
                }
                "tags" => super::sync_tags(&self.client, &current.aws_id, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        release(&self.client, current).await
    }
}
