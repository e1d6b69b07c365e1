//! The resource kinds and their contracts. Each kind's fields are what its spec sets and
//! what its reconciler reports back, under the same names and in the same shape.

use paystack_core::{Kind, KindSchema, ReplaceOrder};

/// A kind's fixed facts; [`KindDef::schema`] adds the expected durations.
#[derive(Debug)]
pub struct KindDef {
    pub name: &'static str,
    pub service: &'static str,
    latency_key: &'static str,
    pub replace_on: &'static [&'static str],
    pub unordered: &'static [&'static str],
    pub replace_order: ReplaceOrder,
    /// For kinds AWS identifies by a name the caller chooses (RDS, Secrets Manager, SNS): the
    /// field that carries it, and the longest name AWS accepts.
    pub name_field: Option<(&'static str, usize)>,
}

impl KindDef {
    const fn ec2(name: &'static str, latency_key: &'static str) -> Self {
        Self::new(name, "ec2", latency_key)
    }

    const fn new(name: &'static str, service: &'static str, latency_key: &'static str) -> Self {
        Self {
            name,
            service,
            latency_key,
            replace_on: &[],
            unordered: &[],
            replace_order: ReplaceOrder::CreateBeforeDelete,
            name_field: None,
        }
    }

    /// The kind is identified by the name in `field`, at most `max` characters long.
    const fn named(mut self, field: &'static str, max: usize) -> Self {
        self.name_field = Some((field, max));
        self
    }

    /// Fields AWS cannot change in place.
    const fn replace_on(mut self, fields: &'static [&'static str]) -> Self {
        self.replace_on = fields;
        self
    }

    /// List fields compared as sets.
    const fn unordered(mut self, fields: &'static [&'static str]) -> Self {
        self.unordered = fields;
        self
    }

    const fn delete_before_create(mut self) -> Self {
        self.replace_order = ReplaceOrder::DeleteBeforeCreate;
        self
    }

    pub fn kind(&self) -> Kind {
        Kind::new(self.name)
    }

    pub fn schema(&self) -> KindSchema {
        KindSchema {
            kind: self.kind(),
            service: self.service,
            replace_on: self.replace_on,
            unordered: self.unordered,
            replace_order: self.replace_order,
            expected: crate::latency::expected(self.latency_key),
        }
    }
}

/// Every kind, for what must see them all (a registry of stand-ins, the benchmarks).
pub const ALL: &[&KindDef] = &[
    &VPC,
    &SUBNET,
    &INTERNET_GATEWAY,
    &ELASTIC_IP,
    &NAT_GATEWAY,
    &ROUTE_TABLE,
    &SECURITY_GROUP,
    &VPC_ENDPOINT,
    &DB_SUBNET_GROUP,
    &DB_CLUSTER_PARAMETER_GROUP,
    &SECRET,
    &SECRET_ROTATION,
    &DB_CLUSTER,
    &DB_INSTANCE,
    &TOPIC,
    &LOG_GROUP,
    &IAM_ROLE,
    &ECS_CLUSTER,
    &TASK_DEFINITION,
    &ECS_SERVICE,
    &SERVICE_SCALING,
    &LOAD_BALANCER,
    &TARGET_GROUP,
    &LISTENER,
    &ALARM,
    &DNS_RECORD,
];

/// Fields: `cidr_block`, `enable_dns_hostnames`, `enable_dns_support`, `tags`.
pub const VPC: KindDef = KindDef::ec2("ec2.vpc", "vpc").replace_on(&["cidr_block"]);

/// Fields: `vpc_id`, `cidr_block`, `availability_zone`, `map_public_ip_on_launch`, `tags`.
pub const SUBNET: KindDef =
    KindDef::ec2("ec2.subnet", "subnet").replace_on(&["vpc_id", "cidr_block", "availability_zone"]);

/// Fields: `vpc_id` (the attachment, moved in place), `tags`.
pub const INTERNET_GATEWAY: KindDef = KindDef::ec2("ec2.internet_gateway", "internet_gateway");

/// An Elastic IP in the VPC domain. Fields: `tags`. Outputs: `id` (the allocation id),
/// `public_ip`.
pub const ELASTIC_IP: KindDef = KindDef::ec2("ec2.eip", "eip");

/// Fields: `subnet_id`, `allocation_id`, `tags`. Replaced old-first: its Elastic IP can
/// belong to one gateway at a time, and AWS lets routes outlive the gateway they point at.
pub const NAT_GATEWAY: KindDef =
    KindDef::ec2("ec2.nat_gateway", "nat_gateway").replace_on(&["subnet_id", "allocation_id"]).delete_before_create();

/// Fields: `vpc_id`, `routes` (a list of `{destination_cidr_block, gateway_id}` or
/// `{destination_cidr_block, nat_gateway_id}`), `subnet_ids` (the associations), `tags`.
pub const ROUTE_TABLE: KindDef =
    KindDef::ec2("ec2.route_table", "route_table").replace_on(&["vpc_id"]).unordered(&["routes", "subnet_ids"]);

/// Fields: `vpc_id`, `group_name`, `description`, `ingress` (a list of `{protocol,
/// from_port, to_port, description}` plus `cidr_ipv4` or `source_security_group_id`),
/// `tags`. Egress keeps the AWS default.
pub const SECURITY_GROUP: KindDef = KindDef::ec2("ec2.security_group", "security_group")
    .replace_on(&["vpc_id", "group_name", "description"])
    .unordered(&["ingress"]);

/// A gateway endpoint. Fields: `vpc_id`, `service_name`, `route_table_ids`, `tags`.
pub const VPC_ENDPOINT: KindDef = KindDef::ec2("ec2.vpc_endpoint", "vpc_endpoint")
    .replace_on(&["vpc_id", "service_name"])
    .unordered(&["route_table_ids"]);

/// RDS identifiers (clusters, instances, groups) are at most 63 characters.
const RDS_NAME_MAX: usize = 63;

/// Fields: `name`, `description`, `subnet_ids`, `tags`. Outputs: `name`, `arn`.
pub const DB_SUBNET_GROUP: KindDef = KindDef::new("rds.db_subnet_group", "rds", "db_subnet_group")
    .named("name", RDS_NAME_MAX)
    .replace_on(&["name"])
    .unordered(&["subnet_ids"]);

/// Fields: `name`, `family`, `description`, `parameters` (name to value: the values this
/// group sets; every other parameter keeps the family's default), `tags`. Outputs: `name`,
/// `arn`.
pub const DB_CLUSTER_PARAMETER_GROUP: KindDef =
    KindDef::new("rds.db_cluster_parameter_group", "rds", "db_cluster_parameter_group")
        .named("name", RDS_NAME_MAX)
        .replace_on(&["name", "family", "description"]);

/// The database credentials: a JSON document with `username` and a password that the
/// reconciler generates when it creates the secret. The password is never a field: nothing
/// paystack plans, records or prints can hold it. Fields: `name`, `description`, `username`,
/// `tags`. Outputs: `arn`. A new username is a new secret, and so a new password. Replaced
/// old-first: the successor needs the name, and the cluster refers to the secret only to be
/// given its password.
pub const SECRET: KindDef = KindDef::new("secretsmanager.secret", "secretsmanager", "secret")
    .named("name", 512)
    .replace_on(&["name", "username"])
    .delete_before_create();

/// On a database cluster: whether deleting it takes a final snapshot. A tag, because a delete
/// sees only the live resource.
pub const FINAL_SNAPSHOT_TAG: &str = "paystack:final-snapshot";

/// Rotation of a secret by a Lambda function that already exists. It has no AWS identity of
/// its own: it is a setting of its secret (its AWS id is the secret's ARN). Fields:
/// `secret_arn`, `lambda_arn`, `days`, `connection` (`{engine, host, port, dbname}`, written
/// into the secret's document, where a rotation function looks for the database).
pub const SECRET_ROTATION: KindDef =
    KindDef::new("secretsmanager.rotation", "secretsmanager", "secret").replace_on(&["secret_arn"]);

/// An Aurora cluster. Fields: `identifier`, `engine`, `engine_version`, `database_name`,
/// `master_username`, `master_password_secret` (the ARN of the secret whose password the
/// cluster is given; changing it sets the new secret's password in place), `port`,
/// `db_subnet_group_name`, `vpc_security_group_ids`, `db_cluster_parameter_group_name`,
/// `storage_encrypted`, `backup_retention_period`, `preferred_backup_window`,
/// `serverless_v2_scaling` (null, or `{min_capacity, max_capacity}`), `deletion_protection`,
/// `tags`. A `paystack:final-snapshot` tag says whether deleting it takes a final snapshot.
/// Outputs: `id` (the identifier), `arn`, `endpoint`, `reader_endpoint`, `port`.
pub const DB_CLUSTER: KindDef = KindDef::new("rds.db_cluster", "rds", "rds_cluster")
    .named("identifier", RDS_NAME_MAX)
    .replace_on(&[
        "identifier",
        "engine",
        "database_name",
        "master_username",
        "db_subnet_group_name",
        "storage_encrypted",
    ])
    .unordered(&["vpc_security_group_ids"]);

/// An Aurora instance. Fields: `identifier`, `cluster_identifier`, `engine`,
/// `instance_class`, `availability_zone`, `promotion_tier`, `tags`. Outputs: `id`,
/// `cluster_identifier` (so a reader can wait for the writer by referring to it), `endpoint`.
pub const DB_INSTANCE: KindDef = KindDef::new("rds.db_instance", "rds", "rds_instance")
    .named("identifier", RDS_NAME_MAX)
    .replace_on(&["identifier", "cluster_identifier", "engine", "availability_zone"]);

/// The environment's alert topic. Fields: `name`, `subscriptions` (email addresses), `tags`.
/// Outputs: `arn`.
pub const TOPIC: KindDef = KindDef::new("sns.topic", "sns", "sns_topic")
    .named("name", 256)
    .replace_on(&["name"])
    .unordered(&["subscriptions"]);

/// A service's log group. Fields: `name`, `retention_in_days`, `tags`. Outputs: `arn` (of
/// the group itself, without the `:*` AWS appends for its streams).
pub const LOG_GROUP: KindDef =
    KindDef::new("logs.log_group", "logs", "log_group").named("name", 512).replace_on(&["name"]);

/// An IAM role with one inline policy, under the path `/paystack/{stack}/`. Fields: `name`,
/// `path`, `assume_role_policy`, `policy` (the inline policy document), `permissions_boundary`
/// (null or a policy ARN), `tags`. Outputs: `arn`.
pub const IAM_ROLE: KindDef =
    KindDef::new("iam.role", "iam", "iam_role").named("name", 64).replace_on(&["name", "path"]);

/// Fields: `name`, `container_insights`, `tags`. Outputs: `arn`, `name`.
pub const ECS_CLUSTER: KindDef =
    KindDef::new("ecs.cluster", "ecs", "ecs_cluster").named("name", 255).replace_on(&["name"]);

/// A Fargate task definition. Revisions never change: any change registers a new revision
/// (a replacement, new first), the service moves to it, and the old one is deregistered.
/// Fields: `family`, `cpu`, `memory` (strings, as ECS takes them), `execution_role_arn`,
/// `task_role_arn`, `container` (`{name, image, port, log_group, region, secrets}`, where
/// `secrets` maps an environment variable to the ARN of the secret it is read from), `tags`.
/// Outputs: `arn` (with the revision).
pub const TASK_DEFINITION: KindDef = KindDef::new("ecs.task_definition", "ecs", "task_definition")
    .named("family", 255)
    .replace_on(&["family", "cpu", "memory", "execution_role_arn", "task_role_arn", "container"]);

/// A Fargate service in the private subnets. Fields: `name`, `cluster`, `task_definition`,
/// `desired_count`, `subnet_ids`, `security_group_ids`, `load_balancer` (null, or
/// `{target_group_arn, container_name, container_port}`), `tags`. Outputs: `arn`, `name`.
pub const ECS_SERVICE: KindDef = KindDef::new("ecs.service", "ecs", "ecs_service")
    .named("name", 255)
    .replace_on(&["name", "cluster"])
    .unordered(&["subnet_ids", "security_group_ids"]);

/// Target tracking on a service's average CPU: the scalable target and its one policy.
/// Application Auto Scaling takes no tags here, so the policy's name carries ownership
/// ([`scaling_policy_name`]). Fields: `policy_name`, `resource_id`
/// (`service/CLUSTER/SERVICE`), `min_capacity`, `max_capacity`, `cpu_target_percent`.
pub const SERVICE_SCALING: KindDef =
    KindDef::new("autoscaling.service_scaling", "application-autoscaling", "autoscaling_target")
        .replace_on(&["policy_name", "resource_id"]);

/// The start of every scaling policy name of a stack.
pub fn scaling_policy_prefix(stack_key: &str) -> String {
    format!("{stack_key}.")
}

/// A scaling policy's name: its stack, then the resource's id, so that listing the policies
/// finds a stack's own and names the resource each belongs to.
pub fn scaling_policy_name(stack_key: &str, id: &str) -> String {
    format!("{}{id}", scaling_policy_prefix(stack_key))
}

/// An internet-facing Application Load Balancer. Fields: `name`, `subnet_ids`,
/// `security_group_ids`, `tags`. Outputs: `arn`, `dns_name`, `zone_id`.
pub const LOAD_BALANCER: KindDef = KindDef::new("elbv2.load_balancer", "elasticloadbalancing", "load_balancer")
    .named("name", 32)
    .replace_on(&["name"])
    .unordered(&["subnet_ids", "security_group_ids"]);

/// An `ip` target group. Fields: `name`, `port`, `vpc_id`, `health_check_path`, `tags`.
/// Outputs: `arn`.
pub const TARGET_GROUP: KindDef = KindDef::new("elbv2.target_group", "elasticloadbalancing", "target_group")
    .named("name", 32)
    .replace_on(&["name", "port", "vpc_id"]);

/// A listener. Fields: `load_balancer_arn`, `port`, `protocol`, `certificate_arn` (null for
/// HTTP), `default_action` (`{type: "redirect", port, protocol}` or `{type: "forward",
/// target_group_arn}`), `tags`. Outputs: `arn`.
pub const LISTENER: KindDef =
    KindDef::new("elbv2.listener", "elasticloadbalancing", "listener").replace_on(&["load_balancer_arn", "port"]);

/// The IAM path of a stack's roles. Listing roles under it is the stack's whole inventory of
/// roles, with no other stack's in the way.
pub fn role_path(stack_key: &str) -> String {
    format!("/paystack/{stack_key}/")
}

/// A CloudWatch metric alarm that notifies the environment's topic. Fields: `name`,
/// `namespace`, `metric_name`, `dimensions` (name to value), `statistic`, `period`,
/// `evaluation_periods`, `threshold`, `comparison_operator`, `alarm_actions`, `tags`.
/// Outputs: `arn`.
pub const ALARM: KindDef =
    KindDef::new("cloudwatch.alarm", "monitoring", "alarm").named("name", 255).replace_on(&["name"]);

/// An alias `A` record to the load balancer, plain or weighted, in a hosted zone that was
/// looked up. Route 53 keeps no tags on records, so each has an owner: a `TXT` record at
/// [`dns_owner_name`] that names the stack's resource and the record it owns (the pattern
/// of external-dns). Both are written in one atomic change batch. Fields: `zone_id`, `name`
/// (without the final dot), `set_identifier` and `weight` (both null for a plain record),
/// `alias_target` (`{dns_name, hosted_zone_id, evaluate_target_health}`), `owner_name`.
/// Outputs: `fqdn`, `url`. Replaced old-first: a plain and a weighted record of one name
/// cannot coexist.
pub const DNS_RECORD: KindDef = KindDef::new("route53.record", "route53", "route53_record")
    .replace_on(&["zone_id", "name", "set_identifier", "owner_name"])
    .delete_before_create();

/// Where the owner records of a stack's DNS records live: one name per stack, so one listing
/// from there finds them all.
pub fn dns_owner_parent(stack_key: &str, zone: &str) -> String {
    format!("{stack_key}._paystack.{}", zone.trim_end_matches('.'))
}

/// The owner record of the resource `id` of a stack.
pub fn dns_owner_name(stack_key: &str, id: &str, zone: &str) -> String {
    format!("{}.{}", id.replace('.', "-"), dns_owner_parent(stack_key, zone))
}
