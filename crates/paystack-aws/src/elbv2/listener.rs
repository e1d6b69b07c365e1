//! `elbv2.listener`: HTTP:80, which only redirects to HTTPS, and HTTPS:443, which forwards
//! to the target group with the certificate that was looked up.

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2 as elbv2;
use elbv2::types::{
    Action, ActionTypeEnum, Certificate, ProtocolEnum, RedirectActionConfig, RedirectActionStatusCodeEnum,
};
use paystack_core::{FieldChange, KindSchema, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds;
use serde_json::{Value, json};

use super::{create_tags, stack_load_balancers, sync_tags, tags_of};
use crate::error::{all, classify, missing, unless_gone};
use crate::owned::{cannot_update, created, field, i32_field, observed, str_field, updated};

pub(crate) struct Listeners {
    client: elbv2::Client,
    schema: KindSchema,
}

fn action(desired: &Desired) -> Result<Action, ReconcileError> {
    let a = field(desired, "default_action")?;
    let text = |k: &str| {
        a.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| ReconcileError::permanent(format!("`{}`: `default_action.{k}` is not a string", desired.id)))
    };
    let built = match text("type")? {
        "redirect" => Action::builder().r#type(ActionTypeEnum::Redirect).redirect_config(
            RedirectActionConfig::builder()
                .protocol(text("protocol")?)
                .port(text("port")?)
                .status_code(RedirectActionStatusCodeEnum::Http301)
                .build(),
        ),
        "forward" => Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(text("target_group_arn")?),
        other => return Err(ReconcileError::permanent(format!("`{}`: unknown action type `{other}`", desired.id))),
    };
    Ok(built.build())
}

/// A live action in the spec's shape.
fn action_value(a: &Action) -> Value {
    match a.r#type() {
        Some(ActionTypeEnum::Redirect) => {
            let r = a.redirect_config();
            json!({ "type": "redirect", "protocol": r.and_then(|r| r.protocol()), "port": r.and_then(|r| r.port()) })
        }
        Some(ActionTypeEnum::Forward) => json!({ "type": "forward", "target_group_arn": a.target_group_arn() }),
        other => json!({ "type": other.map(|t| t.as_str().to_lowercase()) }),
    }
}

fn certificates(desired: &Desired) -> Result<Option<Vec<Certificate>>, ReconcileError> {
    Ok(field(desired, "certificate_arn")?.as_str().map(|arn| vec![Certificate::builder().certificate_arn(arn).build()]))
}

impl Listeners {
    pub(crate) fn new(client: &elbv2::Client) -> Self {
        Self { client: client.clone(), schema: kinds::LISTENER.schema() }
    }
}

#[async_trait]
impl Reconciler for Listeners {
    fn schema(&self) -> &KindSchema {
        &self.schema
    }

    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let mut listeners = Vec::new();
        for (lb, _) in stack_load_balancers(&self.client, scope).await? {
            let Some(lb_arn) = lb.load_balancer_arn() else { continue };
            listeners.extend(
                all(
                    "DescribeListeners",
                    self.client.describe_listeners().load_balancer_arn(lb_arn).into_paginator().items().send(),
                )
                .await?,
            );
        }
        let arns: Vec<String> = listeners.iter().filter_map(|l| l.listener_arn().map(str::to_owned)).collect();
        let mut tags = tags_of(&self.client, &arns).await?;
        let mut out = Vec::new();
        for l in &listeners {
            let arn = l.listener_arn().ok_or_else(|| missing("listener ARN"))?;
            let Some(tags) = tags.remove(arn) else { continue };
            let attributes = json!({
                "load_balancer_arn": l.load_balancer_arn(),
                "port": l.port(),
                "protocol": l.protocol().map(|p| p.as_str()),
                "certificate_arn": l.certificates().first().and_then(|c| c.certificate_arn()),
                "default_action": l.default_actions().first().map(action_value),
            });
            out.extend(observed(scope, &tags, arn, attributes, json!({ "arn": arn })));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let out = self
            .client
            .create_listener()
            .load_balancer_arn(str_field(desired, "load_balancer_arn")?)
            .port(i32_field(desired, "port")?)
            .protocol(ProtocolEnum::from(str_field(desired, "protocol")?))
            .set_certificates(certificates(desired)?)
            .default_actions(action(desired)?)
            .set_tags(Some(create_tags(desired)))
            .send()
            .await
            .map_err(|e| classify("CreateListener", e))?;
        let arn = out.listeners().first().and_then(|l| l.listener_arn()).ok_or_else(|| missing("listener ARN"))?;
        Ok(created(desired, arn, json!({ "arn": arn })))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let mut modify = self.client.modify_listener().listener_arn(&current.aws_id);
        let mut modified = false;
        for change in changes {
            modified |= change.field != "tags";
            modify = match change.field.as_str() {
                "protocol" => modify.protocol(ProtocolEnum::from(str_field(desired, "protocol")?)),
                "certificate_arn" => modify.set_certificates(certificates(desired)?),
                "default_action" => modify.default_actions(action(desired)?),
                "tags" => modify,
                other => return Err(cannot_update(desired, other)),
            };
        }
        if modified {
            modify.send().await.map_err(|e| classify("ModifyListener", e))?;
        }
        if changes.iter().any(|c| c.field == "tags") {
            sync_tags(&self.client, &current.aws_id, desired, current).await?;
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        unless_gone(
            "DeleteListener",
            self.client.delete_listener().listener_arn(&current.aws_id).send().await,
            |e| e.is_listener_not_found_exception(),
            |_| false,
        )
    }
}
