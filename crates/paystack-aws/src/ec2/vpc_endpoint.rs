//! `ec2.vpc_endpoint`: the S3 gateway endpoint, routed from every route table.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_ec2 as ec2;
use ec2::types::{ResourceType, VpcEndpointType};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::VpcEndpoint;
use serde_json::json;

use super::{Listed, cannot_update, created, owned_of, stack_filter, strings, sync_tags, tag_specification, updated};
use crate::error::{all, classify, missing, unless_not_found};
use crate::owned::{resolved, spec};

pub(crate) struct VpcEndpoints {
    client: ec2::Client,
}

impl VpcEndpoints {
    pub(crate) fn new(client: &ec2::Client) -> Self {
        Self { client: client.clone() }
    }
}

#[async_trait]
impl Reconciler for VpcEndpoints {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let listed = self.client.describe_vpc_endpoints().filters(stack_filter(scope)).into_paginator().items().send();
        let endpoints = all("DescribeVpcEndpoints", listed).await?;
        owned_of(scope, "VPC endpoint id", &endpoints, |e| {
            // The API documents `Deleted` but answers `deleted`, which the SDK parses as an
            // unknown variant; compare the wire value, in any case.
            let state = e.state().map(|s| s.as_str().to_ascii_lowercase());
            if matches!(state.as_deref(), Some("deleted" | "deleting")) {
                return None;
            }
            let attributes = json!({
                "vpc_id": e.vpc_id(),
                "service_name": e.service_name(),
                "route_table_ids": e.route_table_ids(),
            });
            Some(Listed::new(e.vpc_endpoint_id(), e.tags(), attributes))
        })
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let endpoint: VpcEndpoint = spec(desired)?;
        let out = self
            .client
            .create_vpc_endpoint()
            .set_client_token(crate::owned::client_token(desired))
            .vpc_id(resolved(desired, &endpoint.vpc_id)?)
            .service_name(&endpoint.service_name)
            .vpc_endpoint_type(VpcEndpointType::Gateway)
            .set_route_table_ids(Some(strings(desired.fields.get("route_table_ids"))))
            .tag_specifications(tag_specification(ResourceType::VpcEndpoint, desired))
            .send()
            .await
            .map_err(|e| classify("CreateVpcEndpoint", e))?;
        let id = out.vpc_endpoint().and_then(|e| e.vpc_endpoint_id()).ok_or_else(|| missing("VPC endpoint id"))?;
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
                "route_table_ids" => {
                    let want: BTreeSet<String> = strings(desired.fields.get("route_table_ids")).into_iter().collect();
                    let have: BTreeSet<String> =
                        strings(current.attributes.get("route_table_ids")).into_iter().collect();
                    self.client
                        .modify_vpc_endpoint()
                        .vpc_endpoint_id(&current.aws_id)
                        .set_add_route_table_ids(Some(want.difference(&have).cloned().collect()))
                        .set_remove_route_table_ids(Some(have.difference(&want).cloned().collect()))
                        .send()
                        .await
                        .map_err(|e| classify("ModifyVpcEndpoint", e))?;
                }
                "tags" => sync_tags(&self.client, &current.aws_id, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        unless_not_found(
            "DeleteVpcEndpoints",
            self.client.delete_vpc_endpoints().vpc_endpoint_ids(&current.aws_id).send().await,
        )
    }
}
