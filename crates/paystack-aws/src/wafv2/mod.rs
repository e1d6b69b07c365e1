//! WAFv2: the web ACL on the load balancer.

pub(crate) mod web_acl;
