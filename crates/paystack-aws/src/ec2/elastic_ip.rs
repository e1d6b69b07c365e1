//! `ec2.eip`: an Elastic IP for a NAT gateway.

use async_trait::async_trait;
use aws_sdk_ec2 as ec2;
use ec2::types::{DomainType, ResourceType};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use serde_json::json;

use super::{Listed, created, owned_of, stack_filter, tag_specification, update_tags_only};
use crate::error::{classify, missing, unless_not_found};

pub(crate) struct ElasticIps {
    client: ec2::Client,
}

impl ElasticIps {
    pub(crate) fn new(client: &ec2::Client) -> Self {
        Self { client: client.clone() }
    }
}

#[async_trait]
impl Reconciler for ElasticIps {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        // DescribeAddresses is not paginated: it returns every match in one response.
        let listed = self.client.describe_addresses().filters(stack_filter(scope)).send().await;
        let out = listed.map_err(|e| classify("DescribeAddresses", e))?;
        owned_of(scope, "allocation id", out.addresses(), |a| {
            let outputs = json!({ "public_ip": a.public_ip() });
            Some(Listed::new(a.allocation_id(), a.tags(), json!({})).outputs(outputs))
        })
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let out = self
            .client
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tag_specification(ResourceType::ElasticIp, desired))
            .send()
            .await
            .map_err(|e| classify("AllocateAddress", e))?;
        let id = out.allocation_id().ok_or_else(|| missing("allocation id"))?;
        Ok(created(desired, id, json!({ "public_ip": out.public_ip() })))
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
        unless_not_found("ReleaseAddress", self.client.release_address().allocation_id(&current.aws_id).send().await)
    }
}
