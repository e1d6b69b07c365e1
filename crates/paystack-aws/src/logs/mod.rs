//! CloudWatch Logs kinds.

pub(crate) mod log_group;
