//! IAM kinds.

pub(crate) mod role;
