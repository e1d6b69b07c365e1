//! S3: the artifacts buckets. (The state bucket is `init`'s, in `crate::state`.)

pub(crate) mod bucket;
