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
