//! `elbv2.listener`: HTTP:80, which only redirects to HTTPS, and HTTPS:443, which forwards
//! to the target group with the certificate that was looked up.

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2 as elbv2;
use elbv2::types::{
    Action, ActionTypeEnum, Certificate, ProtocolEnum, RedirectActionConfig, RedirectActionStatusCodeEnum,
};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::{Listener, ListenerAction};
use serde_json::{Value, json};

use super::{create_tags, stack_load_balancers, sync_tags, tags_of};
use crate::error::{all, classify, missing, unless_gone};
use crate::owned::{cannot_update, created, observed, resolved, spec, updated};

pub(crate) struct Listeners {
    client: elbv2::Client,
}

fn action(desired: &Desired, listener: &Listener) -> Result<Action, ReconcileError> {
    let built = match &listener.default_action {
        ListenerAction::Redirect { protocol, port } => {
            Action::builder().r#type(ActionTypeEnum::Redirect).redirect_config(
                RedirectActionConfig::builder()
                    .protocol(protocol)
                    .port(port)
                    .status_code(RedirectActionStatusCodeEnum::Http301)
                    .build(),
            )
        }
        ListenerAction::Forward { target_group_arn } => {
            Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(resolved(desired, target_group_arn)?)
        }
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

fn certificates(listener: &Listener) -> Option<Vec<Certificate>> {
    listener.certificate_arn.as_ref().map(|arn| vec![Certificate::builder().certificate_arn(arn).build()])
}

impl Listeners {
    pub(crate) fn new(client: &elbv2::Client) -> Self {
        Self { client: client.clone() }
    }
}

#[async_trait]
impl Reconciler for Listeners {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let mut listeners = Vec::new();
        for (lb, _) in stack_load_balancers(&self.client, scope).await?.iter() {
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
                // Only HTTPS and TLS listeners have a security policy; the emulator reports
                // one on every listener.
                "ssl_policy": matches!(l.protocol(), Some(ProtocolEnum::Https | ProtocolEnum::Tls))
                    .then(|| l.ssl_policy()).flatten(),
                "default_action": l.default_actions().first().map(action_value),
            });
            out.extend(observed(scope, &tags, arn, attributes, json!({ "arn": arn })));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: Listener = spec(desired)?;
        let out = self
            .client
            .create_listener()
            .load_balancer_arn(resolved(desired, &typed.load_balancer_arn)?.as_str())
            .port(i32::from(typed.port))
            .protocol(ProtocolEnum::from(typed.protocol.as_str()))
            .set_certificates(certificates(&typed))
            .set_ssl_policy(typed.ssl_policy.clone())
            .default_actions(action(desired, &typed)?)
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
        let typed: Listener = spec(desired)?;
        let mut modify = self.client.modify_listener().listener_arn(&current.aws_id);
        let mut modified = false;
        for change in changes {
            modified |= change.field != "tags";
            modify = match change.field.as_str() {
                "protocol" => modify.protocol(ProtocolEnum::from(typed.protocol.as_str())),
                "certificate_arn" => modify.set_certificates(certificates(&typed)),
                "ssl_policy" => modify.set_ssl_policy(typed.ssl_policy.clone()),
                "default_action" => modify.default_actions(action(desired, &typed)?),
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
