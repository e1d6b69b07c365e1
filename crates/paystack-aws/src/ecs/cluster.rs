//! `ecs.cluster`: the environment's ECS cluster, with Container Insights where configured.

use async_trait::async_trait;
use aws_sdk_ecs as ecs;
use ecs::types::{ClusterSetting, ClusterSettingName};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::EcsCluster;
use serde_json::json;

use super::{create_tags, stack_clusters, sync_tags, tag_map};
use crate::error::{classify, missing, unless_gone};
use crate::owned::{arn_of, cannot_update, created, observed, spec, updated};

pub(crate) struct Clusters {
    client: ecs::Client,
}

fn insights(desired: &Desired) -> Result<ClusterSetting, ReconcileError> {
    let typed: EcsCluster = spec(desired)?;
    let value = if typed.container_insights { "enabled" } else { "disabled" };
    Ok(ClusterSetting::builder().name(ClusterSettingName::ContainerInsights).value(value).build())
}

impl Clusters {
    pub(crate) fn new(client: &ecs::Client) -> Self {
        Self { client: client.clone() }
    }
}

#[async_trait]
impl Reconciler for Clusters {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let mut out = Vec::new();
        for c in stack_clusters(&self.client, scope).await?.iter() {
            let name = c.cluster_name().ok_or_else(|| missing("cluster name"))?;
            let insights = c
                .settings()
                .iter()
                .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
                .and_then(|s| s.value())
                .is_some_and(|v| v == "enabled" || v == "enhanced");
            let attributes = json!({ "name": name, "container_insights": insights });
            out.extend(observed(
                scope,
                &tag_map(c.tags()),
                name,
                attributes,
                json!({ "arn": c.cluster_arn(), "name": name }),
            ));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: EcsCluster = spec(desired)?;
        let name = typed.name.as_str();
        let out = self
            .client
            .create_cluster()
            .cluster_name(name)
            .settings(insights(desired)?)
            .set_tags(Some(create_tags(desired)))
            .send()
            .await
            .map_err(|e| classify("CreateCluster", e))?;
        let arn = out.cluster().and_then(|c| c.cluster_arn()).ok_or_else(|| missing("cluster ARN"))?;
        Ok(created(desired, name, json!({ "arn": arn, "name": name })))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        for change in changes {
            match change.field.as_str() {
                "container_insights" => {
                    self.client
                        .update_cluster_settings()
                        .cluster(&current.aws_id)
                        .settings(insights(desired)?)
                        .send()
                        .await
                        .map_err(|e| classify("UpdateClusterSettings", e))?;
                }
                "tags" => sync_tags(&self.client, arn_of(current)?, desired, current).await?,
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        unless_gone(
            "DeleteCluster",
            self.client.delete_cluster().cluster(&current.aws_id).send().await,
            |e| e.is_cluster_not_found_exception(),
            // Services or tasks still draining: the cluster can go once they have.
            |e| {
                e.is_cluster_contains_services_exception()
                    || e.is_cluster_contains_tasks_exception()
                    || e.is_update_in_progress_exception()
            },
        )
    }
}
