//! DynamoDB kinds.

pub(crate) mod table;
