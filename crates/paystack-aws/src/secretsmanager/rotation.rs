//! `secretsmanager.rotation`: rotation of the database secret by an existing Lambda.
//!
//! A rotation function needs to reach the database, so before rotation is switched on the
//! secret's document is completed with the connection (engine, host, port, database name):
//! a secret is never left with rotation on and nowhere to connect. The first rotation runs
//! on the schedule, not at once, so an apply does not change the password under a running
//! service. The rotation has no AWS identity of its own: it lives on its secret, which
//! carries the `paystack:rotation` tag naming it.
//!
//! The connection written into the document is also kept as the annotation
//! `paystack:connection` on the secret, so that reading a rotation (`plan`, `drift`, `check`)
//! never calls `GetSecretValue`: a read-only role need not, and may not, read the password.

use async_trait::async_trait;
use aws_sdk_secretsmanager as secretsmanager;
use paystack_core::stack::STACK_TAG;
use paystack_core::{FieldChange, Fields, Observed, ResourceId};
use paystack_engine::{Desired, ReconcileError, Reconciler, Scope};
use paystack_platform::kinds::SecretRotation;
use secretsmanager::types::{RotationRulesType, Tag};
use serde_json::{Value, json};

use super::{stack_secrets, tag_map};
use crate::error::{classify, missing, unless_gone};
use crate::owned::{CONNECTION_TAG, ROTATION_TAG, cannot_update, resolved, spec, updated};

/// The keys of the secret's document that say where the database is.
const CONNECTION_KEYS: &[&str] = &["engine", "host", "port", "dbname"];

/// The connection as the annotation's value: `engine=postgres host=… port=5432
/// dbname=payments`, in the characters every AWS tag value allows.
fn connection_tag(connection: &serde_json::Map<String, Value>) -> String {
    CONNECTION_KEYS
        .iter()
        .filter_map(|k| {
            let v = connection.get(*k)?;
            Some(format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The connection an annotation names, in the document's shape (`port` a number).
fn connection_of(tag: &str) -> Fields {
    tag.split(' ')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| CONNECTION_KEYS.contains(k))
        .map(|(k, v)| {
            let value = match (k, v.parse::<u64>()) {
                ("port", Ok(port)) => json!(port),
                _ => json!(v),
            };
            (k.to_owned(), value)
        })
        .collect()
}

pub(crate) struct Rotations {
    client: secretsmanager::Client,
}

impl Rotations {
    pub(crate) fn new(client: &secretsmanager::Client) -> Self {
        Self { client: client.clone() }
    }

    /// The secret's document. It holds the password: callers take what they need from it
    /// and drop it.
    async fn document(&self, arn: &str) -> Result<serde_json::Map<String, Value>, ReconcileError> {
        let out =
            self.client.get_secret_value().secret_id(arn).send().await.map_err(|e| classify("GetSecretValue", e))?;
        match out.secret_string().and_then(|s| serde_json::from_str(s).ok()) {
            Some(Value::Object(document)) => Ok(document),
            _ => Err(ReconcileError::permanent(format!("the secret {arn} does not hold a JSON document"))),
        }
    }

    /// Writes the connection into the secret's document, keeping everything else in it.
    async fn write_connection(&self, desired: &Desired, arn: &str) -> Result<(), ReconcileError> {
        let typed: SecretRotation = spec(desired)?;
        let Ok(Value::Object(connection)) = serde_json::to_value(&typed.connection) else {
            return Err(ReconcileError::permanent(format!("`{}`: `connection` is not a map", desired.id)));
        };
        let mut document = self.document(arn).await?;
        document.extend(connection.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.client
            .put_secret_value()
            .secret_id(arn)
            .secret_string(Value::Object(document).to_string())
            .send()
            .await
            .map_err(|e| classify("PutSecretValue", e))?;
        // The document is written first: an annotation never names a connection the
        // document does not hold.
        self.client
            .tag_resource()
            .secret_id(arn)
            .tags(Tag::builder().key(CONNECTION_TAG).value(connection_tag(&connection)).build())
            .send()
            .await
            .map_err(|e| classify("TagResource", e))?;
        Ok(())
    }

    async fn rotate(&self, desired: &Desired, arn: &str) -> Result<(), ReconcileError> {
        let typed: SecretRotation = spec(desired)?;
        let days = i64::from(typed.days);
        self.client
            .rotate_secret()
            .secret_id(arn)
            .rotation_lambda_arn(typed.lambda_arn.as_str())
            .rotation_rules(RotationRulesType::builder().automatically_after_days(days).build())
            .rotate_immediately(false)
            .send()
            .await
            .map_err(|e| classify("RotateSecret", e))?;
        Ok(())
    }
}

#[async_trait]
impl Reconciler for Rotations {
    async fn observe(&self, scope: &Scope) -> Result<Vec<Observed>, ReconcileError> {
        let mut out = Vec::new();
        for s in stack_secrets(&self.client, scope).await?.iter() {
            let tags = tag_map(s.tags());
            let Some(id) = tags.get(ROTATION_TAG) else { continue };
            let arn = s.arn().ok_or_else(|| missing("secret ARN"))?;
            // Without the annotation (a rotation set by an older paystack) the connection
            // reads as unset, and the next apply writes it again, annotation included.
            let connection = tags.get(CONNECTION_TAG).map(|t| connection_of(t)).unwrap_or_default();
            let enabled = s.rotation_enabled() == Some(true);
            let attributes = json!({
                "secret_arn": arn,
                "lambda_arn": s.rotation_lambda_arn().filter(|_| enabled),
                "days": s.rotation_rules().and_then(|r| r.automatically_after_days()).filter(|_| enabled),
                "connection": connection,
            });
            let Value::Object(attributes) = attributes else { continue };
            let Some(stack) = tags.get(STACK_TAG) else { continue };
            out.push(Observed::new(ResourceId::new(id), arn, attributes, Fields::new()).of_stack(stack));
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ReconcileError> {
        let typed: SecretRotation = spec(desired)?;
        let arn = resolved(desired, &typed.secret_arn)?.as_str();
        self.write_connection(desired, arn).await?;
        self.rotate(desired, arn).await?;
        self.client
            .tag_resource()
            .secret_id(arn)
            .tags(Tag::builder().key(ROTATION_TAG).value(desired.id.as_str()).build())
            .send()
            .await
            .map_err(|e| classify("TagResource", e))?;
        Ok(Observed::new(desired.id.clone(), arn, desired.fields.clone(), Fields::new()))
    }

    async fn update(
        &self,
        desired: &Desired,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let mut rotated = false;
        for change in changes {
            match change.field.as_str() {
                "connection" => self.write_connection(desired, &current.aws_id).await?,
                "lambda_arn" | "days" if !rotated => {
                    rotated = true;
                    self.rotate(desired, &current.aws_id).await?;
                }
                "lambda_arn" | "days" => {}
                other => return Err(cannot_update(desired, other)),
            }
        }
        Ok(updated(desired, current))
    }

    async fn delete(&self, current: &Observed) -> Result<(), ReconcileError> {
        // The secret may be gone already: then so is its rotation.
        unless_gone(
            "CancelRotateSecret",
            self.client.cancel_rotate_secret().secret_id(&current.aws_id).send().await,
            |e| e.is_resource_not_found_exception(),
            |_| false,
        )?;
        unless_gone(
            "UntagResource",
            self.client
                .untag_resource()
                .secret_id(&current.aws_id)
                .tag_keys(ROTATION_TAG)
                .tag_keys(CONNECTION_TAG)
                .send()
                .await,
            |e| e.is_resource_not_found_exception(),
            |_| false,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_annotation_round_trips_in_tag_characters() {
        let connection = json!({ "engine": "postgres", "host": "db.cluster-x.us-east-1.rds.amazonaws.com",
                                 "port": 5432, "dbname": "payments" });
        let Value::Object(connection) = connection else { unreachable!() };
        let tag = connection_tag(&connection);
        assert_eq!(tag, "engine=postgres host=db.cluster-x.us-east-1.rds.amazonaws.com port=5432 dbname=payments");
        assert!(tag.len() <= 256 && tag.chars().all(|c| c.is_ascii_alphanumeric() || " +-=._:/@".contains(c)));
        assert_eq!(connection_of(&tag), connection);
    }
}
