//! `elbv2.load_balancer`: the environment's internet-facing Application Load Balancer, in
//! the public subnets behind the load balancer security group.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2 as elbv2;
use aws_smithy_runtime::client::waiters::AcceptorState;
use elbv2::operation::describe_load_balancers::{DescribeLoadBalancersError, DescribeLoadBalancersOutput};
use elbv2::types::{IpAddressType, LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerTypeEnum};
use paystack_core::{FieldChange, Input, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::{LoadBalancer, MANAGED_ATTRIBUTES};
use serde_json::{Value, json};

use super::{create_tags, stack_load_balancers, sync_tags};
use crate::error::{classify, gone, missing, ran_out, settled, unless_gone};
use crate::owned::{cannot_update, created, observed, resolved, spec, strings, updated};
use crate::wait::{Cadence, Wait, all_or_any};

pub(crate) struct LoadBalancers {
    client: elbv2::Client,
    /// How long to wait for AWS to finish making or deleting one (`[waits]`).
    wait: Wait,
}

fn outputs(lb: &elbv2::types::LoadBalancer) -> Value {
    json!({
        "arn": lb.load_balancer_arn(),
        "dns_name": lb.dns_name(),
        "zone_id": lb.canonical_hosted_zone_id(),
        "url": lb.dns_name().map(|d| format!("https://{d}")),
        // What CloudWatch names the load balancer by: `app/NAME/ID`.
        "arn_suffix": lb.load_balancer_arn().and_then(|a| a.split_once(":loadbalancer/")).map(|(_, suffix)| suffix),
    })
}

impl LoadBalancers {
    pub(crate) fn new(client: &elbv2::Client, wait: Wait) -> Self {
        Self { client: client.clone(), wait }
    }

    /// The attributes paystack manages, as the load balancer has them now.
    async fn attributes_of(&self, arn: &str) -> Result<BTreeMap<String, String>, ReconcileError> {
        let out = self
            .client
            .describe_load_balancer_attributes()
            .load_balancer_arn(arn)
            .send()
            .await
            .map_err(|e| classify("DescribeLoadBalancerAttributes", e))?;
        Ok(out
            .attributes()
            .iter()
            .filter_map(|a| Some((a.key()?, a.value().unwrap_or_default())))
            .filter(|(k, _)| MANAGED_ATTRIBUTES.contains(k))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }

    /// Sets every managed attribute in one call; setting one to the value it has is a no-op.
    async fn set_attributes(
        &self,
        arn: &str,
        desired: &Desired,
        attributes: &BTreeMap<String, Input<String>>,
    ) -> Result<(), ReconcileError> {
        if attributes.is_empty() {
            return Ok(());
        }
        let attributes = attributes
            .iter()
            .map(|(k, v)| Ok(LoadBalancerAttribute::builder().key(k).value(resolved(desired, v)?).build()))
            .collect::<Result<Vec<_>, ReconcileError>>()?;
        self.client
            .modify_load_balancer_attributes()
            .load_balancer_arn(arn)
            .set_attributes(Some(attributes))
            .send()
            .await
            .map_err(|e| classify("ModifyLoadBalancerAttributes", e))?;
        Ok(())
    }

    /// The load balancer's state as AWS reports it now, if it can be read.
    async fn state_of(&self, arn: &str) -> Option<String> {
        let out = self.client.describe_load_balancers().load_balancer_arns(arn).send().await.ok()?;
        out.load_balancers().first()?.state()?.code().map(|c| c.as_str().to_owned())
    }
}

fn states(out: &DescribeLoadBalancersOutput) -> impl Iterator<Item = &str> {
    out.load_balancers().iter().map(|b| b.state().and_then(|s| s.code()).map_or("", |c| c.as_str()))
}

/// What the SDK's `LoadBalancerAvailable` waiter accepts: every one `active`; not found yet
/// is not a failure. A balancer AWS reports `failed` is one.
fn available(answer: Result<&DescribeLoadBalancersOutput, &DescribeLoadBalancersError>) -> AcceptorState {
    match answer {
        Ok(out) => all_or_any(states(out), "active", &["failed"]),
        Err(e) if e.is_load_balancer_not_found_exception() => AcceptorState::Retry,
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

/// What the SDK's `LoadBalancersDeleted` waiter accepts: not found.
fn deleted(answer: Result<&DescribeLoadBalancersOutput, &DescribeLoadBalancersError>) -> AcceptorState {
    match answer {
        Ok(out) if out.load_balancers().is_empty() => AcceptorState::Success,
        Ok(_) => AcceptorState::Retry,
        Err(e) if e.is_load_balancer_not_found_exception() => AcceptorState::Success,
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

#[async_trait]
impl Reconciler for LoadBalancers {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let mut out = Vec::new();
        for (lb, tags) in stack_load_balancers(&self.client, scope).await?.iter() {
            let arn = lb.load_balancer_arn().ok_or_else(|| missing("load balancer ARN"))?;
            let subnets: Vec<&str> = lb.availability_zones().iter().filter_map(|z| z.subnet_id()).collect();
            let attributes = json!({
                "name": lb.load_balancer_name(),
                "subnet_ids": subnets,
                "security_group_ids": lb.security_groups(),
                "attributes": self.attributes_of(arn).await?,
            });
            if let Some(mut o) = observed(scope, tags, arn, attributes, outputs(lb)) {
                o.pending = lb.state().and_then(|s| s.code()).is_some_and(|c| c.as_str() == "provisioning");
                out.push(o);
            }
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: LoadBalancer = spec(desired)?;
        let out = self
            .client
            .create_load_balancer()
            .name(typed.name.as_str())
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .ip_address_type(IpAddressType::Ipv4)
            .set_subnets(Some(strings(desired.fields.get("subnet_ids"))))
            .set_security_groups(Some(strings(desired.fields.get("security_group_ids"))))
            .set_tags(Some(create_tags(desired)))
            .send()
            .await
            .map_err(|e| classify("CreateLoadBalancer", e))?;
        let lb = out.load_balancers().first().ok_or_else(|| missing("load balancer"))?;
        let arn = lb.load_balancer_arn().ok_or_else(|| missing("load balancer ARN"))?;
        self.set_attributes(arn, desired, &typed.attributes).await?;
        let mut o = created(desired, arn, outputs(lb));
        o.pending = true;
        Ok(o)
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        for change in changes {
            match change.field.as_str() {
                "subnet_ids" => {
                    self.client
                        .set_subnets()
                        .load_balancer_arn(&current.aws_id)
                        .set_subnets(Some(strings(desired.fields.get("subnet_ids"))))
                        .send()
                        .await
                        .map_err(|e| classify("SetSubnets", e))?;
                }
                "security_group_ids" => {
                    self.client
                        .set_security_groups()
                        .load_balancer_arn(&current.aws_id)
                        .set_security_groups(Some(strings(desired.fields.get("security_group_ids"))))
                        .send()
                        .await
                        .map_err(|e| classify("SetSecurityGroups", e))?;
                }
                "attributes" => {
                    let typed: LoadBalancer = spec(desired)?;
                    self.set_attributes(&current.aws_id, desired, &typed.attributes).await?;
                }
                "tags" => sync_tags(&self.client, &current.aws_id, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        unless_gone(
            "DeleteLoadBalancer",
            self.client.delete_load_balancer().load_balancer_arn(&current.aws_id).send().await,
            |e| e.is_load_balancer_not_found_exception(),
            |e| e.is_resource_in_use_exception(),
        )
    }

    async fn wait_ready(&self, current: Observed) -> Result<Observed, ReconcileError> {
        let look = || self.client.describe_load_balancers().load_balancer_arns(&current.aws_id).send();
        let ready = self.wait.until(Cadence::STEADY, look, available).await;
        let still = if ran_out(&ready) { self.state_of(&current.aws_id).await } else { None };
        settled(current, "load balancer", ready, still)
    }

    async fn wait_deleted(&self, current: &Observed) -> Result<(), ReconcileError> {
        // Its security group and subnets can only go once its network interfaces have.
        let look = || self.client.describe_load_balancers().load_balancer_arns(&current.aws_id).send();
        let deleted = self.wait.until(Cadence::STEADY, look, deleted).await;
        gone(current, "load balancer", deleted)
    }
}
