//! `events.rule`: a rule on the default bus with its targets. `PutRule` both makes and
//! changes a rule, so a create repeated after a lost answer changes nothing.

use async_trait::async_trait;
use aws_sdk_eventbridge as events;
use events::types::{RuleState, Target};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Scope};
use paystack_platform::kinds::EventRule;
use serde_json::{Value, json};

use super::event_tags;
use crate::error::{classify, missing, unless_gone, unless_gone_since};
use crate::owned::{arn_of, cannot_update, created, desired_tags, observed, resolved, spec, updated};
use crate::tag_index::indexed_tags;
use crate::tagging::sync_tags;

pub(crate) struct Rules {
    client: events::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
}

/// A pattern's text with its keys sorted, as the blueprint writes it, whatever order
/// EventBridge answers in.
fn canonical(pattern: &str) -> String {
    serde_json::from_str::<Value>(pattern).map_or_else(|_| pattern.to_owned(), |v| v.to_string())
}

impl Rules {
    pub(crate) fn new(client: &events::Client, tagging: &aws_sdk_resourcegroupstagging::Client) -> Self {
        Self { client: client.clone(), tagging: tagging.clone() }
    }

    /// A rule's tags, read from it; `None` if it went since it was listed.
    async fn tags(&self, arn: &str) -> Result<Option<crate::owned::TagMap>, ReconcileError> {
        let listed = self.client.list_tags_for_resource().resource_arn(arn).send().await;
        let Some(listed) = unless_gone_since("ListTagsForResource", listed, |e| e.is_resource_not_found_exception())?
        else {
            return Ok(None);
        };
        Ok(Some(listed.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()))
    }

    async fn put(&self, desired: &Desired, typed: &EventRule, tags: bool) -> Result<String, ReconcileError> {
        let call = self
            .client
            .put_rule()
            .name(&typed.name)
            .description(&typed.description)
            .event_pattern(&typed.event_pattern)
            .state(RuleState::Enabled);
        // Tags are taken on the rule's creation only; later ones go through TagResource.
        let call = if tags { call.set_tags(Some(event_tags(desired_tags(desired))?)) } else { call };
        let put = call.send().await.map_err(|e| classify("PutRule", e))?;
        Ok(put.rule_arn().ok_or_else(|| missing("rule ARN"))?.to_owned())
    }

    async fn targets(&self, rule: &str) -> Result<Vec<Target>, ReconcileError> {
        let listed = self.client.list_targets_by_rule().rule(rule).send().await;
        Ok(unless_gone_since("ListTargetsByRule", listed, |e| e.is_resource_not_found_exception())?
            .map(|l| l.targets().to_vec())
            .unwrap_or_default())
    }

    async fn put_targets(&self, desired: &Desired, typed: &EventRule) -> Result<(), ReconcileError> {
        let mut targets = Vec::new();
        for t in &typed.targets {
            let target = Target::builder().id(&t.id).arn(resolved(desired, &t.arn)?).build();
            targets.push(target.map_err(|e| ReconcileError::permanent(e.to_string()))?);
        }
        let put = self
            .client
            .put_targets()
            .rule(&typed.name)
            .set_targets(Some(targets))
            .send()
            .await
            .map_err(|e| classify("PutTargets", e))?;
        if put.failed_entry_count() > 0 {
            let why: Vec<String> =
                put.failed_entries().iter().map(|f| format!("{:?}: {:?}", f.target_id(), f.error_message())).collect();
            return Err(ReconcileError::retryable(format!("PutTargets on {}: {}", typed.name, why.join("; "))));
        }
        Ok(())
    }
}

#[async_trait]
impl paystack_engine::Reconciler for Rules {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            // ListRules has no paginator in the SDK: its token is followed here.
            let page = self
                .client
                .list_rules()
                .set_name_prefix(scope.name_prefix().map(str::to_owned))
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| classify("ListRules", e))?;
            for rule in page.rules() {
                let (Some(name), Some(arn)) = (rule.name(), rule.arn()) else {
                    return Err(missing("rule name or ARN"));
                };
                // Listed by the stacks' prefix, not `Scope::may_own`: a rule's name is fitted to
                // 64 characters, which can cut a suffix off; the tags prove whose it is.
                let Some(tags) = indexed_tags(&self.tagging, scope, arn, || self.tags(arn)).await? else { continue };
                if !crate::owned::owned_by(scope, &tags) {
                    continue;
                }
                let targets: Vec<Value> =
                    self.targets(name).await?.iter().map(|t| json!({ "id": t.id(), "arn": t.arn() })).collect();
                let attributes = json!({
                    "name": name,
                    "description": rule.description().unwrap_or_default(),
                    "event_pattern": rule.event_pattern().map(canonical),
                    "targets": targets,
                });
                out.extend(observed(scope, &tags, name, attributes, json!({ "arn": arn })));
            }
            next = page.next_token().map(str::to_owned);
            if next.is_none() {
                return Ok(out);
            }
        }
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: EventRule = spec(desired)?;
        let arn = self.put(desired, &typed, true).await?;
        self.put_targets(desired, &typed).await?;
        Ok(created(desired, &typed.name, json!({ "arn": arn })))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let typed: EventRule = spec(desired)?;
        if changes.iter().any(|c| matches!(c.field.as_str(), "description" | "event_pattern")) {
            self.put(desired, &typed, false).await?;
        }
        for change in changes {
            match change.field.as_str() {
                "description" | "event_pattern" => {}
                "targets" => {
                    self.put_targets(desired, &typed).await?;
                    let wanted: Vec<&str> = typed.targets.iter().map(|t| t.id.as_str()).collect();
                    let extra: Vec<String> = self
                        .targets(&typed.name)
                        .await?
                        .iter()
                        .map(|t| t.id().to_owned())
                        .filter(|id| !wanted.contains(&id.as_str()))
                        .collect();
                    if !extra.is_empty() {
                        self.client
                            .remove_targets()
                            .rule(&typed.name)
                            .set_ids(Some(extra))
                            .send()
                            .await
                            .map_err(|e| classify("RemoveTargets", e))?;
                    }
                }
                "tags" => sync_tags(&self.client, arn_of(current)?, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        // A rule is deleted only without targets.
        let ids: Vec<String> = self.targets(&current.aws_id).await?.iter().map(|t| t.id().to_owned()).collect();
        if !ids.is_empty() {
            let removed = self.client.remove_targets().rule(&current.aws_id).set_ids(Some(ids)).send().await;
            unless_gone("RemoveTargets", removed, |e| e.is_resource_not_found_exception(), |_| false)?;
        }
        unless_gone(
            "DeleteRule",
            self.client.delete_rule().name(&current.aws_id).send().await,
            |e| e.is_resource_not_found_exception(),
            |e| e.is_concurrent_modification_exception(),
        )
    }
}
