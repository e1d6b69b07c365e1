//! Elastic Load Balancing kinds: the load balancer, its target group and its listeners, and
//! what they share: tags, read twenty resources per call.

pub(crate) mod listener;
pub(crate) mod load_balancer;
pub(crate) mod target_group;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2 as elbv2;
use elbv2::types::Tag;
use paystack_engine::{Desired, ReconcileError, Scope};

use crate::error::{all, classify};
use crate::owned::{TagMap, desired_tags, owned_by};
use crate::tagging::Tagging;
pub(crate) use crate::tagging::sync_tags;

/// DescribeTags takes at most 20 resources per call.
const TAGS_PER_CALL: usize = 20;

pub(crate) fn create_tags(desired: &Desired) -> Vec<Tag> {
    desired_tags(desired).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// The tags of each of `arns`, by ARN. A resource deleted since it was listed is missing.
pub(crate) async fn tags_of(
    client: &elbv2::Client,
    arns: &[String],
) -> Result<BTreeMap<String, TagMap>, ReconcileError> {
    let mut out = BTreeMap::new();
    for chunk in arns.chunks(TAGS_PER_CALL) {
        let described = client
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| classify("DescribeTags", e))?;
        for d in described.tag_descriptions() {
            let Some(arn) = d.resource_arn() else { continue };
            let tags =
                d.tags().iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())));
            out.insert(arn.to_owned(), tags.collect());
        }
    }
    Ok(out)
}

/// The stack's load balancers, with their tags: one listing and one tag read per twenty,
/// shared by the load balancers' and their listeners' reads.
pub(crate) async fn stack_load_balancers(
    client: &elbv2::Client,
    scope: &Scope,
) -> Result<Arc<Vec<(elbv2::types::LoadBalancer, TagMap)>>, ReconcileError> {
    scope.shared("elbv2:load-balancers", || read_load_balancers(client, scope)).await
}

async fn read_load_balancers(
    client: &elbv2::Client,
    scope: &Scope,
) -> Result<Vec<(elbv2::types::LoadBalancer, TagMap)>, ReconcileError> {
    let all_lbs =
        all("DescribeLoadBalancers", client.describe_load_balancers().into_paginator().items().send()).await?;
    let arns: Vec<String> = all_lbs.iter().filter_map(|l| l.load_balancer_arn().map(str::to_owned)).collect();
    let mut tags = tags_of(client, &arns).await?;
    Ok(all_lbs
        .into_iter()
        .filter_map(|lb| {
            let t = tags.remove(lb.load_balancer_arn()?)?;
            owned_by(scope, &t).then_some((lb, t))
        })
        .collect())
}

/// Elastic Load Balancing tags a resource by its ARN.
#[async_trait]
impl Tagging for elbv2::Client {
    async fn tag(&self, resource: &str, tags: TagMap) -> Result<(), ReconcileError> {
        let tags = tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        self.add_tags()
            .resource_arns(resource)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| classify("AddTags", e))?;
        Ok(())
    }

    async fn untag(&self, resource: &str, keys: Vec<String>) -> Result<(), ReconcileError> {
        self.remove_tags()
            .resource_arns(resource)
            .set_tag_keys(Some(keys))
            .send()
            .await
            .map_err(|e| classify("RemoveTags", e))?;
        Ok(())
    }
}
