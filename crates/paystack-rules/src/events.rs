//! The changes that can break a rule, as CloudTrail records them: each API call the rules
//! watch, the kind of resource it changes, and the request parameter that names it.
//!
//! One table serves both sides: the compliance function's EventBridge patterns are its
//! sources and event names ([`watched`]), and an event that arrives is read back through it
//! ([`ChangeEvent::read`]) to the one resource whose rules are evaluated again.

use paystack_core::Observed;
use paystack_platform::kinds::KindDef;
pub use paystack_platform::watch::{TRIGGERS, Trigger, watched};
use serde_json::Value;

/// Why an event could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the event is not an \"AWS API Call via CloudTrail\" event: it has no `{0}`")]
    NotCloudTrail(&'static str),
    #[error("the `{event_name}` event names no `{parameter}` in its request parameters")]
    NoResource { event_name: String, parameter: &'static str },
}

/// A change a rule watches, to the one resource it names.
#[derive(Debug)]
pub struct ChangeEvent {
    pub event_name: String,
    pub kind: &'static KindDef,
    /// What the request named the resource by: an id, a name or an ARN.
    pub resource: String,
}

impl ChangeEvent {
    /// The change `event` records (as EventBridge delivers it, or CloudTrail's own record
    /// alone), or `None` for a call no rule watches.
    pub fn read(event: &Value) -> Result<Option<Self>, EventError> {
        let detail = event.get("detail").unwrap_or(event);
        let text = |key: &'static str| detail.get(key).and_then(Value::as_str).ok_or(EventError::NotCloudTrail(key));
        let (source, event_name) = (text("eventSource")?, text("eventName")?);
        // `ec2.amazonaws.com` is the source `aws.ec2`.
        let service = source.strip_suffix(".amazonaws.com").unwrap_or(source);
        let Some(trigger) =
            TRIGGERS.iter().find(|t| t.event_name == event_name && t.source.strip_prefix("aws.") == Some(service))
        else {
            return Ok(None);
        };
        let resource =
            detail.get("requestParameters").and_then(|p| p.get(trigger.parameter)).and_then(Value::as_str).ok_or_else(
                || EventError::NoResource { event_name: event_name.to_owned(), parameter: trigger.parameter },
            )?;
        Ok(Some(Self { event_name: event_name.to_owned(), kind: trigger.kind, resource: resource.to_owned() }))
    }

    /// Whether `o` is the resource the event names: by AWS's id for it, one of its outputs
    /// (an ARN), or the end of an ARN the event gave (a key by its id).
    pub fn names(&self, o: &Observed) -> bool {
        let r = self.resource.as_str();
        let tail = r.rsplit(['/', ':']).next().unwrap_or(r);
        o.aws_id == r || o.aws_id == tail || o.outputs.values().any(|v| v.as_str() == Some(r))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_trigger_names_a_source_once_per_event_and_a_kind_a_rule_reads() {
        let mut seen = std::collections::BTreeSet::new();
        for t in TRIGGERS {
            assert!(seen.insert((t.source, t.event_name)), "{} {} twice", t.source, t.event_name);
            assert!(t.source.starts_with("aws.") && !t.event_name.contains('*'));
            assert!(
                crate::RULES.iter().any(|r| r.kinds.is_empty() || r.kinds.iter().any(|k| k.name == t.kind.name)),
                "no rule reads {}",
                t.kind.name
            );
        }
        let watched = watched();
        assert!(watched["aws.ec2"].contains(&"AuthorizeSecurityGroupIngress"));
        assert_eq!(watched.values().map(Vec::len).sum::<usize>(), TRIGGERS.len());
    }

    #[test]
    fn an_event_is_read_to_the_resource_it_names() {
        let event = json!({
            "source": "aws.ec2",
            "detail-type": "AWS API Call via CloudTrail",
            "detail": {
                "eventSource": "ec2.amazonaws.com",
                "eventName": "AuthorizeSecurityGroupIngress",
                "requestParameters": { "groupId": "sg-0abc", "ipPermissions": {} },
            },
        });
        let change = ChangeEvent::read(&event).unwrap().unwrap();
        assert_eq!((change.kind.name, change.resource.as_str()), ("ec2.security_group", "sg-0abc"));
        let group = Observed::new(
            paystack_core::ResourceId::new("security.sg.db"),
            "sg-0abc",
            Default::default(),
            Default::default(),
        );
        let other = Observed::new(
            paystack_core::ResourceId::new("security.sg.app"),
            "sg-0def",
            Default::default(),
            Default::default(),
        );
        assert!(change.names(&group) && !change.names(&other));

        let key = json!({ "eventSource": "kms.amazonaws.com", "eventName": "DisableKeyRotation",
                          "requestParameters": { "keyId": "arn:aws:kms:us-east-1:1:key/k-1" } });
        let change = ChangeEvent::read(&key).unwrap().unwrap();
        let k =
            Observed::new(paystack_core::ResourceId::new("storage.key"), "k-1", Default::default(), Default::default());
        assert!(change.names(&k), "a key named by its ARN is the key of that id");

        let unwatched = json!({ "detail": { "eventSource": "ec2.amazonaws.com", "eventName": "DescribeVpcs" } });
        assert!(ChangeEvent::read(&unwatched).unwrap().is_none());
        assert_eq!(ChangeEvent::read(&json!({ "detail": {} })).unwrap_err(), EventError::NotCloudTrail("eventSource"));
        let nameless =
            json!({ "eventSource": "s3.amazonaws.com", "eventName": "PutBucketVersioning", "requestParameters": {} });
        assert!(matches!(ChangeEvent::read(&nameless), Err(EventError::NoResource { parameter: "bucketName", .. })));
    }
}
