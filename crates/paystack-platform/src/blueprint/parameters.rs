//! A service's Parameter Store hierarchy, `/{stack}/{service}/{name}`: the non-secret
//! settings the platform knows of (where the database, the sessions table, the artifacts
//! bucket and the logs are; never a secret's value, only the secret's ARN), and the ones the
//! service declares. Each reaches the container as an environment variable through its
//! task definition's `secrets`, by the parameter's ARN.

use std::collections::BTreeMap;

use paystack_config::{PLATFORM_PARAMETERS, Service, parameter_variable};
use paystack_core::Input;

use super::database::Database;
use super::storage::Storage;
use super::{BlueprintError, Builder};
use crate::kinds::{self, Handle, LogGroup, Parameter};

/// `/{stack}/`: where every parameter of the stack lives.
pub(super) fn root(b: &Builder<'_>) -> String {
    format!("/{}/", b.stack.key())
}

/// The ARN pattern of `service`'s parameters, for its execution role.
pub(super) fn arns_of(b: &Builder<'_>, account: &str, service: &str) -> String {
    format!("arn:aws:ssm:{}:{account}:parameter{}{service}/*", b.env.region, root(b))
}

/// Places `service`'s parameters; returns each one's environment variable and ARN.
pub(super) fn parameters(
    b: &mut Builder<'_>,
    service: &Service,
    database: &Database,
    storage: &Storage,
    logs: &Handle<LogGroup>,
) -> Result<BTreeMap<String, Input<String>>, BlueprintError> {
    let env = b.env;
    let platform: [(&str, Option<Input<String>>); 10] = [
        ("db_writer_endpoint", Some(database.cluster.endpoint())),
        ("db_reader_endpoint", Some(database.cluster.reader_endpoint())),
        ("db_port", Some(Input::from(env.security.db_port.to_string()))),
        ("db_name", Some(Input::from(env.database.database_name.clone()))),
        ("db_secret_arn", Some(database.secret.arn())),
        ("sessions_table", Some(storage.sessions.name())),
        ("artifacts_bucket", Some(storage.artifacts.name())),
        ("log_group", Some(logs.name())),
        ("region", Some(Input::from(env.region.clone()))),
        ("replica_region", env.replica_region.clone().map(Input::from)),
    ];
    debug_assert!(platform.iter().map(|(n, _)| *n).eq(PLATFORM_PARAMETERS.iter().copied()));
    let declared = service.parameters.iter().map(|(n, v)| (n.as_str(), Some(Input::from(v.clone()))));
    let mut variables = BTreeMap::new();
    for (name, value) in platform.into_iter().chain(declared) {
        let Some(value) = value else { continue };
        let id = format!("params.{}.{}", service.name, name.replace('/', "."));
        let full = format!("{}{}/{name}", root(b), service.name);
        let at = b.placement(&kinds::PARAMETER);
        let parameter = b.add_at(at, full, &id, |n| Parameter { name: n.name, value, tags: n.tags })?;
        variables.insert(parameter_variable(name), parameter.arn());
    }
    Ok(variables)
}
