//! `ec2.transit_gateway_attachment`: the environment's VPC attachment to the Transit
//! Gateway, on its private subnets, made in the environment's account. The gateway's owner
//! accepts it on its own (the gateway auto-accepts shared attachments), and nothing reaches
//! it until the owner's side associates it with the environment's route table.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_ec2 as ec2;
use aws_smithy_runtime::client::waiters::AcceptorState;
use ec2::error::ProvideErrorMetadata;
use ec2::operation::describe_transit_gateway_vpc_attachments::{
    DescribeTransitGatewayVpcAttachmentsError, DescribeTransitGatewayVpcAttachmentsOutput,
};
use ec2::types::{ResourceType, TransitGatewayAttachmentState, TransitGatewayVpcAttachment};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::TransitGatewayAttachment;
use serde_json::json;

use super::{Listed, cannot_update, created, owned_of, stack_filter, strings, sync_tags, tag_specification, updated};
use crate::error::{all, classify, gone, missing, ran_out, settled, unless_not_found};
use crate::owned::{resolved, resolved_all, spec};
use crate::wait::{Cadence, Wait, all_or_any};

pub(crate) struct TransitGatewayAttachments {
    client: ec2::Client,
    /// How long to wait for AWS to finish making or deleting one (`[waits]`).
    wait: Wait,
}

/// EC2's documented error code for an attachment id it does not know.
const NOT_FOUND: &str = "InvalidTransitGatewayAttachmentID.NotFound";

fn state(a: &TransitGatewayVpcAttachment) -> &str {
    a.state().map_or("", TransitGatewayAttachmentState::as_str)
}

/// Every attachment `available`; one that failed, was rejected, or is going, fails.
fn available(
    answer: Result<&DescribeTransitGatewayVpcAttachmentsOutput, &DescribeTransitGatewayVpcAttachmentsError>,
) -> AcceptorState {
    const FAILED: &[&str] = &["failed", "failing", "rejected", "rejecting", "deleting", "deleted"];
    match answer {
        Ok(out) => all_or_any(out.transit_gateway_vpc_attachments().iter().map(state), "available", FAILED),
        Err(e) if e.code() == Some(NOT_FOUND) => AcceptorState::Retry,
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

/// Every attachment `deleted`, or none found.
fn deleted(
    answer: Result<&DescribeTransitGatewayVpcAttachmentsOutput, &DescribeTransitGatewayVpcAttachmentsError>,
) -> AcceptorState {
    match answer {
        Ok(out) if out.transit_gateway_vpc_attachments().is_empty() => AcceptorState::Success,
        Ok(out) => all_or_any(out.transit_gateway_vpc_attachments().iter().map(state), "deleted", &[]),
        Err(e) if e.code() == Some(NOT_FOUND) => AcceptorState::Success,
        Err(_) => AcceptorState::NoAcceptorsMatched,
    }
}

impl TransitGatewayAttachments {
    pub(crate) fn new(client: &ec2::Client, wait: Wait) -> Self {
        Self { client: client.clone(), wait }
    }

    /// The attachment's state as AWS reports it now, if it can be read.
    async fn state_of(&self, id: &str) -> Option<String> {
        let out = self
            .client
            .describe_transit_gateway_vpc_attachments()
            .transit_gateway_attachment_ids(id)
            .send()
            .await
            .ok()?;
        Some(state(out.transit_gateway_vpc_attachments().first()?).to_owned())
    }
}

#[async_trait]
impl Reconciler for TransitGatewayAttachments {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let listed = self
            .client
            .describe_transit_gateway_vpc_attachments()
            .filters(stack_filter(scope))
            .into_paginator()
            .items()
            .send();
        let attachments = all("DescribeTransitGatewayVpcAttachments", listed).await?;
        owned_of(scope, "Transit Gateway attachment id", &attachments, |a| {
            let state = state(a);
            // Deleted and failed attachments linger in Describe for a while; they are not there.
            if matches!(state, "deleting" | "deleted" | "failed" | "failing" | "rejected" | "rejecting") {
                return None;
            }
            let attributes = json!({
                "transit_gateway_id": a.transit_gateway_id(),
                "vpc_id": a.vpc_id(),
                "subnet_ids": a.subnet_ids(),
            });
            let outputs = json!({ "transit_gateway_id": a.transit_gateway_id() });
            let pending = matches!(state, "pending" | "pendingAcceptance" | "modifying");
            Some(Listed::new(a.transit_gateway_attachment_id(), a.tags(), attributes).outputs(outputs).pending(pending))
        })
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let attachment: TransitGatewayAttachment = spec(desired)?;
        let out = self
            .client
            .create_transit_gateway_vpc_attachment()
            .transit_gateway_id(&attachment.transit_gateway_id)
            .vpc_id(resolved(desired, &attachment.vpc_id)?)
            .set_subnet_ids(Some(resolved_all(desired, &attachment.subnet_ids)?))
            .tag_specifications(tag_specification(ResourceType::TransitGatewayAttachment, desired))
            .send()
            .await
            .map_err(|e| classify("CreateTransitGatewayVpcAttachment", e))?;
        let id = out
            .transit_gateway_vpc_attachment()
            .and_then(|a| a.transit_gateway_attachment_id())
            .ok_or_else(|| missing("Transit Gateway attachment id"))?;
        let mut o = created(desired, id, json!({ "transit_gateway_id": attachment.transit_gateway_id }));
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
                    let want: BTreeSet<String> = strings(desired.fields.get("subnet_ids")).into_iter().collect();
                    let have: BTreeSet<String> = strings(current.attributes.get("subnet_ids")).into_iter().collect();
                    self.client
                        .modify_transit_gateway_vpc_attachment()
                        .transit_gateway_attachment_id(&current.aws_id)
                        .set_add_subnet_ids(Some(want.difference(&have).cloned().collect()))
                        .set_remove_subnet_ids(Some(have.difference(&want).cloned().collect()))
                        .send()
                        .await
                        .map_err(|e| classify("ModifyTransitGatewayVpcAttachment", e))?;
                }
                "tags" => sync_tags(&self.client, &current.aws_id, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        unless_not_found(
            "DeleteTransitGatewayVpcAttachment",
            self.client
                .delete_transit_gateway_vpc_attachment()
                .transit_gateway_attachment_id(&current.aws_id)
                .send()
                .await,
        )
    }

    async fn wait_ready(&self, current: Observed) -> Result<Observed, ReconcileError> {
        let look = || {
            self.client
                .describe_transit_gateway_vpc_attachments()
                .transit_gateway_attachment_ids(&current.aws_id)
                .send()
        };
        let ready = self.wait.until(Cadence::STEADY, look, available).await;
        let still = if ran_out(&ready) { self.state_of(&current.aws_id).await } else { None };
        settled(current, "Transit Gateway attachment", ready, still)
    }

    async fn wait_deleted(&self, current: &Observed) -> Result<(), ReconcileError> {
        // Its subnets, and the VPC, can only go once the attachment is gone.
        let look = || {
            self.client
                .describe_transit_gateway_vpc_attachments()
                .transit_gateway_attachment_ids(&current.aws_id)
                .send()
        };
        let deleted = self.wait.until(Cadence::STEADY, look, deleted).await;
        gone(current, "Transit Gateway attachment", deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(states: &[&str]) -> DescribeTransitGatewayVpcAttachmentsOutput {
        let attachments = states
            .iter()
            .map(|s| TransitGatewayVpcAttachment::builder().state(TransitGatewayAttachmentState::from(*s)).build());
        DescribeTransitGatewayVpcAttachmentsOutput::builder()
            .set_transit_gateway_vpc_attachments(Some(attachments.collect()))
            .build()
    }

    #[test]
    fn an_attachment_is_ready_when_available_and_failed_when_rejected() {
        assert_eq!(available(Ok(&listing(&["available"]))), AcceptorState::Success);
        assert_eq!(available(Ok(&listing(&["pending"]))), AcceptorState::Retry);
        assert_eq!(available(Ok(&listing(&["pendingAcceptance"]))), AcceptorState::Retry);
        assert_eq!(available(Ok(&listing(&["rejected"]))), AcceptorState::Failure);
        assert_eq!(available(Ok(&listing(&[]))), AcceptorState::Retry);
    }

    #[test]
    fn an_attachment_is_gone_when_deleted_or_no_longer_listed() {
        assert_eq!(deleted(Ok(&listing(&["deleted"]))), AcceptorState::Success);
        assert_eq!(deleted(Ok(&listing(&[]))), AcceptorState::Success);
        assert_eq!(deleted(Ok(&listing(&["deleting"]))), AcceptorState::Retry);
    }
}
