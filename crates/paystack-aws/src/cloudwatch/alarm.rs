//! `cloudwatch.alarm`: a metric alarm that notifies the environment's SNS topic.
//!
//! `PutMetricAlarm` creates or replaces an alarm whole, so create and every update send the
//! whole desired alarm; only tags need calls of their own.

use async_trait::async_trait;
use aws_sdk_cloudwatch as cloudwatch;
use cloudwatch::types::{AlarmType, ComparisonOperator, Dimension, Statistic, Tag};
use paystack_core::{FieldChange, Observed};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::Alarm;
use serde_json::{Map, Value, json};

use crate::error::{all, classify, missing, unless_gone_since};
use crate::owned::{
    TagMap, arn_of, aws_int, created, desired_tags, observed, owned_by, resolved, resolved_all, spec, updated,
};
use crate::tag_index::indexed_tags;
use crate::tagging::sync_tags;

pub(crate) struct Alarms {
    client: cloudwatch::Client,
    tagging: aws_sdk_resourcegroupstagging::Client,
}

fn tags_of(map: TagMap) -> Vec<Tag> {
    map.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

impl Alarms {
    pub(crate) fn new(client: &cloudwatch::Client, tagging: &aws_sdk_resourcegroupstagging::Client) -> Self {
        Self { client: client.clone(), tagging: tagging.clone() }
    }

    /// An alarm's tags, read from it; `None` if it went since it was listed.
    async fn tags(&self, arn: &str) -> Result<Option<TagMap>, ReconcileError> {
        let listed = self.client.list_tags_for_resource().resource_arn(arn).send().await;
        let Some(listed) = unless_gone_since("ListTagsForResource", listed, |e| e.is_resource_not_found_exception())?
        else {
            return Ok(None);
        };
        Ok(Some(listed.tags().iter().filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned()))).collect()))
    }

    /// Creates the alarm, or replaces it whole with the desired one.
    async fn put(&self, desired: &Desired, with_tags: bool) -> Result<(), ReconcileError> {
        let typed: Alarm = spec(desired)?;
        let dimensions = typed
            .dimensions
            .iter()
            .map(|(name, value)| Ok(Dimension::builder().name(name).value(resolved(desired, value)?).build()))
            .collect::<Result<Vec<_>, ReconcileError>>()?;
        let mut call = self
            .client
            .put_metric_alarm()
            .alarm_name(typed.name.as_str())
            .namespace(typed.namespace.as_str())
            .metric_name(typed.metric_name.as_str())
            .set_dimensions(Some(dimensions))
            .statistic(Statistic::from(typed.statistic.as_str()))
            .period(aws_int(typed.period)?)
            .evaluation_periods(aws_int(typed.evaluation_periods)?)
            .threshold(typed.threshold)
            .comparison_operator(ComparisonOperator::from(typed.comparison_operator.as_str()))
            .set_alarm_actions(Some(resolved_all(desired, &typed.alarm_actions)?));
        if with_tags {
            call = call.set_tags(Some(tags_of(desired_tags(desired))));
        }
        call.send().await.map_err(|e| classify("PutMetricAlarm", e))?;
        Ok(())
    }
}

#[async_trait]
impl Reconciler for Alarms {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let pages = all(
            "DescribeAlarms",
            self.client
                .describe_alarms()
                .alarm_types(AlarmType::MetricAlarm)
                .set_alarm_name_prefix(scope.name_prefix().map(str::to_owned))
                .into_paginator()
                .send(),
        )
        .await?;
        let mut out = Vec::new();
        for a in pages.iter().flat_map(|p| p.metric_alarms()) {
            let name = a.alarm_name().ok_or_else(|| missing("alarm name"))?;
            if !scope.may_own(name) {
                continue; // another stack's, or not paystack's: its tags are not read
            }
            let arn = a.alarm_arn().ok_or_else(|| missing("alarm ARN"))?;
            let Some(tags) = indexed_tags(&self.tagging, scope, arn, || self.tags(arn)).await? else { continue };
            if !owned_by(scope, &tags) {
                continue;
            }
            let dimensions: Map<String, Value> =
                a.dimensions().iter().filter_map(|d| Some((d.name()?.to_owned(), json!(d.value()?)))).collect();
            let attributes = json!({
                "name": name,
                "namespace": a.namespace(),
                "metric_name": a.metric_name(),
                "dimensions": dimensions,
                "statistic": a.statistic().map(Statistic::as_str),
                "period": a.period(),
                "evaluation_periods": a.evaluation_periods(),
                "threshold": a.threshold(),
                "comparison_operator": a.comparison_operator().map(ComparisonOperator::as_str),
                "alarm_actions": a.alarm_actions(),
            });
            out.extend(observed(scope, &tags, name, attributes, json!({ "arn": arn })));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: Alarm = spec(desired)?;
        self.put(desired, true).await?;
        let name = typed.name.as_str();
        let described =
            self.client.describe_alarms().alarm_names(name).send().await.map_err(|e| classify("DescribeAlarms", e))?;
        let arn = described
            .metric_alarms()
            .first()
            .and_then(|a| a.alarm_arn())
            .ok_or_else(|| missing("alarm just created"))?;
        Ok(created(desired, name, json!({ "arn": arn })))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        if changes.iter().any(|c| c.field != "tags") {
            self.put(desired, false).await?;
        }
        if changes.iter().any(|c| c.field == "tags") {
            let arn = arn_of(current)?;
            sync_tags(&self.client, arn, desired, current).await?;
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        // Deleting an alarm that is already gone succeeds.
        self.client
            .delete_alarms()
            .alarm_names(&current.aws_id)
            .send()
            .await
            .map_err(|e| classify("DeleteAlarms", e))?;
        Ok(())
    }
}

// CloudWatch tags an alarm by its ARN.
crate::tagging::tag_resource_api!(cloudwatch::Client, resource_arn, |tags| tags_of(tags));
