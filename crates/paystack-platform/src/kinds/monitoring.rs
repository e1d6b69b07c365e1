//! The monitoring layer's kinds: the alert topic and the metric alarms that notify it.

use std::collections::BTreeMap;

use paystack_core::Input;
use serde::{Deserialize, Serialize};

use super::{KindDef, KindSpec, Tags, fields, outputs};

/// The kinds of this layer.
pub(super) const KINDS: &[&KindDef] = &[&TOPIC, &ALARM];

/// The environment's alert topic; `subscriptions` are email addresses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Topic {
    pub name: String,
    pub subscriptions: Vec<String>,
    /// The environment's key, which SNS encrypts messages at rest with.
    pub kms_master_key_id: Input<String>,
    pub tags: Tags,
}
pub const TOPIC: KindDef = KindDef::new("sns.topic", "sns", "sns_topic")
    .named("name", 256)
    .replace_on(fields!(Topic: name))
    .unordered(fields!(Topic: subscriptions));
impl KindSpec for Topic {
    const DEF: &'static KindDef = &TOPIC;
}
outputs!(Topic { arn: String });

/// A CloudWatch metric alarm that notifies the environment's topic. `dimensions` maps a
/// dimension's name to its value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    pub name: String,
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: BTreeMap<String, Input<String>>,
    pub statistic: String,
    pub period: u32,
    pub evaluation_periods: u32,
    pub threshold: f64,
    pub comparison_operator: String,
    pub alarm_actions: Vec<Input<String>>,
    pub tags: Tags,
}
pub const ALARM: KindDef =
    KindDef::new("cloudwatch.alarm", "monitoring", "alarm").named("name", 255).replace_on(fields!(Alarm: name));
impl KindSpec for Alarm {
    const DEF: &'static KindDef = &ALARM;
}
outputs!(Alarm { arn: String });
