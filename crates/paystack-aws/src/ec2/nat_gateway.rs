//! `ec2.nat_gateway`: public NAT gateways, one per zone or one shared, as configured.

use async_trait::async_trait;
use aws_sdk_ec2 as ec2;
use aws_smithy_runtime::client::waiters::AcceptorState;
use ec2::error::ProvideErrorMetadata;
use ec2::operation::describe_nat_gateways::{DescribeNatGatewaysError, DescribeNatGatewaysOutput};
use ec2::types::{ConnectivityType, NatGatewayState, ResourceType};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::NatGateway;
use serde_json::json;

use super::{Listed, created, owned_of, stack_filter, tag_specification, update_tags_only};
use crate::error::{all, classify, gone, missing, ran_out, settled, unless_not_found};
use crate::owned::{resolved, spec};
use crate::wait::{Cadence, Wait, all_or_any};

pub(crate) struct NatGateways {
    client: ec2::Client,
    /// How long to wait for AWS to finish making or deleting one (`[waits]`).
    wait: Wait,
}

impl NatGateways {
    pub(crate) fn new(client: &ec2::Client, wait: Wait) -> Self {
        Self { client: client.clone(), wait }
    }

    /// The gateway's state as AWS reports it now, if it can be read.
    async fn state_of(&self, id: &str) -> Option<String> {
        let out = self.client.describe_nat_gateways().nat_gateway_ids(id).send().await.ok()?;
        out.nat_gateways().first()?.state().map(|s| s.as_str().to_owned())
    }
}

/// What the SDK's `NatGatewayAvailable` waiter accepts: every gateway `available`; one
/// `failed`, `deleting` or `deleted` is a failure; not found yet is not.
fn available(answer: Result<&DescribeNatGatewaysOutput, &DescribeNatGatewaysError>) -> AcceptorState {
    match answer {
        Ok(out) => all_or_any(
            out.nat_gateways().iter().map(|g| g.state().map_or("", NatGatewayState::as_str)),
            "available",
            &["failed", "deleting", "deleted"],
        ),
        Err(e) if e.code() == Some(NOT_FOUND) => AcceptorState::Retry,
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

/// What the SDK's `NatGatewayDeleted` waiter accepts: every gateway `deleted`, or none found.
fn deleted(answer: Result<&DescribeNatGatewaysOutput, &DescribeNatGatewaysError>) -> AcceptorState {
    match answer {
        Ok(out) => {
            all_or_any(out.nat_gateways().iter().map(|g| g.state().map_or("", NatGatewayState::as_str)), "deleted", &[])
        }
        Err(e) if e.code() == Some(NOT_FOUND) => AcceptorState::Success,
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

/// EC2's documented error code for a gateway id it does not know (yet, or any more).
const NOT_FOUND: &str = "NatGatewayNotFound";

#[async_trait]
impl Reconciler for NatGateways {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let listed = self.client.describe_nat_gateways().filter(stack_filter(scope)).into_paginator().items().send();
        let gateways = all("DescribeNatGateways", listed).await?;
        owned_of(scope, "NAT gateway id", &gateways, |g| {
            let state = g.state();
            // Deleted and failed gateways linger in Describe for an hour; they are not there.
            if matches!(state, Some(NatGatewayState::Deleted | NatGatewayState::Deleting | NatGatewayState::Failed)) {
                return None;
            }
            let allocation = g.nat_gateway_addresses().iter().find_map(|a| a.allocation_id());
            let attributes = json!({ "subnet_id": g.subnet_id(), "allocation_id": allocation });
            let pending = matches!(state, Some(NatGatewayState::Pending));
            Some(Listed::new(g.nat_gateway_id(), g.tags(), attributes).pending(pending))
        })
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let nat: NatGateway = spec(desired)?;
        let out = self
            .client
            .create_nat_gateway()
            .set_client_token(crate::owned::client_token(desired))
            .subnet_id(resolved(desired, &nat.subnet_id)?)
            .allocation_id(resolved(desired, &nat.allocation_id)?)
            .connectivity_type(ConnectivityType::Public)
            .tag_specifications(tag_specification(ResourceType::Natgateway, desired))
            .send()
            .await
            .map_err(|e| classify("CreateNatGateway", e))?;
        let id = out.nat_gateway().and_then(|g| g.nat_gateway_id()).ok_or_else(|| missing("NAT gateway id"))?;
        let mut o = created(desired, id, json!({}));
        o.pending = true;
        Ok(o)
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
        unless_not_found(
            "DeleteNatGateway",
            self.client.delete_nat_gateway().nat_gateway_id(&current.aws_id).send().await,
        )
    }

    async fn wait_ready(&self, current: Observed) -> Result<Observed, ReconcileError> {
        let look = || self.client.describe_nat_gateways().nat_gateway_ids(&current.aws_id).send();
        let ready = self.wait.until(Cadence::STEADY, look, available).await;
        let still = if ran_out(&ready) { self.state_of(&current.aws_id).await } else { None };
        settled(current, "NAT gateway", ready, still)
    }

    async fn wait_deleted(&self, current: &Observed) -> Result<(), ReconcileError> {
        // Its Elastic IP and subnet can only go once the gateway is gone.
        let look = || self.client.describe_nat_gateways().nat_gateway_ids(&current.aws_id).send();
        let deleted = self.wait.until(Cadence::STEADY, look, deleted).await;
        gone(current, "NAT gateway", deleted)
    }
}
