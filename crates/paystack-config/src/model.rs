//! The validated configuration model.

use std::collections::BTreeMap;
use std::path::PathBuf;

use paystack_core::naming;

use crate::cidr::Ipv4Cidr;
use crate::error::ConfigError;

/// Every environment found in `config/`, each merged over the shared settings and validated.
#[derive(Clone, Debug)]
pub struct Config {
    pub dir: PathBuf,
    pub environments: BTreeMap<String, Environment>,
}

impl Config {
    /// The environment called `name`, with the command-line suffix (if any) taking the place
    /// of the one in its file.
    pub fn environment(&self, name: &str, suffix: Option<&str>) -> Result<Environment, ConfigError> {
        let Some(env) = self.environments.get(name) else {
            let known: Vec<String> = self.environments.keys().cloned().collect();
            return Err(unknown_environment(name, &known, &self.dir));
        };
        let mut env = env.clone();
        if let Some(suffix) = suffix {
            crate::load::check_suffix(suffix).map_err(|(message, help)| {
                ConfigError::unlocated(format!("--suffix `{suffix}`: {message}")).help(help)
            })?;
            env.suffix = Some(suffix.to_owned());
        }
        Ok(env)
    }
}

/// `name` is none of `known`: the error says which it most likely meant (`Dev` for `dev`,
/// `prd` for `prod`), and how to add it if it is new.
pub(crate) fn unknown_environment(name: &str, known: &[String], dir: &std::path::Path) -> ConfigError {
    let error = ConfigError::unlocated(format!("unknown environment `{name}`"));
    let near = known
        .iter()
        .map(|k| (edit_distance(&name.to_lowercase(), k), k))
        .filter(|(d, k)| *d <= 2 && *d < k.len())
        .min();
    match near {
        Some((_, k)) => error.help(format!("did you mean `{k}`? The environments are {}", known.join(", "))),
        None => error.help(format!(
            "the environments are {} (one file each in {}); add {}/{name}.toml to define a new one",
            known.join(", "),
            dir.display(),
            dir.display()
        )),
    }
}

/// Levenshtein distance: the fewest single-character edits that turn `a` into `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substituted = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// An environment's own AWS account (`[account]`), and the role paystack assumes in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// 12 digits.
    pub id: String,
    /// A role of that account: `arn:aws:iam::{id}:role/NAME`.
    pub role_arn: String,
    /// Passed to `AssumeRole` when the role's trust policy asks for it.
    pub external_id: Option<String>,
}

/// The Transit Gateway the environments attach to (`[transit_gateway]` in `shared.toml`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransitGateway {
    /// The network account that owns it, and the role paystack assumes there; `None`: the
    /// account of the caller's own credentials.
    pub owner: Option<Account>,
    /// The shared-services range: the one destination each environment's attachment routes
    /// to. Never another environment's VPC.
    pub shared_services_cidr: Ipv4Cidr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Environment {
    pub name: String,
    pub project: String,
    pub region: String,
    /// The second region, for the data layer's replicas (`replica_region`).
    pub replica_region: Option<String>,
    /// The account the environment lives in, reached through its deploy role; `None`: the
    /// account of the caller's own credentials.
    pub account: Option<Account>,
    /// The Transit Gateway its private subnets reach shared services through, if any.
    pub transit_gateway: Option<TransitGateway>,
    /// Appended to every name so two stacks of one environment can share an account.
    pub suffix: Option<String>,
    /// Destroying or replacing anything needs an explicit override (prod by default).
    pub protected: bool,
    pub tags: Tags,
    pub network: Network,
    pub security: Security,
    pub database: Database,
    pub alerts: Alerts,
    /// The ECS services, in name order.
    pub services: Vec<Service>,
    pub logs: Logs,
    pub load_balancer: LoadBalancer,
    pub dns: Dns,
    pub iam: Iam,
    pub alarms: Alarms,
    pub drift: Drift,
    pub state: StateSettings,
    pub waits: Waits,
    /// The usage the cost estimate assumes (`[cost]`).
    pub cost: crate::cost::CostAssumptions,
    pub sessions: Sessions,
    pub artifacts: Artifacts,
    pub access_logs: AccessLogs,
    pub waf: Waf,
    pub discovery: Discovery,
    pub compliance: Compliance,
}

/// Service discovery (`[discovery]`): the Cloud Map private DNS namespace in the VPC, where
/// each ECS service is `{service}.{namespace}`. A stack's suffix is appended to the first
/// label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery {
    pub namespace: String,
}

/// The DynamoDB sessions table (`[sessions]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Sessions {
    /// The attribute DynamoDB's time to live expires items by; `None` when it is off.
    pub ttl_attribute: Option<String>,
    pub point_in_time_recovery: bool,
    pub capacity: SessionsCapacity,
}

/// How the sessions table pays for reads and writes.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionsCapacity {
    /// `PAY_PER_REQUEST`: no capacity to plan.
    OnDemand,
    /// `PROVISIONED`, with Application Auto Scaling target tracking on each.
    Provisioned { read: CapacityRange, write: CapacityRange },
}

/// The units a provisioned capacity stays within, and the utilisation it is kept at.
#[derive(Clone, Debug, PartialEq)]
pub struct CapacityRange {
    pub min: u32,
    pub max: u32,
    pub target_percent: f64,
}

/// The parameters the platform writes under `/{env}/{service}/` for every service.
pub const PLATFORM_PARAMETERS: &[&str] = &[
    "db_writer_endpoint",
    "db_reader_endpoint",
    "db_port",
    "db_name",
    "db_secret_arn",
    "sessions_table",
    "artifacts_bucket",
    "log_group",
    "region",
    "replica_region",
];

/// The environment variable a parameter reaches its service's container as: its name in
/// upper case, with `_` for whatever a variable name cannot hold.
pub fn parameter_variable(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

/// The S3 artifacts bucket's lifecycle (`[artifacts]`), the same on its replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifacts {
    /// Current versions move to STANDARD_IA after this many days (at least 30)...
    pub infrequent_access_days: u32,
    /// ...and to GLACIER_IR after this many, later still.
    pub glacier_ir_days: u32,
    /// A version that is no longer current is deleted after this many days.
    pub noncurrent_expiration_days: u32,
}

/// The web application firewall (`[waf]`): a regional web ACL on the load balancer running
/// AWS managed rule groups, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waf {
    pub enabled: bool,
    pub rule_groups: Vec<WafRuleGroup>,
}

/// One AWS managed rule group of the web ACL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WafRuleGroup {
    pub name: String,
    pub action: WafAction,
}

/// What a rule group does with a request its rules match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WafAction {
    /// The group's own rules' actions: a match is blocked.
    Block,
    /// Matches are counted and let through: how a group is tried before it blocks.
    Count,
}

/// The access-log bucket (`[access_logs]`): what the load balancer and the buckets' access
/// logs write is deleted this many days after it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessLogs {
    pub expiration_days: u32,
}

impl Environment {
    /// The S3 bucket holding this environment's state: one per environment, shared by its
    /// suffixed stacks, each under its own key.
    pub fn state_bucket(&self) -> Option<String> {
        match &self.state.backend {
            StateStore::S3 { bucket, .. } => Some(bucket.clone().unwrap_or_else(|| {
                naming::fit(&naming::compose(&self.name, &self.region, &self.project, "state", None), 63)
            })),
            StateStore::Local => None,
        }
    }

    /// The DynamoDB table holding this environment's locks, one item per stack.
    pub fn lock_table(&self) -> Option<String> {
        match &self.state.backend {
            StateStore::S3 { lock_table, .. } => Some(lock_table.clone().unwrap_or_else(|| {
                naming::fit(&naming::compose(&self.name, &self.region, &self.project, "locks", None), 255)
            })),
            StateStore::Local => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tags {
    pub application: String,
    pub cost_center: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    pub cidr: Ipv4Cidr,
    /// Full availability-zone names, such as `us-east-1a`.
    pub availability_zones: Vec<String>,
    pub nat_gateways: usize,
    /// Bits added to the VPC prefix for each subnet (a /16 VPC with 4 gives /20 subnets).
    pub subnet_newbits: u8,
}

impl Network {
    /// The CIDR of the public subnet in the `az`-th zone. Public subnets take the first
    /// blocks, private ones the blocks after all public ones, so adding a zone never moves an
    /// existing subnet. Validation guarantees the blocks fit.
    pub fn public_subnet(&self, az: usize) -> Option<Ipv4Cidr> {
        self.cidr.subnet(self.subnet_newbits, u32::try_from(az).ok()?)
    }

    pub fn private_subnet(&self, az: usize) -> Option<Ipv4Cidr> {
        let half = 1u32 << (self.subnet_newbits - 1);
        self.cidr.subnet(self.subnet_newbits, half + u32::try_from(az).ok()?)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Security {
    /// Ports the load balancer accepts from the internet.
    pub alb_ingress_ports: Vec<u16>,
    /// The port the application listens on, reachable only from the load balancer.
    pub app_port: u16,
    /// The database port, reachable only from the application.
    pub db_port: u16,
}

/// The Aurora PostgreSQL cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Database {
    pub engine_version: String,
    /// The cluster parameter group family, `aurora-postgresql{major}`.
    pub family: String,
    pub capacity: DbCapacity,
    /// Reader instances besides the writer, spread across the zones.
    pub readers: usize,
    /// Days of automated backups, which is also how far back point-in-time recovery reaches.
    pub backup_retention_days: u16,
    /// The daily backup window, `HH:MM-HH:MM` in UTC.
    pub backup_window: String,
    pub master_username: String,
    pub database_name: String,
    /// Take a final snapshot when the cluster is deleted.
    pub final_snapshot: bool,
    /// Performance Insights on every instance, kept 7 days (AWS's free tier) under the
    /// environment's key.
    pub performance_insights: bool,
    /// Rotation of the master password; `None` leaves it off.
    pub rotation: Option<Rotation>,
}

impl Database {
    /// The class every instance of the cluster runs on.
    pub fn instance_class(&self) -> &str {
        match &self.capacity {
            DbCapacity::Provisioned { instance_class } => instance_class,
            DbCapacity::ServerlessV2 { .. } => crate::load::SERVERLESS_CLASS,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum DbCapacity {
    Provisioned {
        instance_class: String,
    },
    /// Aurora Serverless v2: instances of class `db.serverless` scaling between these
    /// capacity units.
    ServerlessV2 {
        min_acu: f64,
        max_acu: f64,
    },
}

/// Rotation of the database password by a Lambda function that already exists; paystack
/// references it and never creates it.
#[derive(Clone, Debug, PartialEq)]
pub struct Rotation {
    pub lambda_arn: String,
    pub days: u16,
}

/// One ECS service on Fargate.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub name: String,
    pub image: String,
    /// CPU units and MiB of memory, a pair Fargate allows.
    pub cpu: u32,
    pub memory: u32,
    pub desired_count: u32,
    /// The auto-scaling range, and the average CPU it keeps the service at.
    pub min_count: u32,
    pub max_count: u32,
    pub cpu_target_percent: f64,
    /// Whether the load balancer forwards to it (at most one service is).
    pub load_balanced: bool,
    /// Its own settings for Parameter Store, name to value, beside the ones the platform
    /// writes for every service.
    pub parameters: BTreeMap<String, String>,
    /// Whether the container's root filesystem is read-only (by default it is).
    pub read_only_root_filesystem: bool,
    /// The user the container runs as; never root.
    pub user: String,
    /// The directories the image writes to, each an ephemeral task volume.
    pub writable_paths: Vec<String>,
}

/// What `drift` and `apply` leave to other owners.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Drift {
    /// Fields another owner sets: never drift, never set back by apply once the resource
    /// exists (Terraform's `ignore_changes`).
    pub ignore: Vec<IgnoredField>,
    /// `paystack drift --notify` run by the platform itself, on a schedule; `None` when off.
    pub schedule: Option<DriftSchedule>,
}

/// Drift on a schedule (`[drift.schedule]`): an EventBridge Scheduler schedule that runs
/// the paystack image as an ECS task in the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftSchedule {
    /// `rate(…)` or `cron(…)`, in Scheduler's grammar.
    pub expression: String,
    /// The paystack image (the `Dockerfile` at the root), with the configuration in it.
    pub image: String,
    /// Whether the task runs `drift --fix` rather than only reporting; never in a protected
    /// environment.
    pub fix: bool,
    /// Fargate CPU units and memory in MB.
    pub cpu: u32,
    pub memory: u32,
}

/// The compliance function (`[compliance]`): the rule set evaluated on each change CloudTrail
/// records, by a Lambda function EventBridge invokes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compliance {
    pub function: bool,
    pub memory_mb: u32,
    pub timeout_seconds: u32,
}

/// One field of one resource, as `RESOURCE.FIELD` in the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredField {
    pub resource: String,
    pub field: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Logs {
    /// How long CloudWatch keeps the services' logs.
    pub retention_days: u32,
    /// CloudWatch Container Insights on the ECS cluster.
    pub container_insights: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LoadBalancer {
    /// The domain of the ACM certificate the HTTPS listener uses; it is looked up, never
    /// created.
    pub certificate_domain: String,
    pub health_check_path: String,
    /// The HTTPS listener's security policy: one of AWS's, with TLS 1.2 at least.
    pub tls_policy: String,
}

/// The service's DNS name: alias records in a hosted zone that is looked up, never created.
#[derive(Clone, Debug, PartialEq)]
pub struct Dns {
    /// The hosted zone's name, without the final dot.
    pub zone: String,
    /// The record's first label; a stack's suffix is appended to it.
    pub label: String,
    /// Weighted records by set identifier (blue/green): traffic shifts when a weight
    /// changes. Empty for one plain alias record.
    pub weights: BTreeMap<String, u8>,
}

impl Dns {
    /// The record's full name, for a stack with `suffix`.
    pub fn record_name(&self, suffix: Option<&str>) -> String {
        match suffix {
            Some(s) => format!("{}-{s}.{}", self.label, self.zone),
            None => format!("{}.{}", self.label, self.zone),
        }
    }
}

/// Alarm thresholds; they tighten from dev to prod. Each alarm notifies the environment's
/// topic when its metric stays above the threshold for three five-minute periods (one for
/// 5xx responses).
#[derive(Clone, Debug, PartialEq)]
pub struct Alarms {
    /// Average CPU of each ECS service.
    pub ecs_cpu_percent: f64,
    /// 5xx responses from the targets behind the load balancer, per five minutes.
    pub alb_5xx_count: f64,
    /// Average target response time.
    pub target_response_seconds: f64,
    /// Average CPU of the Aurora cluster.
    pub db_cpu_percent: f64,
    /// Connections to the Aurora cluster.
    pub db_connections: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Iam {
    /// The permissions boundary every role of the environment gets, if any.
    pub permissions_boundary_arn: Option<String>,
}

/// Where alarms go: the environment's SNS topic and its email subscribers.
#[derive(Clone, Debug, PartialEq)]
pub struct Alerts {
    pub emails: Vec<String>,
}

/// How long paystack waits for AWS to finish making or deleting each slow kind before it
/// gives up (the resource stays recorded, and the next run waits again): `[waits]`, in
/// seconds. The defaults are AWS's slow-but-normal cases with room to spare.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Waits {
    pub nat_gateway: std::time::Duration,
    pub vpc_endpoint: std::time::Duration,
    pub db_cluster: std::time::Duration,
    pub db_instance: std::time::Duration,
    pub load_balancer: std::time::Duration,
    pub ecs_service: std::time::Duration,
    pub dns_change: std::time::Duration,
    pub transit_gateway_attachment: std::time::Duration,
    pub dynamodb_table: std::time::Duration,
    pub namespace: std::time::Duration,
}

impl Default for Waits {
    fn default() -> Self {
        let minutes = |m: u64| std::time::Duration::from_secs(m * 60);
        Self {
            // 1-5 minutes typically, 10 on a slow day.
            nat_gateway: minutes(20),
            // A gateway endpoint in seconds; an interface endpoint in 1-2 minutes.
            vpc_endpoint: minutes(10),
            // Aurora: a cluster in 5-20 minutes, an instance in 10-30, more on a slow day.
            db_cluster: minutes(45),
            db_instance: minutes(60),
            // An ALB in 2-3 minutes, 10 on a slow day.
            load_balancer: minutes(15),
            // A service until steady, with target deregistration's 5 minutes on deletion.
            ecs_service: minutes(30),
            // A Route 53 change reaches every name server in about a minute.
            dns_change: minutes(5),
            // A VPC attachment in 1-2 minutes, 10 on a slow day; its deletion as long.
            transit_gateway_attachment: minutes(20),
            // A table in seconds; a global-table replica in 5-30 minutes, more for a large table.
            dynamodb_table: minutes(60),
            // Cloud Map makes or deletes a private namespace (and its hosted zone) in about a
            // minute.
            namespace: minutes(10),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct StateSettings {
    pub backend: StateStore,
    /// How long a lock stays valid unless its holder renews it. A holder renews it three
    /// times per lease; a crashed holder's lock can be taken over once it lapses.
    pub lock_lease: std::time::Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StateStore {
    /// Files on this machine, for offline work.
    Local,
    /// An S3 bucket and a DynamoDB lock table per environment; `None` means the default name.
    S3 { bucket: Option<String>, lock_table: Option<String> },
}
