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
    pub resources: BTreeMap<ResourceId, ResourceRecord>,
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
        Self { version: SCHEMA_VERSION, serial: 0, lineage, stack, resources: BTreeMap::new() }
    }

    pub fn record(&mut self, kind: &Kind, name: &str, observed: &Observed, depends_on: Vec<ResourceId>) {
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
