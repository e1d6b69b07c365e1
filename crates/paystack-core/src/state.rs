//! The state document: what paystack recorded about each resource it manages.
//!
//! It holds identifiers, attributes and outputs, never secret values. Serializing it to bytes
//! is the state crate's business.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::observed::Observed;
use crate::spec::{Fields, Kind, ResourceId};

pub const SCHEMA_VERSION: u32 = 1;

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
    pub resources: BTreeMap<ResourceId, ResourceRecord>,
    /// The journal: creates that were started and not yet recorded. Each is written before
    /// its AWS call, so after a crash the next run knows what to look for by ownership tag:
    /// it adopts what exists and creates again what does not.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending: BTreeMap<ResourceId, Intent>,
}

/// A create that was about to be sent to AWS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub kind: Kind,
    pub name: String,
    /// Seconds since the Unix epoch.
    pub started: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    pub kind: Kind,
    pub name: String,
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
            resources: BTreeMap::new(),
            pending: BTreeMap::new(),
        }
    }

    /// Records a resource as it is in AWS; this also settles its pending intent, if any.
    pub fn record(&mut self, kind: &Kind, name: &str, observed: &Observed, depends_on: Vec<ResourceId>) {
        self.pending.remove(&observed.id);
        self.resources.insert(
            observed.id.clone(),
            ResourceRecord {
                kind: kind.clone(),
                name: name.to_owned(),
                aws_id: observed.aws_id.clone(),
                attributes: observed.attributes.clone(),
                outputs: observed.outputs.clone(),
                depends_on,
            },
        );
    }
}
