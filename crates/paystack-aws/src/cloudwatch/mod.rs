//! CloudWatch kinds.

pub(crate) mod alarm;
