//! One tag sync for every service. A service says how to tag and untag one of its resources
//! ([`Tagging`], a few lines beside its other shared code); [`sync_tags`] makes a resource's
//! live tags equal the desired ones, through whichever service holds it.

use async_trait::async_trait;
use paystack_core::Observed;
use paystack_engine::{Desired, ReconcileError};

use crate::owned::{TagMap, tag_changes};

/// How a service tags and untags one of its resources. `resource` is what the service
/// names it by: an id (EC2), an ARN, or a name (IAM roles).
#[async_trait]
pub(crate) trait Tagging: Sync {
    /// Sets `tags`, new or changed, leaving the others.
    async fn tag(&self, resource: &str, tags: TagMap) -> Result<(), ReconcileError>;

    /// Removes the tags with these keys.
    async fn untag(&self, resource: &str, keys: Vec<String>) -> Result<(), ReconcileError>;
}

/// Makes the live tags of `resource` equal to the desired ones: sets what is new or
/// changed, then removes what is not wanted (never AWS's own `aws:` tags or paystack's
/// annotations). Nothing is called when nothing differs.
pub(crate) async fn sync_tags(
    service: &impl Tagging,
    resource: &str,
    desired: &Desired,
    current: &Observed,
) -> Result<(), ReconcileError> {
    let (set, unset) = tag_changes(desired, current);
    if !set.is_empty() {
        service.tag(resource, set).await?;
    }
    if !unset.is_empty() {
        service.untag(resource, unset).await?;
    }
    Ok(())
}

/// [`Tagging`] for a service whose `TagResource` and `UntagResource` name the resource by
/// `$id` (`resource_arn`, `secret_id`): `|tags| …` turns the tags to set into the service's
/// own tag type, and may fail with `?`.
macro_rules! tag_resource_api {
    ($client:ty, $id:ident, |$tags:ident| $convert:expr) => {
        #[async_trait::async_trait]
        impl $crate::tagging::Tagging for $client {
            async fn tag(
                &self,
                resource: &str,
                $tags: $crate::owned::TagMap,
            ) -> Result<(), paystack_engine::ReconcileError> {
                let call = self.tag_resource().$id(resource).set_tags(Some($convert));
                call.send().await.map_err(|e| $crate::error::classify("TagResource", e))?;
                Ok(())
            }

            async fn untag(&self, resource: &str, keys: Vec<String>) -> Result<(), paystack_engine::ReconcileError> {
                let call = self.untag_resource().$id(resource).set_tag_keys(Some(keys));
                call.send().await.map_err(|e| $crate::error::classify("UntagResource", e))?;
                Ok(())
            }
        }
    };
}
pub(crate) use tag_resource_api;

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use paystack_core::ResourceId;
    use serde_json::json;

    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    #[async_trait]
    impl Tagging for Recorder {
        async fn tag(&self, resource: &str, tags: TagMap) -> Result<(), ReconcileError> {
            self.0.lock().unwrap().push(format!("tag {resource} {tags:?}"));
            Ok(())
        }

        async fn untag(&self, resource: &str, keys: Vec<String>) -> Result<(), ReconcileError> {
            self.0.lock().unwrap().push(format!("untag {resource} {keys:?}"));
            Ok(())
        }
    }

    fn with_tags(tags: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        let serde_json::Value::Object(fields) = json!({ "tags": tags }) else { unreachable!() };
        fields
    }

    #[tokio::test]
    async fn sets_what_differs_removes_what_is_unwanted_and_keeps_aws_tags_and_annotations() {
        let desired = Desired {
            id: ResourceId::new("r"),
            name: "r".into(),
            fields: with_tags(json!({ "A": "1", "B": "2" })),
            token: String::new(),
        };
        let current = Observed::new(
            ResourceId::new("r"),
            "r-1",
            with_tags(
                json!({ "A": "1", "B": "old", "C": "3", "aws:cloudformation:stack": "x", "paystack:username": "u" }),
            ),
            Default::default(),
        );
        let service = Recorder::default();
        sync_tags(&service, "r-1", &desired, &current).await.unwrap();
        assert_eq!(*service.0.lock().unwrap(), [r#"tag r-1 {"B": "2"}"#, r#"untag r-1 ["C"]"#]);

        let same = Recorder::default();
        sync_tags(&same, "r-1", &desired, &Observed { attributes: desired.fields.clone(), ..current }).await.unwrap();
        assert!(same.0.lock().unwrap().is_empty(), "nothing differs, nothing is called");
    }
}
