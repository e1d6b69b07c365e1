//! The state document: what paystack recorded about each resource it manages.
//!
//! It holds identifiers, attributes and outputs, never secret values. Serializing it to bytes
//! is the state crate's business.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::observed::Observed;
use crate::placement::Placement;
use crate::spec::{Fields, Kind, ResourceId};

/// 2: every record says where its resource lives (`placement`). A version-1 document is
/// read and migrated by [`StateDocument::migrate`].
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateDocument {
    pub version: u32,
    /// Grows by one with every write.
    pub serial: u64,
    /// Fixed when the document is first created; a document with another lineage is not a
    /// later version of this one.
    pub lineage: String,
    pub stack: String,
    /// The fencing number of the lock this version was written under. Each lock taken on
    /// the stack gets a larger one, so the document says which holder wrote it last.
    #[serde(default)]
    pub fence: u64,
    /// The id of the write that stored this version. A writer whose answer was lost finds
    /// its own id here, and knows its write landed rather than someone else's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub write_id: String,
    pub resources: BTreeMap<ResourceId, ResourceRecord>,
    /// The journal: creates that were started and not yet recorded. Each is written before
    /// its AWS call, so after a crash the next run knows what to look for by ownership tag:
    /// it adopts what exists and creates again what does not.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending: BTreeMap<ResourceId, Intent>,
    /// Resources deleted from the stack that AWS only schedules for deletion (KMS keys):
    /// gone from the stack, and still in AWS until `deleted_by`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduled_deletions: Vec<ScheduledDeletion>,
}

/// A resource whose deletion AWS scheduled rather than carried out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduledDeletion {
    pub id: ResourceId,
    pub kind: Kind,
    pub name: String,
    pub placement: Placement,
    pub aws_id: String,
    /// Seconds since the Unix epoch by which AWS deletes it.
    pub deleted_by: u64,
}

/// A create that was about to be sent to AWS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub kind: Kind,
    pub name: String,
    /// Seconds since the Unix epoch.
    pub started: u64,
}

impl Intent {
    /// The idempotency token of this create, for the APIs that take one (EC2 `ClientToken`,
    /// ECS `clientToken`, Secrets Manager `ClientRequestToken`): the same for every attempt
    /// of one intent, and for a re-run after a crash, so AWS makes the resource once. 32
    /// hexadecimal digits, which every one of those APIs accepts.
    pub fn token(&self, stack: &str, id: &ResourceId) -> String {
        // FNV-1a, twice with different offsets: stable across builds and platforms, unlike
        // the standard library's hasher.
        let fnv = |offset: u64| {
            let text = format!("{stack}\0{id}\0{}\0{}\0{}", self.kind, self.name, self.started);
            text.bytes().fold(offset, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
        };
        format!("{:016x}{:016x}", fnv(0xcbf2_9ce4_8422_2325), fnv(0x6c62_272e_07bb_0142))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    pub kind: Kind,
    pub name: String,
    /// Where the resource lives. Absent in a version-1 document, until it is migrated.
    #[serde(default)]
    pub placement: Placement,
    pub aws_id: String,
    pub attributes: Fields,
    pub outputs: Fields,
    /// The resources this one referred to when it was last applied, so that it can be
    /// destroyed in the right order even after it has left the configuration.
    pub depends_on: Vec<ResourceId>,
}

impl StateDocument {
    pub fn new(stack: String, lineage: String) -> Self {
        Self {
            version: SCHEMA_VERSION,
            serial: 0,
            lineage,
            stack,
            fence: 0,
            write_id: String::new(),
            resources: BTreeMap::new(),
            pending: BTreeMap::new(),
            scheduled_deletions: Vec::new(),
        }
    }

    /// Brings a document written by an older paystack up to [`SCHEMA_VERSION`]. A version-1
    /// document knew one account and one region per stack, so each record is placed where
    /// `placement_of` says its kind lives in that stack. A current document is left as it is.
    pub fn migrate(&mut self, placement_of: impl Fn(&ResourceId, &Kind) -> Placement) {
        if self.version >= SCHEMA_VERSION {
            return;
        }
        for (id, record) in &mut self.resources {
            record.placement = placement_of(id, &record.kind);
        }
        self.version = SCHEMA_VERSION;
    }

    /// Records a resource as it is in AWS; this also settles its pending intent, if any.
    pub fn record(
        &mut self,
        kind: &Kind,
        name: &str,
        placement: &Placement,
        observed: &Observed,
        depends_on: Vec<ResourceId>,
    ) {
        self.pending.remove(&observed.id);
        self.resources.insert(
            observed.id.clone(),
            ResourceRecord {
                kind: kind.clone(),
                name: name.to_owned(),
                placement: placement.clone(),
                aws_id: observed.aws_id.clone(),
                attributes: observed.attributes.clone(),
                outputs: observed.outputs.clone(),
                depends_on,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A document as paystack wrote it before placement: schema version 1, records without
    /// `placement`.
    const VERSION_1: &str = r#"{
  "version": 1,
  "serial": 7,
  "lineage": "6f1c1a52-0d2e-4a4f-9d43-2b3a1c1e0f11",
  "stack": "dev",
  "fence": 3,
  "resources": {
    "network.vpc": {
      "kind": "ec2.vpc",
      "name": "dev-us-east-1-network-vpc",
      "aws_id": "vpc-0abc",
      "attributes": { "cidr_block": "10.0.0.0/16" },
      "outputs": { "id": "vpc-0abc" },
      "depends_on": []
    },
    "app.api.task_role": {
      "kind": "iam.role",
      "name": "dev-us-east-1-app-api-task-role",
      "aws_id": "dev-us-east-1-app-api-task-role",
      "attributes": {},
      "outputs": { "arn": "arn:aws:iam::123456789012:role/x" },
      "depends_on": ["network.vpc"]
    }
  }
}"#;

    #[test]
    fn a_version_1_document_is_migrated_with_every_record_placed() {
        let mut doc: StateDocument = serde_json::from_str(VERSION_1).unwrap();
        assert_eq!(doc.version, 1);
        let place = |_: &ResourceId, kind: &Kind| {
            if kind.as_str() == "iam.role" { Placement::global(None) } else { Placement::regional(None, "us-east-1") }
        };
        doc.migrate(place);
        assert_eq!(doc.version, SCHEMA_VERSION);
        assert_eq!(doc.resources[&ResourceId::new("network.vpc")].placement, Placement::regional(None, "us-east-1"));
        assert_eq!(doc.resources[&ResourceId::new("app.api.task_role")].placement, Placement::global(None));
        // Nothing else moves: the serial, lineage, fence and records are as written.
        assert_eq!((doc.serial, doc.fence, doc.lineage.as_str()), (7, 3, "6f1c1a52-0d2e-4a4f-9d43-2b3a1c1e0f11"));
        assert_eq!(doc.resources[&ResourceId::new("network.vpc")].aws_id, "vpc-0abc");

        // A current document is left alone.
        let mut again = doc.clone();
        again.migrate(|_, _| Placement::regional(Some("999999999999"), "eu-west-1"));
        assert_eq!(again, doc);
    }
}
