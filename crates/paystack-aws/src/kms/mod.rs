//! KMS kinds.

pub(crate) mod key;
