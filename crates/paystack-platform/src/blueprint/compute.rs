//! The compute layer: the ECS cluster, the service-discovery namespace and, per service, its
//! log group, its two IAM roles, its task definition, its discovery service, the Fargate
//! service in the private subnets, and its auto-scaling.

use paystack_core::Input;
use serde_json::json;

use super::alerts::Alerts;
use super::database::Database;
use super::edge::Edge;
use super::network::Network;
use super::security::Security;
use super::storage::Storage;
use super::trust::{Trusted, may_assume};
use super::{BlueprintError, Builder, parameters};
use crate::kinds::{
    self, Container, DiscoveryService, EcsCluster, EcsService, Handle, IamRole, LogGroup, Namespace, PolicyDocument,
    ServiceLoadBalancer, ServiceScaling, Statement, TaskDefinition, each,
};

/// The container name in every task definition: one container per task.
const CONTAINER: &str = "app";
/// The environment variable a container reads the database credentials from.
const DB_CREDENTIALS_VARIABLE: &str = "DATABASE_CREDENTIALS";

/// What the other layers build on.
pub(super) struct Compute {
    pub(super) cluster: Handle<EcsCluster>,
    /// The namespace's DNS name: each service is `{service}.{namespace}` in the VPC.
    pub(super) namespace: String,
    pub(super) services: Vec<RunningService>,
}

/// One configured service, as placed.
pub(super) struct RunningService {
    pub(super) name: String,
    pub(super) service: Handle<EcsService>,
}

pub(super) fn compute(
    b: &mut Builder<'_>,
    network: &Network,
    security: &Security,
    database: &Database,
    alerts: &Alerts,
    edge: &Edge,
    storage: &Storage,
) -> Result<Compute, BlueprintError> {
    let env = b.env;
    let cluster = b.add("app.cluster", ("app", "cluster"), |n| EcsCluster {
        name: n.name,
        container_insights: env.logs.container_insights,
        tags: n.tags,
    })?;
    let namespace_name = namespace_name(&env.discovery.namespace, env.suffix.as_deref());
    let stack_key = b.stack.key();
    let namespace = b.add("app.namespace", ("app", "namespace"), |n| Namespace {
        name: namespace_name.clone(),
        vpc_id: network.vpc.id(),
        description: format!("The services of {stack_key}, by name"),
        tags: n.tags,
    })?;
    let role_path = kinds::role_path(&b.stack.key());
    let mut services = Vec::new();
    for service in &env.services {
        let svc = service.name.as_str();
        let logs = b.add(&format!("app.{svc}.logs"), ("app", &format!("{svc}-logs")), |n| LogGroup {
            name: n.name,
            retention_in_days: env.logs.retention_days,
            kms_key_id: storage.key.arn(),
            tags: n.tags,
        })?;
        // ECS pulls the image, writes the logs, and reads the secret and the service's own
        // parameters with the execution role; the application itself runs with the task
        // role, which may alert, read and write sessions (items of the sessions table and its
        // indexes, through its key), and read and write artifacts under its own prefix.
        let role = |n: super::Named, statements: Vec<Statement>| IamRole {
            name: n.name,
            path: role_path.clone(),
            assume_role_policy: may_assume(&Trusted::EcsTasks { region: &env.region }, &storage.account),
            policy: PolicyDocument { version: "2012-10-17".into(), statement: statements },
            permissions_boundary: crate::bootstrap::boundary_arn(env),
            other_policies: std::collections::BTreeMap::new(),
            managed_policy_arns: Vec::new(),
            tags: n.tags,
        };
        let parameter_arns = parameters::arns_of(b, &storage.account, svc);
        let mut secrets = parameters::parameters(b, service, database, storage, &logs)?;
        secrets.insert(DB_CREDENTIALS_VARIABLE.to_owned(), database.secret.arn());
        let execution = b.add(&format!("app.{svc}.execution_role"), ("app", &execution_role(svc)), |n| {
            role(
                n,
                vec![
                    allow(
                        &env.region,
                        &["logs:CreateLogStream", "logs:PutLogEvents"],
                        vec![logs.arn(), logs.streams_arn()],
                    ),
                    allow(&env.region, &["secretsmanager:GetSecretValue"], vec![database.secret.arn()]),
                    allow(&env.region, &["kms:Decrypt"], vec![storage.key.arn()]),
                    allow(&env.region, &["ssm:GetParameters"], vec![parameter_arns.into()]),
                ],
            )
        })?;
        let artifacts = format!("arn:aws:s3:::{}", storage.artifacts_name);
        let task_role = b.add(&format!("app.{svc}.task_role"), ("app", &format!("{svc}-task-role")), |n| {
            role(
                n,
                vec![
                    allow(&env.region, &["sns:Publish"], vec![alerts.topic.arn()]),
                    allow(
                        &env.region,
                        SESSION_ITEM_ACTIONS,
                        vec![storage.sessions.arn(), storage.sessions.indexes_arn()],
                    ),
                    allow(&env.region, &["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], vec![storage.key.arn()]),
                    allow(&env.region, ARTIFACT_OBJECT_ACTIONS, vec![Input::from(format!("{artifacts}/{svc}/*"))]),
                    allow_where(
                        &["s3:ListBucket"],
                        vec![artifacts.clone().into()],
                        json!({
                            "StringEquals": { "aws:RequestedRegion": env.region },
                            "StringLike": { "s3:prefix": [format!("{svc}/*")] },
                        }),
                    ),
                ],
            )
        })?;
        let port = service.load_balanced.then_some(env.security.app_port);
        let task = b.add(&format!("app.{svc}.task"), ("app", &format!("{svc}-task")), |n| TaskDefinition {
            family: n.name,
            cpu: service.cpu.to_string(),
            memory: service.memory.to_string(),
            execution_role_arn: execution.arn(),
            task_role_arn: task_role.arn(),
            container: Container {
                name: CONTAINER.into(),
                image: service.image.clone(),
                port,
                log_group: logs.name(),
                region: env.region.clone(),
                secrets,
                command: Vec::new(),
                read_only_root_filesystem: service.read_only_root_filesystem,
                user: service.user.clone(),
                writable_paths: service.writable_paths.clone(),
            },
            tags: n.tags,
        })?;
        let discovery =
            b.add(&format!("app.{svc}.discovery"), ("app", &format!("{svc}-discovery")), |n| DiscoveryService {
                name: svc.to_owned(),
                namespace_id: namespace.id(),
                dns_ttl: DNS_TTL_SECONDS,
                tags: n.tags,
            })?;
        let ecs_service = b.add(&format!("app.{svc}.service"), ("app", svc), |n| EcsService {
            name: n.name,
            cluster: cluster.arn(),
            task_definition: task.arn(),
            desired_count: service.desired_count,
            subnet_ids: each(&network.private_subnets, |h| h.id()),
            security_group_ids: vec![security.app.id()],
            load_balancer: service.load_balanced.then(|| ServiceLoadBalancer {
                target_group_arn: edge.target_group.arn(),
                container_name: CONTAINER.into(),
                container_port: port,
            }),
            service_registries: vec![discovery.arn()],
            tags: n.tags,
        })?;
        let scaling_id = format!("app.{svc}.scaling");
        let scaling = ServiceScaling {
            policy_name: kinds::scaling_policy_name(&b.stack.key(), &scaling_id),
            resource_id: ecs_service.scaling_resource_id(),
            min_capacity: service.min_count,
            max_capacity: service.max_count,
            cpu_target_percent: service.cpu_target_percent,
        };
        b.setting(&scaling_id, &ecs_service, &scaling)?;
        services.push(RunningService { name: svc.to_owned(), service: ecs_service });
    }
    Ok(Compute { cluster, namespace: namespace_name, services })
}

/// How long resolvers may cache a service's addresses: short, since tasks come and go.
const DNS_TTL_SECONDS: u32 = 10;

/// The configured namespace, with a stack's suffix on its first label
/// (`dev.paystack.internal` → `dev-pr7.paystack.internal`), so that two stacks' namespaces
/// never share a name.
pub(super) fn namespace_name(configured: &str, suffix: Option<&str>) -> String {
    match (suffix, configured.split_once('.')) {
        (Some(suffix), Some((first, rest))) => format!("{first}-{suffix}.{rest}"),
        _ => configured.to_owned(),
    }
}

/// What the application may do to the sessions table: its items, never the table.
const SESSION_ITEM_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
];

/// What a service may do to the artifacts under its own prefix.
const ARTIFACT_OBJECT_ACTIONS: &[&str] = &["s3:GetObject", "s3:PutObject", "s3:DeleteObject"];

/// The second half of the name of `service`'s execution role.
fn execution_role(service: &str) -> String {
    format!("{service}-exec-role")
}

/// The ARN `service`'s execution role has in `account`, known before the role exists: the
/// database secret's policy names it, and the role's own policy names the secret.
pub(super) fn execution_role_arn(b: &Builder<'_>, account: &str, service: &str) -> String {
    let name = b.name_of(&crate::kinds::IAM_ROLE, "app", &execution_role(service));
    format!("arn:aws:iam::{account}:role{}{name}", crate::kinds::role_path(&b.stack.key()))
}

/// An `Allow` of `actions` on exactly `resources`, never a wildcard, held to the
/// environment's region.
pub(super) fn allow(region: &str, actions: &[&str], resources: Vec<Input<String>>) -> Statement {
    allow_where(actions, resources, json!({ "StringEquals": { "aws:RequestedRegion": region } }))
}

/// An `Allow` of `actions` on exactly `resources`, under `condition`.
pub(super) fn allow_where(actions: &[&str], resources: Vec<Input<String>>, condition: serde_json::Value) -> Statement {
    Statement {
        effect: "Allow".into(),
        action: actions.iter().map(|a| (*a).to_owned()).collect(),
        resource: resources,
        condition,
    }
}
