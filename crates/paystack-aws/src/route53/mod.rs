//! Route 53: the service's DNS records.

pub(crate) mod record;
