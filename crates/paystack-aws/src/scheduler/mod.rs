//! EventBridge Scheduler: the schedule that runs the drift task.

pub(crate) mod schedule;
