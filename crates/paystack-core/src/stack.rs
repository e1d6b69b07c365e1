//! A stack is one deployed instance of an environment: `dev`, or `dev` with suffix `blue`.

use serde::{Deserialize, Serialize};

/// The tag whose value names the stack a resource belongs to. One tag-filtered read per kind
/// on this key is the whole live inventory of a stack.
pub const STACK_TAG: &str = "paystack:stack";
/// The tag whose value is the resource's logical id inside its stack.
pub const RESOURCE_TAG: &str = "paystack:resource";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    pub env: String,
    pub suffix: Option<String>,
    pub region: String,
}

impl Stack {
    /// The value of [`STACK_TAG`]: the environment, then the suffix if there is one.
    pub fn key(&self) -> String {
        match &self.suffix {
            Some(s) => format!("{}-{s}", self.env),
            None => self.env.clone(),
        }
    }
}
