//! `ec2.vpc`: the environment's VPC with DNS support and hostnames.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2 as ec2;
use ec2::client::Waiters;
use ec2::types::{AttributeBooleanValue, ResourceType, VpcAttributeName};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::Vpc;
use serde_json::json;

use super::{cannot_update, created, observed, owned_by, stack_filter, sync_tags, tag_specification, updated};
use crate::error::{all, classify, missing, settled, unless_not_found};
use crate::owned::spec;

pub(crate) struct Vpcs {
    client: ec2::Client,
}

impl Vpcs {
    pub(crate) fn new(client: &ec2::Client) -> Self {
        Self { client: client.clone() }
    }

    async fn attribute(&self, vpc_id: &str, name: VpcAttributeName) -> Result<Option<bool>, ReconcileError> {
        let out = self
            .client
            .describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(name.clone())
            .send()
            .await
            .map_err(|e| classify("DescribeVpcAttribute", e))?;
        let value = match name {
            VpcAttributeName::EnableDnsHostnames => out.enable_dns_hostnames(),
            _ => out.enable_dns_support(),
        };
        Ok(value.and_then(AttributeBooleanValue::value))
    }

    async fn set_dns(&self, vpc_id: &str, desired: &Desired, hostnames: bool) -> Result<(), ReconcileError> {
        // EC2 takes one attribute per call.
        let call = self.client.modify_vpc_attribute().vpc_id(vpc_id);
        let vpc: Vpc = spec(desired)?;
        let call = if hostnames {
            call.enable_dns_hostnames(AttributeBooleanValue::builder().value(vpc.enable_dns_hostnames).build())
        } else {
            call.enable_dns_support(AttributeBooleanValue::builder().value(vpc.enable_dns_support).build())
        };
        call.send().await.map_err(|e| classify("ModifyVpcAttribute", e))?;
        Ok(())
    }
}

#[async_trait]
impl Reconciler for Vpcs {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let listed = self.client.describe_vpcs().filters(stack_filter(scope)).into_paginator().items().send();
        let vpcs = all("DescribeVpcs", listed).await?;
        let mut out = Vec::new();
        for vpc in vpcs.iter().filter(|v| owned_by(scope, v.tags())) {
            let id = vpc.vpc_id().ok_or_else(|| missing("VPC id"))?;
            // DescribeVpcs does not report the DNS attributes.
            let hostnames = self.attribute(id, VpcAttributeName::EnableDnsHostnames).await?;
            let support = self.attribute(id, VpcAttributeName::EnableDnsSupport).await?;
            let attributes = json!({
                "cidr_block": vpc.cidr_block(),
                "enable_dns_hostnames": hostnames,
                "enable_dns_support": support,
            });
            out.extend(observed(scope, vpc.tags(), id, attributes, json!({ "cidr_block": vpc.cidr_block() })));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let vpc: Vpc = spec(desired)?;
        let cidr = vpc.cidr_block.as_str();
        let out = self
            .client
            .create_vpc()
            .cidr_block(cidr)
            .tag_specifications(tag_specification(ResourceType::Vpc, desired))
            .send()
            .await
            .map_err(|e| classify("CreateVpc", e))?;
        let id = out.vpc().and_then(|v| v.vpc_id()).ok_or_else(|| missing("VPC id"))?;
        self.set_dns(id, desired, false).await?;
        self.set_dns(id, desired, true).await?;
        Ok(created(desired, id, json!({ "cidr_block": cidr })))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        for change in changes {
            match change.field.as_str() {
                "enable_dns_support" => self.set_dns(&current.aws_id, desired, false).await?,
                "enable_dns_hostnames" => self.set_dns(&current.aws_id, desired, true).await?,
                "tags" => sync_tags(&self.client, &current.aws_id, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        unless_not_found("DeleteVpc", self.client.delete_vpc().vpc_id(&current.aws_id).send().await)
    }

    async fn wait_ready(&self, current: Observed) -> Result<Observed, ReconcileError> {
        let ready =
            self.client.wait_until_vpc_available().vpc_ids(&current.aws_id).wait(Duration::from_secs(300)).await;
        settled(current, "VPC", ready, None)
    }
}
