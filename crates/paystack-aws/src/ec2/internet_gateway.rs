//! `ec2.internet_gateway`: the VPC's internet gateway and its attachment.

use async_trait::async_trait;
use aws_sdk_ec2 as ec2;
use ec2::error::ProvideErrorMetadata as _;
use ec2::types::ResourceType;
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::InternetGateway;
use serde_json::{Value, json};

use super::{Listed, cannot_update, created, owned_of, stack_filter, sync_tags, tag_specification, updated};
use crate::error::{all, classify, is_not_found, missing, unless_not_found};
use crate::owned::{resolved, spec};

/// What EC2 answers an attach of a gateway that is already attached.
const ALREADY_ASSOCIATED: &str = "Resource.AlreadyAssociated";

pub(crate) struct InternetGateways {
    client: ec2::Client,
}

impl InternetGateways {
    pub(crate) fn new(client: &ec2::Client) -> Self {
        Self { client: client.clone() }
    }

    async fn detach(&self, igw_id: &str, vpc_id: &str) -> Result<(), ReconcileError> {
        match self.client.detach_internet_gateway().internet_gateway_id(igw_id).vpc_id(vpc_id).send().await {
            Err(e) if !is_not_found(&e) && e.code() != Some("Gateway.NotAttached") => {
                Err(classify("DetachInternetGateway", e))
            }
            _ => Ok(()),
        }
    }

    /// Attaches the gateway. An attach whose answer was lost is retried and then refused with
    /// `Resource.AlreadyAssociated`; that refusal is success when the gateway is attached to
    /// this very VPC, and an error naming the other VPC when it is not.
    async fn attach(&self, igw_id: &str, vpc_id: &str) -> Result<(), ReconcileError> {
        match self.client.attach_internet_gateway().internet_gateway_id(igw_id).vpc_id(vpc_id).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.code() == Some(ALREADY_ASSOCIATED)
                    && self.attached_to(igw_id).await?.as_deref() == Some(vpc_id) =>
            {
                Ok(())
            }
            Err(e) => Err(classify("AttachInternetGateway", e)),
        }
    }

    /// The VPC the gateway is attached to, if any.
    async fn attached_to(&self, igw_id: &str) -> Result<Option<String>, ReconcileError> {
        let out = self
            .client
            .describe_internet_gateways()
            .internet_gateway_ids(igw_id)
            .send()
            .await
            .map_err(|e| classify("DescribeInternetGateways", e))?;
        Ok(out.internet_gateways().iter().flat_map(|g| g.attachments()).find_map(|a| a.vpc_id()).map(str::to_owned))
    }
}

#[async_trait]
impl Reconciler for InternetGateways {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let listed =
            self.client.describe_internet_gateways().filters(stack_filter(scope)).into_paginator().items().send();
        let gateways = all("DescribeInternetGateways", listed).await?;
        owned_of(scope, "internet gateway id", &gateways, |g| {
            let vpc_id = g.attachments().iter().find_map(|a| a.vpc_id());
            Some(Listed::new(g.internet_gateway_id(), g.tags(), json!({ "vpc_id": vpc_id })))
        })
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let out = self
            .client
            .create_internet_gateway()
            .tag_specifications(tag_specification(ResourceType::InternetGateway, desired))
            .send()
            .await
            .map_err(|e| classify("CreateInternetGateway", e))?;
        let id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .ok_or_else(|| missing("internet gateway id"))?;
        let igw: InternetGateway = spec(desired)?;
        self.attach(id, resolved(desired, &igw.vpc_id)?).await?;
        Ok(created(desired, id, json!({})))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        for change in changes {
            match change.field.as_str() {
                "vpc_id" => {
                    if let Some(old) = current.attributes.get("vpc_id").and_then(Value::as_str) {
                        self.detach(&current.aws_id, old).await?;
                    }
                    let igw: InternetGateway = spec(desired)?;
                    self.attach(&current.aws_id, resolved(desired, &igw.vpc_id)?).await?;
                }
                "tags" => sync_tags(&self.client, &current.aws_id, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        if let Some(vpc_id) = current.attributes.get("vpc_id").and_then(Value::as_str) {
            self.detach(&current.aws_id, vpc_id).await?;
        }
        unless_not_found(
            "DeleteInternetGateway",
            self.client.delete_internet_gateway().internet_gateway_id(&current.aws_id).send().await,
        )
    }
}
