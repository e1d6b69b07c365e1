//! Systems Manager: the services' Parameter Store parameters.

pub(crate) mod parameter;
