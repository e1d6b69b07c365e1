//! How paystack writes a bucket's lifecycle and replication, and reads them back as the
//! kind's fields: what [`super::bucket`] sets and compares.

use aws_sdk_s3 as s3;
use paystack_engine::{Desired, ReconcileError};
use paystack_platform::kinds::{BucketReplication, Lifecycle, REPLICATION_RULE_ID};
use s3::types::{
    AbortIncompleteMultipartUpload, DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination,
    EncryptionConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, Metrics,
    MetricsStatus, NoncurrentVersionExpiration, ReplicationConfiguration, ReplicationRule, ReplicationRuleFilter,
    ReplicationRuleStatus, ReplicationTime, ReplicationTimeStatus, ReplicationTimeValue, SourceSelectionCriteria,
    SseKmsEncryptedObjects, SseKmsEncryptedObjectsStatus, Transition, TransitionStorageClass,
};
use serde_json::{Value, json};

use super::perm;
use crate::owned::{aws_int, resolved};

/// The id of the lifecycle rule paystack writes.
const LIFECYCLE_RULE_ID: &str = "artifacts-lifecycle";
/// Replication Time Control's one service level, and the threshold of its metrics.
const REPLICATION_MINUTES: i32 = 15;

/// The one lifecycle rule paystack writes.
pub(super) fn lifecycle_rule(l: &Lifecycle) -> Result<LifecycleRule, ReconcileError> {
    let transitions = [
        (l.infrequent_access_days, TransitionStorageClass::StandardIa),
        (l.glacier_ir_days, TransitionStorageClass::GlacierIr),
    ]
    .into_iter()
    .filter_map(|(days, class)| Some((days?, class)))
    .map(|(days, class)| Ok(Transition::builder().days(aws_int(days)?).storage_class(class).build()))
    .collect::<Result<Vec<_>, ReconcileError>>()?;
    let expiration = l
        .expiration_days
        .map(|d| Ok::<_, ReconcileError>(LifecycleExpiration::builder().days(aws_int(d)?).build()))
        .transpose()?;
    LifecycleRule::builder()
        .id(LIFECYCLE_RULE_ID)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .set_transitions(Some(transitions).filter(|t| !t.is_empty()))
        .set_expiration(expiration)
        .noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder().noncurrent_days(aws_int(l.noncurrent_expiration_days)?).build(),
        )
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder().days_after_initiation(aws_int(l.abort_multipart_days)?).build(),
        )
        .build()
        .map_err(perm)
}

/// The lifecycle as paystack writes it, read back from the rule of its id: a rule changed
/// out of band reads with what it has, and so differs.
pub(super) fn lifecycle_of(rules: &[LifecycleRule]) -> Value {
    let Some(rule) = rules.iter().find(|r| r.id() == Some(LIFECYCLE_RULE_ID)) else { return Value::Null };
    if rule.status() != &ExpirationStatus::Enabled {
        return json!({ "disabled": true });
    }
    let days = |class: TransitionStorageClass| {
        rule.transitions().iter().find(|t| t.storage_class() == Some(&class)).and_then(Transition::days)
    };
    json!({
        "infrequent_access_days": days(TransitionStorageClass::StandardIa),
        "glacier_ir_days": days(TransitionStorageClass::GlacierIr),
        "expiration_days": rule.expiration().and_then(LifecycleExpiration::days),
        "noncurrent_expiration_days": rule.noncurrent_version_expiration().and_then(|n| n.noncurrent_days()),
        "abort_multipart_days": rule.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()),
    })
}

/// The one replication rule paystack writes: everything, delete markers included, under
/// Replication Time Control with its metrics, re-encrypted with the replica's key.
pub(super) fn replication_config(
    r: &BucketReplication,
    desired: &Desired,
) -> Result<ReplicationConfiguration, ReconcileError> {
    let minutes = || ReplicationTimeValue::builder().minutes(REPLICATION_MINUTES).build();
    let destination = Destination::builder()
        .bucket(resolved(desired, &r.destination_bucket_arn)?)
        .encryption_configuration(
            EncryptionConfiguration::builder()
                .replica_kms_key_id(resolved(desired, &r.destination_kms_key_arn)?)
                .build(),
        )
        .replication_time(
            ReplicationTime::builder().status(ReplicationTimeStatus::Enabled).time(minutes()).build().map_err(perm)?,
        )
        .metrics(Metrics::builder().status(MetricsStatus::Enabled).event_threshold(minutes()).build().map_err(perm)?)
        .build()
        .map_err(perm)?;
    let rule = ReplicationRule::builder()
        .id(REPLICATION_RULE_ID)
        .priority(1)
        .status(ReplicationRuleStatus::Enabled)
        .filter(ReplicationRuleFilter::builder().prefix("").build())
        .delete_marker_replication(
            DeleteMarkerReplication::builder().status(DeleteMarkerReplicationStatus::Enabled).build(),
        )
        .source_selection_criteria(
            SourceSelectionCriteria::builder()
                .sse_kms_encrypted_objects(
                    SseKmsEncryptedObjects::builder()
                        .status(SseKmsEncryptedObjectsStatus::Enabled)
                        .build()
                        .map_err(perm)?,
                )
                .build(),
        )
        .destination(destination)
        .build()
        .map_err(perm)?;
    ReplicationConfiguration::builder().role(resolved(desired, &r.role_arn)?).rules(rule).build().map_err(perm)
}

/// The replication as paystack writes it, read back from the rule of its id. Whatever of
/// the rule is not as paystack writes it (Replication Time Control or its metrics off,
/// delete markers not replicated, the rule disabled) is named under `differs`, so the
/// bucket shows as changed and the next apply writes the rule again.
pub(super) fn replication_of(config: Option<&ReplicationConfiguration>) -> Value {
    let Some(config) = config else { return Value::Null };
    let Some(rule) = config.rules().iter().find(|r| r.id() == Some(REPLICATION_RULE_ID)) else { return Value::Null };
    let destination = rule.destination();
    let mut differs = Vec::new();
    if rule.status() != &ReplicationRuleStatus::Enabled {
        differs.push("the rule is disabled");
    }
    if rule.delete_marker_replication().and_then(|d| d.status()) != Some(&DeleteMarkerReplicationStatus::Enabled) {
        differs.push("delete markers are not replicated");
    }
    let rtc = destination.and_then(|d| d.replication_time());
    if rtc.map(|t| t.status()) != Some(&ReplicationTimeStatus::Enabled)
        || rtc.and_then(|t| t.time()).and_then(|t| t.minutes()) != Some(REPLICATION_MINUTES)
    {
        differs.push("Replication Time Control is not on at 15 minutes");
    }
    if destination.and_then(|d| d.metrics()).map(|m| m.status()) != Some(&MetricsStatus::Enabled) {
        differs.push("replication metrics are off");
    }
    let kms_objects = rule.source_selection_criteria().and_then(|c| c.sse_kms_encrypted_objects()).map(|o| o.status());
    if kms_objects != Some(&SseKmsEncryptedObjectsStatus::Enabled) {
        differs.push("KMS-encrypted objects are not replicated");
    }
    let mut value = json!({
        "role_arn": config.role(),
        "destination_bucket_arn": destination.map(|d| d.bucket()),
        "destination_kms_key_arn": destination.and_then(|d| d.encryption_configuration()).and_then(|e| e.replica_kms_key_id()),
    });
    if !differs.is_empty() {
        value["differs"] = json!(differs);
    }
    value
}
