//! `ec2.network_acl`: a network ACL, its numbered entries and its subnet associations.
//!
//! Every subnet always belongs to exactly one ACL, so associating a subnet replaces its
//! current association, and letting a subnet go (in an update, or before a delete) hands it
//! back to the VPC's default ACL. AWS's last rule (32767, deny everything) is on every ACL,
//! cannot be changed, and is not an entry here.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_ec2 as ec2;
use ec2::types::{Filter, NetworkAcl as AwsAcl, NetworkAclEntry, PortRange, ResourceType, RuleAction};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::{AclEntry, NetworkAcl};
use serde_json::{Value, json};

use super::{Listed, cannot_update, created, owned_of, stack_filter, strings, sync_tags, tag_specification, updated};
use crate::error::{all, classify, is_not_found, missing, unless_not_found};
use crate::owned::{resolved, spec};

/// The rule number of AWS's own catch-all deny.
pub(crate) const AWS_DEFAULT_RULE: i32 = 32767;

pub(crate) struct NetworkAcls {
    client: ec2::Client,
}

/// A live entry in the spec's shape, or `None` for AWS's own and IPv6 entries.
fn entry(e: &NetworkAclEntry) -> Option<Value> {
    let rule_number = e.rule_number()?;
    if rule_number == AWS_DEFAULT_RULE {
        return None;
    }
    Some(json!({
        "rule_number": rule_number,
        "egress": e.egress(),
        "protocol": e.protocol(),
        "rule_action": e.rule_action().map(|a| a.as_str()),
        "cidr_block": e.cidr_block()?,
        "from_port": e.port_range().and_then(|p| p.from()),
        "to_port": e.port_range().and_then(|p| p.to()),
    }))
}

/// The subnets associated with `acl`.
fn subnet_ids(acl: &AwsAcl) -> Vec<String> {
    acl.associations().iter().filter_map(|a| a.subnet_id().map(str::to_owned)).collect()
}

impl NetworkAcls {
    pub(crate) fn new(client: &ec2::Client) -> Self {
        Self { client: client.clone() }
    }

    async fn describe(&self, filters: Vec<Filter>) -> Result<Vec<AwsAcl>, ReconcileError> {
        all(
            "DescribeNetworkAcls",
            self.client.describe_network_acls().set_filters(Some(filters)).into_paginator().items().send(),
        )
        .await
    }

    /// Writes `entries` into the ACL: a number taken in that direction is replaced, a free
    /// one is created, so a retry after a lost answer converges too.
    async fn put_entries(&self, acl: &str, entries: &[AclEntry], taken: &[(bool, i32)]) -> Result<(), ReconcileError> {
        for e in entries {
            let action = RuleAction::from(e.rule_action.as_str());
            let ports = PortRange::builder().from(e.from_port).to(e.to_port).build();
            let cidr = e.cidr_block.resolved().map_err(|u| ReconcileError::permanent(u.to_string()))?;
            if taken.contains(&(e.egress, e.rule_number)) {
                self.client
                    .replace_network_acl_entry()
                    .network_acl_id(acl)
                    .rule_number(e.rule_number)
                    .egress(e.egress)
                    .protocol(&e.protocol)
                    .rule_action(action)
                    .cidr_block(cidr)
                    .port_range(ports)
                    .send()
                    .await
                    .map_err(|err| classify("ReplaceNetworkAclEntry", err))?;
            } else {
                self.client
                    .create_network_acl_entry()
                    .network_acl_id(acl)
                    .rule_number(e.rule_number)
                    .egress(e.egress)
                    .protocol(&e.protocol)
                    .rule_action(action)
                    .cidr_block(cidr)
                    .port_range(ports)
                    .send()
                    .await
                    .map_err(|err| classify("CreateNetworkAclEntry", err))?;
            }
        }
        Ok(())
    }

    /// Moves each of `subnets` to the ACL `to`, from whichever ACL it is in now. Each subnet
    /// is looked up on its own: it belongs to exactly one ACL, and the emulator matches a
    /// filter of several subnets only against an ACL holding all or only those.
    async fn associate(&self, subnets: &[String], to: &str) -> Result<(), ReconcileError> {
        for subnet in subnets {
            let filter = Filter::builder().name("association.subnet-id").values(subnet).build();
            let acls = self.describe(vec![filter]).await?;
            let association =
                acls.iter().flat_map(|acl| acl.associations()).find(|a| a.subnet_id() == Some(subnet.as_str()));
            // Every subnet has an ACL from its creation on; none yet means AWS is settling.
            let association = association.ok_or_else(|| {
                ReconcileError::retryable(format!("subnet {subnet} has no network ACL association yet"))
            })?;
            if association.network_acl_id() == Some(to) {
                continue;
            }
            let id = association.network_acl_association_id().ok_or_else(|| missing("network ACL association id"))?;
            self.client
                .replace_network_acl_association()
                .association_id(id)
                .network_acl_id(to)
                .send()
                .await
                .map_err(|e| classify("ReplaceNetworkAclAssociation", e))?;
        }
        Ok(())
    }

    /// Hands `subnets` back to the VPC's default ACL.
    async fn release(&self, vpc: &str, subnets: &[String]) -> Result<(), ReconcileError> {
        if subnets.is_empty() {
            return Ok(());
        }
        let default = self
            .describe(vec![
                Filter::builder().name("vpc-id").values(vpc).build(),
                Filter::builder().name("default").values("true").build(),
            ])
            .await?;
        let default = default
            .first()
            .and_then(|a| a.network_acl_id())
            .ok_or_else(|| ReconcileError::permanent(format!("VPC {vpc} has no default network ACL")))?;
        self.associate(subnets, default).await
    }
}

#[async_trait]
impl Reconciler for NetworkAcls {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let acls = self.describe(vec![stack_filter(scope)]).await?;
        owned_of(scope, "network ACL id", &acls, |acl| {
            // The VPC's default ACL, adopted, is `ec2.default_network_acl`'s.
            if acl.is_default() == Some(true) {
                return None;
            }
            let attributes = json!({
                "vpc_id": acl.vpc_id(),
                "entries": acl.entries().iter().filter_map(entry).collect::<Vec<_>>(),
                "subnet_ids": subnet_ids(acl),
            });
            Some(Listed::new(acl.network_acl_id(), acl.tags(), attributes))
        })
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let acl: NetworkAcl = spec(desired)?;
        let out = self
            .client
            .create_network_acl()
            .set_client_token(crate::owned::client_token(desired))
            .vpc_id(resolved(desired, &acl.vpc_id)?)
            .tag_specifications(tag_specification(ResourceType::NetworkAcl, desired))
            .send()
            .await
            .map_err(|e| classify("CreateNetworkAcl", e))?;
        let id = out.network_acl().and_then(|a| a.network_acl_id()).ok_or_else(|| missing("network ACL id"))?;
        self.put_entries(id, &acl.entries, &[]).await?;
        self.associate(&strings(desired.fields.get("subnet_ids")), id).await?;
        Ok(created(desired, id, json!({})))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let acl: NetworkAcl = spec(desired)?;
        for change in changes {
            match change.field.as_str() {
                "entries" => {
                    let live: Vec<(bool, i32, Value)> = current
                        .attributes
                        .get("entries")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|e| {
                            let number = e.get("rule_number")?.as_i64().and_then(|n| i32::try_from(n).ok())?;
                            Some((e.get("egress")?.as_bool()?, number, e.clone()))
                        })
                        .collect();
                    let wanted: BTreeSet<(bool, i32)> = acl.entries.iter().map(|e| (e.egress, e.rule_number)).collect();
                    for (egress, number, _) in live.iter().filter(|(eg, n, _)| !wanted.contains(&(*eg, *n))) {
                        unless_not_found(
                            "DeleteNetworkAclEntry",
                            self.client
                                .delete_network_acl_entry()
                                .network_acl_id(&current.aws_id)
                                .egress(*egress)
                                .rule_number(*number)
                                .send()
                                .await,
                        )?;
                    }
                    // Only entries that differ are written again.
                    let changed: Vec<AclEntry> = acl
                        .entries
                        .iter()
                        .filter(|e| {
                            let want = serde_json::to_value(e).ok();
                            !live.iter().any(|(_, _, l)| Some(l) == want.as_ref())
                        })
                        .cloned()
                        .collect();
                    let taken: Vec<(bool, i32)> = live.iter().map(|(e, n, _)| (*e, *n)).collect();
                    self.put_entries(&current.aws_id, &changed, &taken).await?;
                }
                "subnet_ids" => {
                    let want = strings(desired.fields.get("subnet_ids"));
                    let have = strings(current.attributes.get("subnet_ids"));
                    let gone: Vec<String> = have.into_iter().filter(|s| !want.contains(s)).collect();
                    self.associate(&want, &current.aws_id).await?;
                    self.release(resolved(desired, &acl.vpc_id)?, &gone).await?;
                }
                "tags" => sync_tags(&self.client, &current.aws_id, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        let vpc = current
            .attributes
            .get("vpc_id")
            .and_then(Value::as_str)
            .ok_or_else(|| ReconcileError::permanent(format!("`{}` has no recorded VPC", current.id)))?;
        // What is associated now, not what was recorded: a subnet may have moved since.
        let live = match self.client.describe_network_acls().network_acl_ids(&current.aws_id).send().await {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(classify("DescribeNetworkAcls", e)),
        };
        let subnets: Vec<String> = live.network_acls().iter().flat_map(subnet_ids).collect();
        self.release(vpc, &subnets).await?;
        unless_not_found(
            "DeleteNetworkAcl",
            self.client.delete_network_acl().network_acl_id(&current.aws_id).send().await,
        )
    }
}
