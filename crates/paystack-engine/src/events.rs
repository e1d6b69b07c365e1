//! Progress events, for the CLI to render. They are product output, not log lines.

use std::time::Duration;

use paystack_core::{Action, Placement, ResourceId};

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Started {
        id: ResourceId,
        action: Action,
    },
    /// An API call took one of its service's slots in its placement. A change makes one
    /// call, or two for a replace; a retry is a new call.
    Calling {
        id: ResourceId,
        service: &'static str,
        placement: Placement,
    },
    /// The call returned, well or not, and gave its slot back.
    Called {
        id: ResourceId,
        service: &'static str,
        placement: Placement,
    },
    /// The API call is done; AWS is settling and the resource holds no slot.
    Waiting {
        id: ResourceId,
    },
    Retrying {
        id: ResourceId,
        attempt: u32,
        error: String,
    },
    Finished {
        id: ResourceId,
        action: Action,
        elapsed: Duration,
    },
    Failed {
        id: ResourceId,
        error: String,
    },
    Skipped {
        id: ResourceId,
        because: ResourceId,
    },
}

pub trait Progress: Send + Sync {
    fn event(&self, event: Event);
}

impl<F: Fn(Event) + Send + Sync> Progress for F {
    fn event(&self, event: Event) {
        self(event)
    }
}
