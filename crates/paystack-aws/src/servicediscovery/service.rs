//! `servicediscovery.service`: one discovery service per ECS service, answering
//! `{service}.{namespace}` with an `A` record per healthy task. ECS registers and
//! deregisters the tasks and reports their health (a custom health check).

use async_trait::async_trait;
use aws_sdk_servicediscovery as sd;
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::DiscoveryService;
use sd::types::{
    DnsConfig, DnsConfigChange, DnsRecord, HealthCheckCustomConfig, RecordType, RoutingPolicy, ServiceChange,
};
use serde_json::json;

use super::{cloud_map_tags, tags_of};
use crate::error::{all, classify, missing, unless_gone, unless_gone_since};
use crate::owned::{arn_of, cannot_update, client_token, created, desired_tags, observed, resolved, spec, updated};
use crate::tag_index::indexed_tags;
use crate::tagging::sync_tags;

pub(crate) struct DiscoveryServices {
    client: sd::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
}

impl DiscoveryServices {
    pub(crate) fn new(client: &sd::Client, tagging: &aws_sdk_resourcegroupstagging::Client) -> Self {
        Self { client: client.clone(), tagging: tagging.clone() }
    }
}

fn a_record(ttl: u32) -> Result<DnsRecord, ReconcileError> {
    DnsRecord::builder()
        .r#type(RecordType::A)
        .ttl(i64::from(ttl))
        .build()
        .map_err(|e| ReconcileError::permanent(e.to_string()))
}

#[async_trait]
impl Reconciler for DiscoveryServices {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        // The listing's pages have no item view of their own.
        let pages = all("ListServices", self.client.list_services().into_paginator().send()).await?;
        let mut out = Vec::new();
        for summary in pages.iter().flat_map(|p| p.services()) {
            let (Some(id), Some(arn)) = (summary.id(), summary.arn()) else {
                return Err(missing("service id or ARN"));
            };
            let Some(tags) = indexed_tags(&self.tagging, scope, arn, || tags_of(&self.client, arn)).await? else {
                continue;
            };
            if !crate::owned::owned_by(scope, &tags) {
                continue; // another stack's: not read further
            }
            // The listing leaves out the namespace; the service's own read has it.
            let got = self.client.get_service().id(id).send().await;
            let Some(got) = unless_gone_since("GetService", got, |e| e.is_service_not_found())? else { continue };
            let service = got.service().ok_or_else(|| missing("service"))?;
            let ttl = service.dns_config().and_then(|d| d.dns_records().first()).map(DnsRecord::ttl);
            let attributes = json!({
                "name": service.name(),
                "namespace_id": service.namespace_id(),
                "dns_ttl": ttl,
            });
            out.extend(observed(scope, &tags, id, attributes, json!({ "arn": arn })));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: DiscoveryService = spec(desired)?;
        let dns = DnsConfig::builder()
            .routing_policy(RoutingPolicy::Multivalue)
            .dns_records(a_record(typed.dns_ttl)?)
            .build()
            .map_err(|e| ReconcileError::permanent(e.to_string()))?;
        let made = self
            .client
            .create_service()
            .name(typed.name.as_str())
            .namespace_id(resolved(desired, &typed.namespace_id)?.as_str())
            .dns_config(dns)
            // ECS reports each task's health; a task it reports unhealthy leaves the answers.
            .health_check_custom_config(HealthCheckCustomConfig::builder().build())
            .set_creator_request_id(client_token(desired))
            .set_tags(Some(cloud_map_tags(desired_tags(desired))?))
            .send()
            .await
            .map_err(|e| classify("CreateService", e))?;
        let service = made.service().ok_or_else(|| missing("service"))?;
        let (Some(id), Some(arn)) = (service.id(), service.arn()) else { return Err(missing("service id or ARN")) };
        Ok(created(desired, id, json!({ "arn": arn })))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let typed: DiscoveryService = spec(desired)?;
        for change in changes {
            match change.field.as_str() {
                "dns_ttl" => {
                    let dns = DnsConfigChange::builder()
                        .dns_records(a_record(typed.dns_ttl)?)
                        .build()
                        .map_err(|e| ReconcileError::permanent(e.to_string()))?;
                    self.client
                        .update_service()
                        .id(&current.aws_id)
                        .service(ServiceChange::builder().dns_config(dns).build())
                        .send()
                        .await
                        .map_err(|e| classify("UpdateService", e))?;
                }
                "tags" => sync_tags(&self.client, arn_of(current)?, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        unless_gone(
            "DeleteService",
            self.client.delete_service().id(&current.aws_id).send().await,
            |e| e.is_service_not_found(),
            // ECS deregisters a deleted service's tasks as they stop.
            |e| e.is_resource_in_use(),
        )
    }
}
