//! Messages to an environment's SNS topic, such as the one `drift --notify` publishes.

use aws_sdk_sns::types::MessageAttributeValue;
use paystack_engine::ReconcileError;

use crate::clients::Clients;
use crate::error::classify;

/// SNS refuses subjects longer than this.
const MAX_SUBJECT: usize = 100;

/// A message attribute: a string, or a number SNS filter policies can compare.
pub enum Attribute {
    Text(String),
    Number(usize),
}

/// Publishes one message with `attributes` to `topic_arn`; returns its message id.
pub async fn publish(
    clients: &Clients,
    topic_arn: &str,
    subject: &str,
    body: &str,
    attributes: &[(&str, Attribute)],
) -> Result<String, ReconcileError> {
    let subject: String = subject.chars().take(MAX_SUBJECT).collect();
    let mut request = clients.sns.publish().topic_arn(topic_arn).subject(subject).message(body);
    for (name, value) in attributes {
        let (data_type, value) = match value {
            Attribute::Text(s) => ("String", s.clone()),
            Attribute::Number(n) => ("Number", n.to_string()),
        };
        let value = MessageAttributeValue::builder()
            .data_type(data_type)
            .string_value(value)
            .build()
            .map_err(|e| ReconcileError::permanent(format!("cannot build the message attribute `{name}`: {e}")))?;
        request = request.message_attributes(*name, value);
    }
    let sent = request.send().await.map_err(|e| classify("Publish", e))?;
    Ok(sent.message_id().unwrap_or_default().to_owned())
}
