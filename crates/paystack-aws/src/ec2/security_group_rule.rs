//! `ec2.security_group_rule`: one egress rule from a security group to another group.
//!
//! AWS gives each rule an id (`sgr-…`) and tags, so a rule carries the ownership tags like
//! any resource. Its inventory is read through the stack's groups: one tag-filtered
//! `DescribeSecurityGroups`, then one `DescribeSecurityGroupRules` for all their rules.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2 as ec2;
use ec2::types::{Filter, ResourceType, SecurityGroupRule as AwsRule};
use paystack_core::stack::{RESOURCE_TAG, STACK_TAG};
use paystack_core::{FieldChange, Fields, Observed};
use paystack_engine::{Desired, ErrorClass, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::SecurityGroupRule;
use serde_json::{Value, json};

use super::security_group::{DUPLICATE_RULE, permission};
use super::{created, desired_tags, observed, stack_filter, tag_map, tag_specification, update_tags_only};
use crate::error::{all, classify, missing, unless_not_found};
use crate::owned::{resolved, spec};

pub(crate) struct SecurityGroupRules {
    client: ec2::Client,
}

impl SecurityGroupRules {
    pub(crate) fn new(client: &ec2::Client) -> Self {
        Self { client: client.clone() }
    }

    /// Every egress rule to a group of the groups `group_ids`.
    async fn egress_rules(&self, group_ids: Vec<String>) -> Result<Vec<AwsRule>, ReconcileError> {
        if group_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rules = all(
            "DescribeSecurityGroupRules",
            self.client
                .describe_security_group_rules()
                .filters(Filter::builder().name("group-id").set_values(Some(group_ids)).build())
                .into_paginator()
                .items()
                .send(),
        )
        .await?;
        Ok(rules.into_iter().filter(|r| r.is_egress() == Some(true) && r.referenced_group_info().is_some()).collect())
    }
}

/// A live rule in the spec's shape.
fn attributes(rule: &AwsRule) -> Value {
    json!({
        "security_group_id": rule.group_id(),
        "protocol": rule.ip_protocol(),
        "from_port": rule.from_port(),
        "to_port": rule.to_port(),
        "destination_security_group_id": rule.referenced_group_info().and_then(|g| g.group_id()),
        "description": rule.description(),
    })
}

#[async_trait]
impl Reconciler for SecurityGroupRules {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let listed =
            self.client.describe_security_groups().filters(stack_filter(scope)).into_paginator().items().send();
        let groups = all("DescribeSecurityGroups", listed).await?;
        let group_ids = groups.iter().filter_map(|g| g.group_id().map(str::to_owned)).collect();
        // The groups list each rule's description too; the emulator reports it only there.
        let mut descriptions = BTreeMap::new();
        for g in &groups {
            for p in g.ip_permissions_egress() {
                for pair in p.user_id_group_pairs() {
                    let key = (g.group_id(), pair.group_id(), p.ip_protocol(), p.from_port(), p.to_port());
                    descriptions.insert(key, pair.description());
                }
            }
        }
        let mut out = Vec::new();
        for rule in self.egress_rules(group_ids).await? {
            let id = rule.security_group_rule_id().ok_or_else(|| missing("security group rule id"))?;
            let mut attributes = attributes(&rule);
            if rule.description().is_none() {
                let destination = rule.referenced_group_info().and_then(|g| g.group_id());
                let key = (rule.group_id(), destination, rule.ip_protocol(), rule.from_port(), rule.to_port());
                attributes["description"] = json!(descriptions.get(&key).copied().flatten());
            }
            out.extend(observed(scope, rule.tags(), id, attributes, json!({})));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let rule: SecurityGroupRule = spec(desired)?;
        let group = resolved(desired, &rule.security_group_id)?;
        let Value::Object(shape) = json!({
            "protocol": rule.protocol,
            "from_port": rule.from_port,
            "to_port": rule.to_port,
            "destination_security_group_id": resolved(desired, &rule.destination_security_group_id)?,
            "description": rule.description,
        }) else {
            return Err(ReconcileError::permanent(format!("`{}`: the rule is not an object", desired.id)));
        };
        let result = self
            .client
            .authorize_security_group_egress()
            .group_id(group)
            .ip_permissions(permission(&shape)?)
            .tag_specifications(tag_specification(ResourceType::SecurityGroupRule, desired))
            .send()
            .await;
        match result {
            Ok(out) => {
                let id = out
                    .security_group_rules()
                    .first()
                    .and_then(|r| r.security_group_rule_id())
                    .ok_or_else(|| missing("security group rule id"))?;
                Ok(created(desired, id, json!({})))
            }
            // The rule exists: a retry whose first answer was lost, or someone else's rule.
            Err(e) if ec2::error::ProvideErrorMetadata::code(&e) == Some(DUPLICATE_RULE) => {
                self.adopt(desired, group, &shape).await
            }
            Err(e) => Err(classify("AuthorizeSecurityGroupEgress", e)),
        }
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        update_tags_only(&self.client, desired, current, changes).await
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        let group = current
            .attributes
            .get("security_group_id")
            .and_then(Value::as_str)
            .ok_or_else(|| ReconcileError::permanent(format!("`{}` has no recorded group", current.id)))?;
        unless_not_found(
            "RevokeSecurityGroupEgress",
            self.client
                .revoke_security_group_egress()
                .group_id(group)
                .security_group_rule_ids(&current.aws_id)
                .send()
                .await,
        )
    }
}

impl SecurityGroupRules {
    /// Takes over a rule AWS says exists already, if its ownership tags prove it is this
    /// resource (a retry whose first answer was lost); otherwise the create is a conflict.
    async fn adopt(&self, desired: &Desired, group: &str, shape: &Fields) -> Result<Observed, ReconcileError> {
        let same = |live: &Value| {
            ["protocol", "from_port", "to_port", "destination_security_group_id"]
                .iter()
                .all(|k| live.get(*k) == shape.get(*k))
        };
        let Some(rule) = self.egress_rules(vec![group.to_owned()]).await?.into_iter().find(|r| same(&attributes(r)))
        else {
            return Err(ReconcileError::retryable(format!(
                "`{}`: AWS says the rule exists on {group}, but does not list it yet",
                desired.id
            )));
        };
        let id = rule.security_group_rule_id().ok_or_else(|| missing("security group rule id"))?;
        let (want, have) = (desired_tags(desired), tag_map(rule.tags()));
        if [STACK_TAG, RESOURCE_TAG].iter().all(|k| want.contains_key(*k) && want.get(*k) == have.get(*k)) {
            return Ok(created(desired, id, json!({})));
        }
        Err(ReconcileError {
            class: ErrorClass::Conflict,
            message: format!(
                "`{}`: {group} already has this egress rule ({id}), and it is not this stack's; remove it, or leave the group to its owner",
                desired.id
            ),
        })
    }
}
