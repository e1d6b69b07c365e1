//! Application Auto Scaling kinds.

pub(crate) mod service_scaling;
