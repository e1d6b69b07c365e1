//! `wafv2.web_acl`: a regional web ACL of AWS managed rule groups, the resources it guards,
//! and where it logs.
//!
//! WAF lists web ACLs without tags: the listing is read for the names the scope may own,
//! and only those have their tags read. An update or a delete names the lock token of the
//! version it read; one that lost the race to another writer is retried on a fresh read.
//! WAF has no paginator in the SDK for its listings, so their markers are followed here.

use async_trait::async_trait;
use aws_sdk_wafv2 as wafv2;
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ErrorClass, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::{AWS_VENDOR, WafRule, WebAcl};
use serde_json::json;
use wafv2::types::{
    AllowAction, CountAction, DefaultAction, LoggingConfiguration, ManagedRuleGroupStatement, NoneAction,
    OverrideAction, ResourceType, Rule, Scope as WafScope, Statement, Tag, VisibilityConfig,
};

use crate::error::{classify, classify_typed, missing};
use crate::owned::{
    TagMap, cannot_update, created, desired_tags, observed, owned_by, resolved, resolved_all, spec, updated,
};
use crate::tagging::sync_tags;

/// A web ACL guarding a load balancer is regional.
const SCOPE: WafScope = WafScope::Regional;

fn perm(e: wafv2::error::BuildError) -> ReconcileError {
    ReconcileError::permanent(e.to_string())
}

/// Metrics and sampled requests, named `name`: what the console shows of the ACL.
fn visibility(name: &str) -> Result<VisibilityConfig, ReconcileError> {
    VisibilityConfig::builder()
        .sampled_requests_enabled(true)
        .cloud_watch_metrics_enabled(true)
        .metric_name(name)
        .build()
        .map_err(perm)
}

/// The rules as WAF takes them: each runs its managed group, in order.
fn rules_of(rules: &[WafRule]) -> Result<Vec<Rule>, ReconcileError> {
    rules
        .iter()
        .zip(0..)
        .map(|(r, priority)| {
            let group = ManagedRuleGroupStatement::builder().vendor_name(AWS_VENDOR).name(&r.rule_group).build();
            let action = if r.count_only {
                OverrideAction::builder().count(CountAction::builder().build())
            } else {
                OverrideAction::builder().none(NoneAction::builder().build())
            };
            Rule::builder()
                .name(&r.rule_group)
                .priority(priority)
                .statement(Statement::builder().managed_rule_group_statement(group.map_err(perm)?).build())
                .override_action(action.build())
                .visibility_config(visibility(&r.rule_group)?)
                .build()
                .map_err(perm)
        })
        .collect()
}

/// The rules as the kind's field, in priority order; a rule that runs anything but an AWS
/// managed group reads as the statement it has, so it differs.
fn rules_read(rules: &[Rule]) -> serde_json::Value {
    let mut rules: Vec<&Rule> = rules.iter().collect();
    rules.sort_by_key(|r| r.priority());
    let read: Vec<serde_json::Value> = rules
        .iter()
        .map(|r| {
            let group = r.statement().and_then(|s| s.managed_rule_group_statement());
            match group.filter(|g| g.vendor_name() == AWS_VENDOR) {
                Some(g) => json!({
                    "rule_group": g.name(),
                    "count_only": r.override_action().is_some_and(|a| a.count().is_some()),
                }),
                None => json!({ "rule_group": r.name(), "statement": format!("{:?}", r.statement()) }),
            }
        })
        .collect();
    json!(read)
}

fn conflict(operation: &str, name: &str) -> ReconcileError {
    ReconcileError { class: ErrorClass::Conflict, message: format!("{operation}: a web ACL named `{name}` exists") }
}

pub(crate) struct WebAcls {
    client: wafv2::Client,
}

impl WebAcls {
    pub(crate) fn new(client: &wafv2::Client) -> Self {
        Self { client: client.clone() }
    }

    /// Every web ACL of the region: name, id and ARN.
    async fn list(&self) -> Result<Vec<(String, String, String)>, ReconcileError> {
        let mut out = Vec::new();
        let mut marker = None;
        loop {
            let page = self.client.list_web_acls().scope(SCOPE).set_next_marker(marker).send().await;
            let page = page.map_err(|e| classify("ListWebACLs", e))?;
            for acl in page.web_acls() {
                if let (Some(name), Some(id), Some(arn)) = (acl.name(), acl.id(), acl.arn()) {
                    out.push((name.to_owned(), id.to_owned(), arn.to_owned()));
                }
            }
            marker = page.next_marker().filter(|m| !m.is_empty() && !page.web_acls().is_empty()).map(str::to_owned);
            if marker.is_none() {
                return Ok(out);
            }
        }
    }

    async fn tags(&self, arn: &str) -> Result<Option<TagMap>, ReconcileError> {
        let read = self.client.list_tags_for_resource().resource_arn(arn).send().await;
        let read = match read {
            Err(e) if e.as_service_error().is_some_and(|e| e.is_waf_nonexistent_item_exception()) => return Ok(None),
            other => other.map_err(|e| classify("ListTagsForResource", e))?,
        };
        let tags = read.tag_info_for_resource().map(|t| t.tag_list()).unwrap_or_default();
        Ok(Some(tags.iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()))
    }

    /// The ARNs of the load balancers the ACL guards.
    async fn guarded(&self, arn: &str) -> Result<Vec<String>, ReconcileError> {
        let call = self
            .client
            .list_resources_for_web_acl()
            .web_acl_arn(arn)
            .resource_type(ResourceType::ApplicationLoadBalancer);
        let out = call.send().await.map_err(|e| classify("ListResourcesForWebACL", e))?;
        Ok(out.resource_arns().to_vec())
    }

    /// Where the ACL logs, if anywhere.
    async fn log_destination(&self, arn: &str) -> Result<Option<String>, ReconcileError> {
        match self.client.get_logging_configuration().resource_arn(arn).send().await {
            Ok(out) => Ok(out.logging_configuration().and_then(|c| c.log_destination_configs().first().cloned())),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_waf_nonexistent_item_exception()) => Ok(None),
            Err(e) => Err(classify("GetLoggingConfiguration", e)),
        }
    }

    async fn set_logging(&self, arn: &str, destination: &str) -> Result<(), ReconcileError> {
        let config = LoggingConfiguration::builder()
            .resource_arn(arn)
            .log_destination_configs(destination)
            .build()
            .map_err(perm)?;
        let put = self.client.put_logging_configuration().logging_configuration(config).send().await;
        put.map_err(|e| classify("PutLoggingConfiguration", e))?;
        Ok(())
    }

    /// Makes the ACL guard exactly `wanted`, leaving what it guards already.
    async fn guard(&self, arn: &str, wanted: &[String]) -> Result<(), ReconcileError> {
        let now = self.guarded(arn).await?;
        for resource in wanted.iter().filter(|r| !now.contains(r)) {
            let associated = self.client.associate_web_acl().web_acl_arn(arn).resource_arn(resource).send().await;
            // A load balancer still being provisioned cannot be guarded yet.
            associated
                .map_err(|e| classify_typed("AssociateWebACL", e, |e| e.is_waf_unavailable_entity_exception()))?;
        }
        for resource in now.iter().filter(|r| !wanted.contains(r)) {
            let gone = self.client.disassociate_web_acl().resource_arn(resource).send().await;
            match gone {
                Err(e) if e.as_service_error().is_some_and(|e| e.is_waf_nonexistent_item_exception()) => {}
                other => {
                    other.map_err(|e| classify("DisassociateWebACL", e))?;
                }
            }
        }
        Ok(())
    }

    /// The lock token of the ACL's current version, `None` if it is gone.
    async fn lock_token(&self, name: &str, id: &str) -> Result<Option<String>, ReconcileError> {
        match self.client.get_web_acl().name(name).scope(SCOPE).id(id).send().await {
            Ok(out) => Ok(Some(out.lock_token().ok_or_else(|| missing("web ACL lock token"))?.to_owned())),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_waf_nonexistent_item_exception()) => Ok(None),
            Err(e) => Err(classify("GetWebACL", e)),
        }
    }
}

/// An ACL's `(name, id)` from its ARN: `…:regional/webacl/{name}/{id}`.
fn name_and_id(arn: &str) -> Result<(&str, &str), ReconcileError> {
    let mut tail = arn.rsplitn(3, '/');
    let (Some(id), Some(name)) = (tail.next(), tail.next()) else { return Err(missing("web ACL name and id")) };
    Ok((name, id))
}

#[async_trait]
impl Reconciler for WebAcls {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let mut out = Vec::new();
        for (name, id, arn) in self.list().await? {
            if !scope.may_own(&name) {
                continue;
            }
            let Some(tags) = self.tags(&arn).await? else { continue };
            if !owned_by(scope, &tags) {
                continue;
            }
            let read = self.client.get_web_acl().name(&name).scope(SCOPE).id(&id).send().await;
            let read = match read {
                Err(e) if e.as_service_error().is_some_and(|e| e.is_waf_nonexistent_item_exception()) => continue,
                other => other.map_err(|e| classify("GetWebACL", e))?,
            };
            let acl = read.web_acl().ok_or_else(|| missing("web ACL"))?;
            let attributes = json!({
                "name": name,
                "description": acl.description(),
                "rules": rules_read(acl.rules()),
                "resource_arns": self.guarded(&arn).await?,
                "log_destination": self.log_destination(&arn).await?,
            });
            out.extend(observed(scope, &tags, &arn, attributes, json!({ "arn": arn, "id": id })));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: WebAcl = spec(desired)?;
        let tags = desired_tags(desired)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(perm))
            .collect::<Result<Vec<_>, _>>()?;
        let made = self
            .client
            .create_web_acl()
            .name(&typed.name)
            .scope(SCOPE)
            .description(&typed.description)
            .default_action(DefaultAction::builder().allow(AllowAction::builder().build()).build())
            .visibility_config(visibility(&typed.name)?)
            .set_rules(Some(rules_of(&typed.rules)?))
            .set_tags(Some(tags))
            .send()
            .await;
        let made = match made {
            Err(e) if e.as_service_error().is_some_and(|e| e.is_waf_duplicate_item_exception()) => {
                return Err(conflict("CreateWebACL", &typed.name));
            }
            other => other.map_err(|e| classify("CreateWebACL", e))?,
        };
        let summary = made.summary().ok_or_else(|| missing("web ACL summary"))?;
        let (arn, id) = (summary.arn().ok_or_else(|| missing("web ACL ARN"))?, summary.id().unwrap_or_default());
        self.guard(arn, &resolved_all(desired, &typed.resource_arns)?).await?;
        self.set_logging(arn, resolved(desired, &typed.log_destination)?).await?;
        Ok(created(desired, arn, json!({ "arn": arn, "id": id })))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let typed: WebAcl = spec(desired)?;
        let arn = current.aws_id.as_str();
        let (name, id) = name_and_id(arn)?;
        let mut acl_changed = false;
        for change in changes {
            match change.field.as_str() {
                "rules" | "description" => acl_changed = true,
                "resource_arns" => self.guard(arn, &resolved_all(desired, &typed.resource_arns)?).await?,
                "log_destination" => self.set_logging(arn, resolved(desired, &typed.log_destination)?).await?,
                "tags" => sync_tags(&self.client, arn, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        if acl_changed {
            let token = self.lock_token(name, id).await?.ok_or_else(|| missing("web ACL"))?;
            let call = self
                .client
                .update_web_acl()
                .name(name)
                .scope(SCOPE)
                .id(id)
                .lock_token(token)
                .description(&typed.description)
                .default_action(DefaultAction::builder().allow(AllowAction::builder().build()).build())
                .visibility_config(visibility(name)?)
                .set_rules(Some(rules_of(&typed.rules)?));
            // Another writer's change in between: read again and retry.
            call.send()
                .await
                .map_err(|e| classify_typed("UpdateWebACL", e, |e| e.is_waf_optimistic_lock_exception()))?;
        }
        Ok(updated(desired, current))
    }

    /// Stops the logging, lets go of what it guards (WAF deletes no ACL in use), and deletes
    /// it; what is gone already counts as done.
    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        let arn = current.aws_id.as_str();
        let (name, id) = name_and_id(arn)?;
        match self.client.delete_logging_configuration().resource_arn(arn).send().await {
            Err(e) if e.as_service_error().is_some_and(|e| e.is_waf_nonexistent_item_exception()) => {}
            other => {
                other.map_err(|e| classify("DeleteLoggingConfiguration", e))?;
            }
        }
        let Some(token) = self.lock_token(name, id).await? else { return Ok(()) };
        self.guard(arn, &[]).await?;
        let deleted = self.client.delete_web_acl().name(name).scope(SCOPE).id(id).lock_token(token).send().await;
        match deleted {
            Err(e) if e.as_service_error().is_some_and(|e| e.is_waf_nonexistent_item_exception()) => Ok(()),
            other => other.map(|_| ()).map_err(|e| {
                classify_typed("DeleteWebACL", e, |e| {
                    e.is_waf_optimistic_lock_exception() || e.is_waf_associated_item_exception()
                })
            }),
        }
    }
}

// WAF tags a web ACL by its ARN.
crate::tagging::tag_resource_api!(wafv2::Client, resource_arn, |tags| {
    tags.into_iter().filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok()).collect()
});
