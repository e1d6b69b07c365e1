//! ECS kinds: the cluster, task definitions and services, and what they share.

pub(crate) mod cluster;
pub(crate) mod service;
pub(crate) mod task_definition;

use std::sync::Arc;

use aws_sdk_ecs as ecs;
use ecs::types::{Cluster, ClusterField, Tag};
use paystack_engine::{Desired, ReconcileError, Scope};

use crate::error::{all, classify};
use crate::owned::{TagMap, desired_tags, owned_by};
pub(crate) use crate::tagging::sync_tags;

/// DescribeClusters takes at most 100 clusters per call.
const CLUSTERS_PER_CALL: usize = 100;

pub(crate) fn tag_map(tags: &[Tag]) -> TagMap {
    tags.iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned()))).collect()
}

pub(crate) fn create_tags(desired: &Desired) -> Vec<Tag> {
    desired_tags(desired).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// The stack's live clusters, with their tags and settings: one listing, then one
/// description per hundred clusters, shared by the cluster's and the services' reads.
pub(crate) async fn stack_clusters(client: &ecs::Client, scope: &Scope) -> Result<Arc<Vec<Cluster>>, ReconcileError> {
    scope.shared("ecs:clusters", || read_clusters(client, scope)).await
}

async fn read_clusters(client: &ecs::Client, scope: &Scope) -> Result<Vec<Cluster>, ReconcileError> {
    let arns = all("ListClusters", client.list_clusters().into_paginator().items().send()).await?;
    let mut out = Vec::new();
    for chunk in arns.chunks(CLUSTERS_PER_CALL) {
        let described = client
            .describe_clusters()
            .set_clusters(Some(chunk.to_vec()))
            .include(ClusterField::Tags)
            .include(ClusterField::Settings)
            .send()
            .await
            .map_err(|e| classify("DescribeClusters", e))?;
        out.extend(
            described
                .clusters()
                .iter()
                .filter(|c| c.status() != Some("INACTIVE") && owned_by(scope, &tag_map(c.tags())))
                .cloned(),
        );
    }
    Ok(out)
}

// ECS tags a resource by its ARN.
crate::tagging::tag_resource_api!(ecs::Client, resource_arn, |tags| {
    tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
});
