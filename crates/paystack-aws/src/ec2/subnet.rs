//! `ec2.subnet`: public and private subnets, one of each per availability zone.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2 as ec2;
use ec2::client::Waiters;
use ec2::types::{AttributeBooleanValue, ResourceType};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::Subnet;
use serde_json::json;

use super::{Listed, cannot_update, created, owned_of, stack_filter, sync_tags, tag_specification, updated};
use crate::error::{all, classify, missing, settled, unless_not_found};
use crate::owned::{resolved, spec};

pub(crate) struct Subnets {
    client: ec2::Client,
}

impl Subnets {
    pub(crate) fn new(client: &ec2::Client) -> Self {
        Self { client: client.clone() }
    }

    async fn set_public_ip(&self, subnet_id: &str, desired: &Desired) -> Result<(), ReconcileError> {
        let subnet: Subnet = spec(desired)?;
        let value = AttributeBooleanValue::builder().value(subnet.map_public_ip_on_launch).build();
        self.client
            .modify_subnet_attribute()
            .subnet_id(subnet_id)
            .map_public_ip_on_launch(value)
            .send()
            .await
            .map_err(|e| classify("ModifySubnetAttribute", e))?;
        Ok(())
    }
}

#[async_trait]
impl Reconciler for Subnets {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let listed = self.client.describe_subnets().filters(stack_filter(scope)).into_paginator().items().send();
        let subnets = all("DescribeSubnets", listed).await?;
        owned_of(scope, "subnet id", &subnets, |s| {
            let attributes = json!({
                "vpc_id": s.vpc_id(),
                "cidr_block": s.cidr_block(),
                "availability_zone": s.availability_zone(),
                "map_public_ip_on_launch": s.map_public_ip_on_launch().unwrap_or(false),
            });
            let outputs = json!({ "availability_zone": s.availability_zone() });
            Some(Listed::new(s.subnet_id(), s.tags(), attributes).outputs(outputs))
        })
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let subnet: Subnet = spec(desired)?;
        let az = subnet.availability_zone.as_str();
        let out = self
            .client
            .create_subnet()
            .vpc_id(resolved(desired, &subnet.vpc_id)?)
            .cidr_block(&subnet.cidr_block)
            .availability_zone(az)
            .tag_specifications(tag_specification(ResourceType::Subnet, desired))
            .send()
            .await
            .map_err(|e| classify("CreateSubnet", e))?;
        let id = out.subnet().and_then(|s| s.subnet_id()).ok_or_else(|| missing("subnet id"))?;
        if subnet.map_public_ip_on_launch {
            self.set_public_ip(id, desired).await?;
        }
        Ok(created(desired, id, json!({ "availability_zone": az })))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        for change in changes {
            match change.field.as_str() {
                "map_public_ip_on_launch" => self.set_public_ip(&current.aws_id, desired).await?,
                "tags" => sync_tags(&self.client, &current.aws_id, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        unless_not_found("DeleteSubnet", self.client.delete_subnet().subnet_id(&current.aws_id).send().await)
    }

    async fn wait_ready(&self, current: Observed) -> Result<Observed, ReconcileError> {
        let ready =
            self.client.wait_until_subnet_available().subnet_ids(&current.aws_id).wait(Duration::from_secs(300)).await;
        settled(current, "subnet", ready, None)
    }
}
