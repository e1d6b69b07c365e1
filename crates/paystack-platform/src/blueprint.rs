//! One environment's resources, derived from its configuration.

use std::collections::BTreeMap;

use paystack_config::{DbCapacity, Environment};
use paystack_core::naming;
use paystack_core::stack::{RESOURCE_TAG, STACK_TAG};
use paystack_core::{Expr, Fields, ResourceId, Spec, Stack, StateDocument};
use serde_json::{Value, json};

use crate::kinds::{self, KindDef};

const AURORA_ENGINE: &str = "aurora-postgresql";

/// The desired resources of one stack and the outputs it publishes.
#[derive(Debug)]
pub struct Blueprint {
    pub stack: Stack,
    pub specs: Vec<Spec>,
    /// Named outputs, as expressions over resource outputs.
    pub outputs: BTreeMap<String, Expr>,
}

impl Blueprint {
    /// The outputs, resolved against what state recorded. An output whose resources are not
    /// recorded (not applied yet, or failed) is left out.
    pub fn resolve_outputs(&self, state: &StateDocument) -> Fields {
        let lookup = |r: &paystack_core::Reference| state.resources.get(&r.resource)?.outputs.get(&r.output).cloned();
        self.outputs.iter().filter_map(|(k, e)| Some((k.clone(), e.resolve(&lookup)?))).collect()
    }

    /// The task-count range auto-scaling keeps the ECS service `service` in, if it scales.
    /// Within it, the service's live desired count is auto-scaling's to set, not drift.
    pub fn scaling_range(&self, service: &ResourceId) -> Option<(i64, i64)> {
        let scaling = self
            .specs
            .iter()
            .find(|s| s.kind == kinds::SERVICE_SCALING.kind() && s.dependencies().contains(service))?;
        let number = |key: &str| match scaling.fields.get(key)? {
            Expr::Literal(v) => v.as_i64(),
            _ => None,
        };
        Some((number("min_capacity")?, number("max_capacity")?))
    }
}

/// What the platform uses but never makes: read from AWS before planning, like a Terraform
/// data source. A value still unknown (when nothing needs AWS, as for `graph`) shows as a
/// placeholder.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lookups {
    /// The ARN of the ACM certificate for `load_balancer.certificate_domain`.
    pub certificate_arn: Option<String>,
    /// The id of the public hosted zone named `dns.zone`.
    pub hosted_zone_id: Option<String>,
}

const NOT_LOOKED_UP: &str = "(looked up when planning)";

/// Builds the specs of `env`. Every name and tag is computed here, and every dependency is a
/// reference from one spec to another's output.
pub fn blueprint(env: &Environment, lookups: &Lookups) -> Blueprint {
    let stack = Stack { env: env.name.clone(), suffix: env.suffix.clone(), region: env.region.clone() };
    let mut b = Builder { env, stack: stack.clone(), specs: Vec::new() };
    let mut outputs = BTreeMap::new();

    let vpc = b.add(
        &kinds::VPC,
        "network.vpc",
        ("network", "vpc"),
        [
            ("cidr_block", env.network.cidr.to_string().into()),
            ("enable_dns_hostnames", true.into()),
            ("enable_dns_support", true.into()),
        ],
    );
    let vpc_id = Expr::reference(&vpc, "id");
    outputs.insert("vpc_id".into(), vpc_id.clone());

    let igw = b.add(&kinds::INTERNET_GATEWAY, "network.igw", ("network", "igw"), [("vpc_id", vpc_id.clone())]);

    let zones: Vec<(String, &str)> = env
        .network
        .availability_zones
        .iter()
        .map(|az| (az.clone(), az.strip_prefix(env.region.as_str()).unwrap_or(az)))
        .collect();

    let mut public_subnets = Vec::new();
    let mut private_subnets = Vec::new();
    for (i, (az, letter)) in zones.iter().enumerate() {
        // Validation guarantees every block fits the VPC.
        let public = env.network.public_subnet(i).map(|c| c.to_string()).unwrap_or_default();
        let private = env.network.private_subnet(i).map(|c| c.to_string()).unwrap_or_default();
        for (tier, cidr, public_ip, list) in
            [("public", public, true, &mut public_subnets), ("private", private, false, &mut private_subnets)]
        {
            list.push(b.add(
                &kinds::SUBNET,
                &format!("network.subnet.{tier}.{letter}"),
                ("network", &format!("{tier}-{letter}")),
                [
                    ("vpc_id", vpc_id.clone()),
                    ("cidr_block", cidr.into()),
                    ("availability_zone", az.clone().into()),
                    ("map_public_ip_on_launch", public_ip.into()),
                ],
            ));
        }
    }
    outputs.insert("public_subnet_ids".into(), list_of(&public_subnets, "id"));
    outputs.insert("private_subnet_ids".into(), list_of(&private_subnets, "id"));

    // NAT gateways go in the first zones' public subnets; each private subnet routes through
    // the NAT of its own zone when there is one, else through the first.
    let mut nats = Vec::new();
    for (i, (_, letter)) in zones.iter().enumerate().take(env.network.nat_gateways) {
        let eip = b.add(
            &kinds::ELASTIC_IP,
            &format!("network.eip.nat-{letter}"),
            ("network", &format!("nat-{letter}-eip")),
            [],
        );
        nats.push(b.add(
            &kinds::NAT_GATEWAY,
            &format!("network.nat.{letter}"),
            ("network", &format!("nat-{letter}")),
            [("subnet_id", Expr::reference(&public_subnets[i], "id")), ("allocation_id", Expr::reference(&eip, "id"))],
        ));
    }
    outputs.insert("nat_gateway_ids".into(), list_of(&nats, "id"));

    let public_rt = b.add(
        &kinds::ROUTE_TABLE,
        "network.rt.public",
        ("network", "public-rt"),
        [
            ("vpc_id", vpc_id.clone()),
            ("routes", Expr::List(vec![route("gateway_id", Expr::reference(&igw, "id"))])),
            ("subnet_ids", list_of(&public_subnets, "id")),
        ],
    );
    let mut route_tables = vec![public_rt];
    for (i, (_, letter)) in zones.iter().enumerate() {
        let nat = nats.get(i).unwrap_or(&nats[0]);
        route_tables.push(b.add(
            &kinds::ROUTE_TABLE,
            &format!("network.rt.private.{letter}"),
            ("network", &format!("private-{letter}-rt")),
            [
                ("vpc_id", vpc_id.clone()),
                ("routes", Expr::List(vec![route("nat_gateway_id", Expr::reference(nat, "id"))])),
                ("subnet_ids", list_of(&private_subnets[i..=i], "id")),
            ],
        ));
    }

    let s3 = b.add(
        &kinds::VPC_ENDPOINT,
        "network.endpoint.s3",
        ("network", "s3-endpoint"),
        [
            ("vpc_id", vpc_id.clone()),
            ("service_name", format!("com.amazonaws.{}.s3", env.region).into()),
            ("route_table_ids", list_of(&route_tables, "id")),
        ],
    );
    outputs.insert("s3_endpoint_id".into(), Expr::reference(&s3, "id"));

    // Least privilege: the internet reaches only the load balancer, the load balancer only
    // the application port, the application only the database port.
    let sec = &env.security;
    let alb_rules = sec
        .alb_ingress_ports
        .iter()
        .map(|p| rule(*p, ("cidr_ipv4", "0.0.0.0/0".into()), &format!("port {p} from the internet")))
        .collect();
    let alb = b.security_group("alb", "Load balancer: web traffic from the internet", &vpc_id, alb_rules);
    let app = b.security_group(
        "app",
        "Application: traffic from the load balancer only",
        &vpc_id,
        vec![rule(
            sec.app_port,
            ("source_security_group_id", Expr::reference(&alb, "id")),
            "application port from the load balancer",
        )],
    );
    let db = b.security_group(
        "db",
        "Database: traffic from the application only",
        &vpc_id,
        vec![rule(
            sec.db_port,
            ("source_security_group_id", Expr::reference(&app, "id")),
            "database port from the application",
        )],
    );
    outputs.insert(
        "security_group_ids".into(),
        Expr::Map(
            [("alb", &alb), ("app", &app), ("db", &db)]
                .into_iter()
                .map(|(k, id)| (k.to_owned(), Expr::reference(id, "id")))
                .collect(),
        ),
    );

    let secret = database(&mut b, &mut outputs, &private_subnets, &db, &zones);

    let topic = b.add(
        &kinds::TOPIC,
        "alerts.topic",
        ("alerts", "topic"),
        [("subscriptions", Expr::Literal(json!(env.alerts.emails)))],
    );
    outputs.insert("sns_topic_arn".into(), Expr::reference(&topic, "arn"));

    let edge = Edge { public_subnets: &public_subnets, alb_sg: &alb, vpc_id: &vpc_id };
    let target_group = load_balancer(&mut b, &mut outputs, &edge, lookups);
    let app_tier = AppTier {
        private_subnets: &private_subnets,
        app_sg: &app,
        secret: &secret,
        topic: &topic,
        target_group: &target_group,
    };
    let services = application(&mut b, &mut outputs, &app_tier);
    alarms(&mut b, &topic, &services);

    Blueprint { stack, specs: b.specs, outputs }
}

/// The Aurora cluster, its instances and its credentials. Returns the credentials' secret.
fn database(
    b: &mut Builder<'_>,
    outputs: &mut BTreeMap<String, Expr>,
    private_subnets: &[ResourceId],
    db_sg: &ResourceId,
    zones: &[(String, &str)],
) -> ResourceId {
    let env = b.env;
    let db = &env.database;
    let subnet_group = b.add(
        &kinds::DB_SUBNET_GROUP,
        "database.subnet_group",
        ("database", "subnets"),
        [("description", "Aurora: the private subnets".into()), ("subnet_ids", list_of(private_subnets, "id"))],
    );
    // The name carries a hash of the family, which forces a replacement: a new major version
    // gets a new group beside the old one.
    let parameters = b.add(
        &kinds::DB_CLUSTER_PARAMETER_GROUP,
        "database.cluster_parameters",
        ("database", &format!("params-{}", naming::short_hash(&db.family))),
        [
            ("family", db.family.clone().into()),
            ("description", format!("Aurora PostgreSQL cluster settings for {}", env.name).into()),
            (
                "parameters",
                // Clients must use TLS, and slow statements are logged.
                Expr::Literal(json!({ "rds.force_ssl": "1", "log_min_duration_statement": "1000" })),
            ),
        ],
    );
    let secret = b.add(
        &kinds::SECRET,
        "database.secret",
        ("database", "credentials"),
        [
            ("description", format!("Aurora master credentials of {}", env.name).into()),
            ("username", db.master_username.clone().into()),
        ],
    );
    outputs.insert("db_secret_arn".into(), Expr::reference(&secret, "arn"));

    let scaling = match db.capacity {
        DbCapacity::Provisioned { .. } => Value::Null,
        DbCapacity::ServerlessV2 { min_acu, max_acu } => json!({ "min_capacity": min_acu, "max_capacity": max_acu }),
    };
    // Cluster and instance identifiers carry a hash of the values that force their
    // replacement, so a successor is created beside its predecessor (new first, as for the
    // target group) instead of colliding with its name.
    let cluster_hash = naming::short_hash(&format!("{AURORA_ENGINE}/{}/{}", db.database_name, db.master_username));
    let cluster = b.add(
        &kinds::DB_CLUSTER,
        "database.cluster",
        ("database", &format!("cluster-{cluster_hash}")),
        [
            ("engine", AURORA_ENGINE.into()),
            ("engine_version", db.engine_version.clone().into()),
            ("database_name", db.database_name.clone().into()),
            ("master_username", db.master_username.clone().into()),
            ("master_password_secret", Expr::reference(&secret, "arn")),
            ("port", Value::from(env.security.db_port).into()),
            ("db_subnet_group_name", Expr::reference(&subnet_group, "name")),
            ("vpc_security_group_ids", Expr::List(vec![Expr::reference(db_sg, "id")])),
            ("db_cluster_parameter_group_name", Expr::reference(&parameters, "name")),
            ("storage_encrypted", true.into()),
            ("backup_retention_period", Value::from(db.backup_retention_days).into()),
            ("preferred_backup_window", db.backup_window.clone().into()),
            ("serverless_v2_scaling", Expr::Literal(scaling)),
            // paystack's own guard protects production; AWS's would make destroy fail.
            ("deletion_protection", false.into()),
        ],
    );
    b.extra_tag(&cluster, kinds::FINAL_SNAPSHOT_TAG, if db.final_snapshot { "true" } else { "false" });
    outputs.insert("db_cluster_endpoint".into(), Expr::reference(&cluster, "endpoint"));
    outputs.insert("db_reader_endpoint".into(), Expr::reference(&cluster, "reader_endpoint"));

    // The writer first; readers refer to the writer's cluster id, so they start after it and
    // Aurora cannot promote one of them to writer at creation. Readers go round the zones
    // after the writer's.
    let mut writer_cluster = Expr::reference(&cluster, "id");
    for i in 0..=db.readers {
        let (role, tier) = if i == 0 { ("writer".to_owned(), 0) } else { (format!("reader-{i}"), 1) };
        let az = zones[i % zones.len()].0.clone();
        let instance_hash = naming::short_hash(&format!("{cluster_hash}/{az}"));
        let instance = b.add(
            &kinds::DB_INSTANCE,
            &format!("database.instance.{role}"),
            ("database", &format!("{role}-{instance_hash}")),
            [
                ("cluster_identifier", writer_cluster.clone()),
                ("engine", AURORA_ENGINE.into()),
                ("instance_class", db.instance_class().into()),
                ("availability_zone", az.into()),
                ("promotion_tier", Value::from(tier).into()),
            ],
        );
        if i == 0 {
            writer_cluster = Expr::reference(&instance, "cluster_identifier");
        }
    }

    if let Some(rotation) = &db.rotation {
        let connection = BTreeMap::from([
            ("engine".to_owned(), "postgres".into()),
            // Rotation is switched on once the database it changes the password of is up.
            ("host".to_owned(), Expr::reference(&cluster, "endpoint")),
            ("port".to_owned(), Value::from(env.security.db_port).into()),
            ("dbname".to_owned(), db.database_name.clone().into()),
        ]);
        b.setting(
            &kinds::SECRET_ROTATION,
            "database.secret.rotation",
            &secret,
            [
                ("secret_arn", Expr::reference(&secret, "arn")),
                ("lambda_arn", rotation.lambda_arn.clone().into()),
                ("days", Value::from(rotation.days).into()),
                ("connection", Expr::Map(connection)),
            ],
        );
    }
    secret
}

/// What the load balancer sits in.
struct Edge<'a> {
    public_subnets: &'a [ResourceId],
    alb_sg: &'a ResourceId,
    vpc_id: &'a Expr,
}

/// The internet-facing load balancer, its target group, and its two listeners: HTTP only
/// redirects to HTTPS. Returns the target group.
fn load_balancer(
    b: &mut Builder<'_>,
    outputs: &mut BTreeMap<String, Expr>,
    edge: &Edge<'_>,
    lookups: &Lookups,
) -> ResourceId {
    let env = b.env;
    let alb = b.add(
        &kinds::LOAD_BALANCER,
        "edge.alb",
        ("edge", "alb"),
        [
            ("subnet_ids", list_of(edge.public_subnets, "id")),
            ("security_group_ids", Expr::List(vec![Expr::reference(edge.alb_sg, "id")])),
        ],
    );
    outputs.insert("alb_dns_name".into(), Expr::reference(&alb, "dns_name"));
    let records = dns_records(b, &alb, lookups);
    outputs.insert("service_url".into(), Expr::reference(&records[0], "url"));
    // The name carries a hash of what forces a replacement (the port and the VPC), so the new
    // group can exist beside the old one while the listener and the service move over.
    let replaced_by = format!("{}/{}", env.security.app_port, env.network.cidr);
    let target_group = b.add(
        &kinds::TARGET_GROUP,
        "edge.target_group",
        ("edge", &format!("tg-{}", naming::short_hash(&replaced_by))),
        [
            ("port", Value::from(env.security.app_port).into()),
            ("vpc_id", edge.vpc_id.clone()),
            ("health_check_path", env.load_balancer.health_check_path.clone().into()),
        ],
    );
    let alb_arn = Expr::reference(&alb, "arn");
    b.add(
        &kinds::LISTENER,
        "edge.listener.http",
        ("edge", "http"),
        [
            ("load_balancer_arn", alb_arn.clone()),
            ("port", 80.into()),
            ("protocol", "HTTP".into()),
            ("certificate_arn", Value::Null.into()),
            ("default_action", Expr::Literal(json!({ "type": "redirect", "protocol": "HTTPS", "port": "443" }))),
        ],
    );
    let certificate = lookups.certificate_arn.clone().unwrap_or_else(|| NOT_LOOKED_UP.to_owned());
    let forward = BTreeMap::from([
        ("type".to_owned(), Expr::from("forward")),
        ("target_group_arn".to_owned(), Expr::reference(&target_group, "arn")),
    ]);
    b.add(
        &kinds::LISTENER,
        "edge.listener.https",
        ("edge", "https"),
        [
            ("load_balancer_arn", alb_arn),
            ("port", 443.into()),
            ("protocol", "HTTPS".into()),
            ("certificate_arn", certificate.into()),
            ("default_action", Expr::Map(forward)),
        ],
    );
    target_group
}

/// The service's name in the looked-up zone: one alias record to the load balancer, or one
/// weighted alias record per set identifier (blue/green). Returns them, at least one.
fn dns_records(b: &mut Builder<'_>, alb: &ResourceId, lookups: &Lookups) -> Vec<ResourceId> {
    let dns = &b.env.dns;
    let name = dns.record_name(b.env.suffix.as_deref());
    let zone_id = lookups.hosted_zone_id.clone().unwrap_or_else(|| NOT_LOOKED_UP.to_owned());
    let alias_target = Expr::Map(BTreeMap::from([
        ("dns_name".to_owned(), Expr::reference(alb, "dns_name")),
        ("hosted_zone_id".to_owned(), Expr::reference(alb, "zone_id")),
        ("evaluate_target_health".to_owned(), true.into()),
    ]));
    // A suffixed stack's set identifiers carry its suffix, like every other name of it. (The
    // emulator deletes a weighted record by set identifier alone, whatever its name, so this
    // also keeps one stack's delete off another's records there.)
    let weighted: Vec<(String, Option<(String, u8)>)> = if dns.weights.is_empty() {
        vec![("edge.dns".to_owned(), None)]
    } else {
        let set_identifier = |set: &str| match &b.env.suffix {
            Some(suffix) => format!("{set}-{suffix}"),
            None => set.to_owned(),
        };
        dns.weights.iter().map(|(set, w)| (format!("edge.dns.{set}"), Some((set_identifier(set), *w)))).collect()
    };
    let mut records = Vec::new();
    for (id, weight) in weighted {
        // Weighted records share their name; each is shown with its set identifier.
        let shown = weight.as_ref().map_or_else(|| name.clone(), |(set, _)| format!("{name}/{set}"));
        let (set_identifier, weight) = weight.map_or((Value::Null, Value::Null), |(s, w)| (s.into(), w.into()));
        let owner = kinds::dns_owner_name(&b.stack.key(), &id, &dns.zone);
        records.push(b.untagged(
            &kinds::DNS_RECORD,
            &id,
            shown,
            [
                ("zone_id", zone_id.clone().into()),
                ("name", name.clone().into()),
                ("set_identifier", set_identifier.into()),
                ("weight", weight.into()),
                ("alias_target", alias_target.clone()),
                ("owner_name", owner.into()),
            ],
        ));
    }
    records
}

/// What the services use from the rest of the platform.
struct AppTier<'a> {
    private_subnets: &'a [ResourceId],
    app_sg: &'a ResourceId,
    secret: &'a ResourceId,
    topic: &'a ResourceId,
    target_group: &'a ResourceId,
}

/// The container name in every task definition: one container per task.
const CONTAINER: &str = "app";
/// The environment variable a container reads the database credentials from.
const DB_CREDENTIALS_VARIABLE: &str = "DATABASE_CREDENTIALS";

/// The ECS cluster and, per service, its log group, roles, task definition, service and
/// auto-scaling. Returns the cluster and each service.
fn application(b: &mut Builder<'_>, outputs: &mut BTreeMap<String, Expr>, tier: &AppTier<'_>) -> AppServices {
    let env = b.env;
    let cluster = b.add(
        &kinds::ECS_CLUSTER,
        "app.cluster",
        ("app", "cluster"),
        [("container_insights", env.logs.container_insights.into())],
    );
    outputs.insert("ecs_cluster_arn".into(), Expr::reference(&cluster, "arn"));
    let boundary = env.iam.permissions_boundary_arn.clone().map_or(Value::Null, Value::from);
    let role_path = kinds::role_path(&b.stack.key());
    let mut service_arns = BTreeMap::new();
    let mut ecs_services = Vec::new();
    for service in &env.services {
        let svc = service.name.as_str();
        let logs = b.add(
            &kinds::LOG_GROUP,
            &format!("app.{svc}.logs"),
            ("app", &format!("{svc}-logs")),
            [("retention_in_days", Value::from(env.logs.retention_days).into())],
        );
        // ECS pulls the image, writes the logs and reads the secret with the execution role;
        // the application itself runs with the task role, which may only alert.
        let execution = b.add(
            &kinds::IAM_ROLE,
            &format!("app.{svc}.execution_role"),
            ("app", &format!("{svc}-exec-role")),
            [
                ("path", role_path.clone().into()),
                ("assume_role_policy", ecs_tasks_may_assume()),
                (
                    "policy",
                    policy(
                        &env.region,
                        vec![
                            statement(
                                &["logs:CreateLogStream", "logs:PutLogEvents"],
                                vec![Expr::reference(&logs, "arn"), Expr::reference(&logs, "streams_arn")],
                            ),
                            statement(&["secretsmanager:GetSecretValue"], vec![Expr::reference(tier.secret, "arn")]),
                        ],
                    ),
                ),
                ("permissions_boundary", boundary.clone().into()),
            ],
        );
        let task_role = b.add(
            &kinds::IAM_ROLE,
            &format!("app.{svc}.task_role"),
            ("app", &format!("{svc}-task-role")),
            [
                ("path", role_path.clone().into()),
                ("assume_role_policy", ecs_tasks_may_assume()),
                (
                    "policy",
                    policy(&env.region, vec![statement(&["sns:Publish"], vec![Expr::reference(tier.topic, "arn")])]),
                ),
                ("permissions_boundary", boundary.clone().into()),
            ],
        );
        let port = if service.load_balanced { Value::from(env.security.app_port) } else { Value::Null };
        let container = BTreeMap::from([
            ("name".to_owned(), Expr::from(CONTAINER)),
            ("image".to_owned(), service.image.clone().into()),
            ("port".to_owned(), port.clone().into()),
            ("log_group".to_owned(), Expr::reference(&logs, "name")),
            ("region".to_owned(), env.region.clone().into()),
            (
                "secrets".to_owned(),
                Expr::Map(BTreeMap::from([(DB_CREDENTIALS_VARIABLE.to_owned(), Expr::reference(tier.secret, "arn"))])),
            ),
        ]);
        let task = b.add(
            &kinds::TASK_DEFINITION,
            &format!("app.{svc}.task"),
            ("app", &format!("{svc}-task")),
            [
                ("cpu", service.cpu.to_string().into()),
                ("memory", service.memory.to_string().into()),
                ("execution_role_arn", Expr::reference(&execution, "arn")),
                ("task_role_arn", Expr::reference(&task_role, "arn")),
                ("container", Expr::Map(container)),
            ],
        );
        let load_balancer = if service.load_balanced {
            Expr::Map(BTreeMap::from([
                ("target_group_arn".to_owned(), Expr::reference(tier.target_group, "arn")),
                ("container_name".to_owned(), CONTAINER.into()),
                ("container_port".to_owned(), port.into()),
            ]))
        } else {
            Value::Null.into()
        };
        let ecs_service = b.add(
            &kinds::ECS_SERVICE,
            &format!("app.{svc}.service"),
            ("app", svc),
            [
                ("cluster", Expr::reference(&cluster, "arn")),
                ("task_definition", Expr::reference(&task, "arn")),
                ("desired_count", Value::from(service.desired_count).into()),
                ("subnet_ids", list_of(tier.private_subnets, "id")),
                ("security_group_ids", Expr::List(vec![Expr::reference(tier.app_sg, "id")])),
                ("load_balancer", load_balancer),
            ],
        );
        service_arns.insert(svc.to_owned(), Expr::reference(&ecs_service, "arn"));
        ecs_services.push((svc.to_owned(), ecs_service.clone()));
        let scaling_id = format!("app.{svc}.scaling");
        b.setting(
            &kinds::SERVICE_SCALING,
            &scaling_id,
            &ecs_service,
            [
                ("policy_name", kinds::scaling_policy_name(&b.stack.key(), &scaling_id).into()),
                ("resource_id", Expr::reference(&ecs_service, "scaling_resource_id")),
                ("min_capacity", Value::from(service.min_count).into()),
                ("max_capacity", Value::from(service.max_count).into()),
                ("cpu_target_percent", Value::from(service.cpu_target_percent).into()),
            ],
        );
    }
    outputs.insert("ecs_service_arns".into(), Expr::Map(service_arns));
    AppServices { cluster, services: ecs_services }
}

/// What the alarms watch.
struct AppServices {
    cluster: ResourceId,
    services: Vec<(String, ResourceId)>,
}

/// The alarms, each notifying the environment's topic, with the environment's thresholds.
fn alarms(b: &mut Builder<'_>, topic: &ResourceId, app: &AppServices) {
    let a = &b.env.alarms;
    let notify = Expr::List(vec![Expr::reference(topic, "arn")]);
    let alb = ResourceId::new("edge.alb");
    let cluster = ResourceId::new("database.cluster");
    let mut watched = vec![
        (
            "edge.5xx".to_owned(),
            "alb-5xx".to_owned(),
            ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum", 1, a.alb_5xx_count),
            BTreeMap::from([("LoadBalancer".to_owned(), Expr::reference(&alb, "arn_suffix"))]),
        ),
        (
            "edge.response_time".to_owned(),
            "alb-response-time".to_owned(),
            ("AWS/ApplicationELB", "TargetResponseTime", "Average", 3, a.target_response_seconds),
            BTreeMap::from([("LoadBalancer".to_owned(), Expr::reference(&alb, "arn_suffix"))]),
        ),
        (
            "database.cpu".to_owned(),
            "db-cpu".to_owned(),
            ("AWS/RDS", "CPUUtilization", "Average", 3, a.db_cpu_percent),
            BTreeMap::from([("DBClusterIdentifier".to_owned(), Expr::reference(&cluster, "id"))]),
        ),
        (
            "database.connections".to_owned(),
            "db-connections".to_owned(),
            ("AWS/RDS", "DatabaseConnections", "Average", 3, a.db_connections),
            BTreeMap::from([("DBClusterIdentifier".to_owned(), Expr::reference(&cluster, "id"))]),
        ),
    ];
    for (svc, service) in &app.services {
        watched.push((
            format!("app.{svc}.cpu"),
            format!("{svc}-cpu"),
            ("AWS/ECS", "CPUUtilization", "Average", 3, a.ecs_cpu_percent),
            BTreeMap::from([
                ("ClusterName".to_owned(), Expr::reference(&app.cluster, "name")),
                ("ServiceName".to_owned(), Expr::reference(service, "name")),
            ]),
        ));
    }
    for (what, resource, (namespace, metric, statistic, periods, threshold), dimensions) in watched {
        b.add(
            &kinds::ALARM,
            &format!("alarms.{what}"),
            ("alarms", &resource),
            [
                ("namespace", namespace.into()),
                ("metric_name", metric.into()),
                ("dimensions", Expr::Map(dimensions)),
                ("statistic", statistic.into()),
                ("period", 300.into()),
                ("evaluation_periods", periods.into()),
                ("threshold", threshold.into()),
                ("comparison_operator", "GreaterThanThreshold".into()),
                ("alarm_actions", notify.clone()),
            ],
        );
    }
}

/// The trust policy that lets ECS tasks take a role.
fn ecs_tasks_may_assume() -> Expr {
    Expr::Literal(json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "ecs-tasks.amazonaws.com" },
            "Action": "sts:AssumeRole",
        }],
    }))
}

/// A policy document whose every statement is held to the environment's region.
fn policy(region: &str, statements: Vec<BTreeMap<String, Expr>>) -> Expr {
    let condition = json!({ "StringEquals": { "aws:RequestedRegion": region } });
    let statements = statements
        .into_iter()
        .map(|mut s| {
            s.insert("Condition".to_owned(), Expr::Literal(condition.clone()));
            Expr::Map(s)
        })
        .collect();
    Expr::Map(BTreeMap::from([
        ("Version".to_owned(), "2012-10-17".into()),
        ("Statement".to_owned(), Expr::List(statements)),
    ]))
}

/// An `Allow` of `actions` on exactly `resources`: never a wildcard.
fn statement(actions: &[&str], resources: Vec<Expr>) -> BTreeMap<String, Expr> {
    BTreeMap::from([
        ("Effect".to_owned(), "Allow".into()),
        ("Action".to_owned(), Expr::Literal(json!(actions))),
        ("Resource".to_owned(), Expr::List(resources)),
    ])
}

struct Builder<'a> {
    env: &'a Environment,
    stack: Stack,
    specs: Vec<Spec>,
}

/// The five tags the organisation requires on everything, the state bucket and lock table
/// included.
pub fn required_tags(env: &Environment) -> Vec<(&'static str, String)> {
    vec![
        ("Environment", env.name.clone()),
        ("Project", env.project.clone()),
        ("ManagedBy", "paystack".to_owned()),
        ("Application", env.tags.application.clone()),
        ("CostCenter", env.tags.cost_center.clone()),
    ]
}

impl Builder<'_> {
    fn name(&self, service: &str, resource: &str) -> String {
        naming::compose(&self.env.name, &self.env.region, service, resource, self.env.suffix.as_deref())
    }

    /// The tags every resource carries: the five the organisation requires, its name, and
    /// the two ownership tags by which paystack finds it again.
    fn tags(&self, id: &str, name: &str) -> Expr {
        let mut tags: serde_json::Map<String, Value> =
            required_tags(self.env).into_iter().map(|(k, v)| (k.to_owned(), json!(v))).collect();
        tags.insert("Name".into(), json!(name));
        tags.insert(STACK_TAG.into(), json!(self.stack.key()));
        tags.insert(RESOURCE_TAG.into(), json!(id));
        Expr::Literal(Value::Object(tags))
    }

    fn add<const N: usize>(
        &mut self,
        kind: &KindDef,
        id: &str,
        (service, resource): (&str, &str),
        fields: [(&str, Expr); N],
    ) -> ResourceId {
        // A kind AWS knows by a name gets it as a field, fitted to AWS's limit; the others
        // carry it only as their `Name` tag.
        let name = match kind.name_field {
            Some((_, max)) => naming::fit(&self.name(service, resource), max),
            None => self.name(service, resource),
        };
        let mut spec = Spec::new(ResourceId::new(id), &kind.kind(), name.clone()).field("tags", self.tags(id, &name));
        if let Some((field, _)) = kind.name_field {
            spec = spec.field(field, name.as_str());
        }
        for (k, v) in fields {
            spec = spec.field(k, v);
        }
        self.specs.push(spec);
        ResourceId::new(id)
    }

    /// A setting of another resource that the engine plans on its own: it takes no tags, and
    /// is shown under the name of the resource it sets.
    fn setting<const N: usize>(
        &mut self,
        kind: &KindDef,
        id: &str,
        of: &ResourceId,
        fields: [(&str, Expr); N],
    ) -> ResourceId {
        let of_name = self.specs.iter().find(|s| &s.id == of).map(|s| s.name.clone()).unwrap_or_default();
        self.untagged(kind, id, of_name, fields)
    }

    /// A resource AWS keeps no tags on, shown as `name`.
    fn untagged<const N: usize>(
        &mut self,
        kind: &KindDef,
        id: &str,
        name: String,
        fields: [(&str, Expr); N],
    ) -> ResourceId {
        let mut spec = Spec::new(ResourceId::new(id), &kind.kind(), name);
        for (k, v) in fields {
            spec = spec.field(k, v);
        }
        self.specs.push(spec);
        ResourceId::new(id)
    }

    /// Adds a tag the organisation does not require, such as a setting a delete must see.
    fn extra_tag(&mut self, id: &ResourceId, key: &str, value: &str) {
        if let Some(Expr::Literal(Value::Object(tags))) =
            self.specs.iter_mut().find(|s| &s.id == id).and_then(|s| s.fields.get_mut("tags"))
        {
            tags.insert(key.to_owned(), json!(value));
        }
    }

    fn security_group(&mut self, role: &str, description: &str, vpc_id: &Expr, ingress: Vec<Expr>) -> ResourceId {
        let group_name = self.name("security", &format!("{role}-sg"));
        self.add(
            &kinds::SECURITY_GROUP,
            &format!("security.sg.{role}"),
            ("security", &format!("{role}-sg")),
            [
                ("vpc_id", vpc_id.clone()),
                ("group_name", group_name.into()),
                ("description", description.into()),
                ("ingress", Expr::List(ingress)),
            ],
        )
    }
}

fn list_of(ids: &[ResourceId], output: &str) -> Expr {
    Expr::List(ids.iter().map(|id| Expr::reference(id, output)).collect())
}

fn route(target_field: &str, target: Expr) -> Expr {
    Expr::Map(BTreeMap::from([
        ("destination_cidr_block".to_owned(), "0.0.0.0/0".into()),
        (target_field.to_owned(), target),
    ]))
}

fn rule(port: u16, source: (&str, Expr), description: &str) -> Expr {
    Expr::Map(BTreeMap::from([
        ("protocol".to_owned(), "tcp".into()),
        ("from_port".to_owned(), Value::from(port).into()),
        ("to_port".to_owned(), Value::from(port).into()),
        (source.0.to_owned(), source.1),
        ("description".to_owned(), description.into()),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use paystack_config::{
        Alarms, Alerts, Database, Dns, Iam, Ipv4Cidr, LoadBalancer, Logs, Network, Security, Service, StateSettings,
        StateStore, Tags,
    };

    fn env(name: &str, cidr: &str, nats: usize) -> Environment {
        Environment {
            name: name.into(),
            project: "paystack".into(),
            region: "us-east-1".into(),
            suffix: None,
            protected: false,
            tags: Tags { application: "payments".into(), cost_center: "cc-1".into() },
            network: Network {
                cidr: cidr.parse::<Ipv4Cidr>().unwrap(),
                availability_zones: vec!["us-east-1a".into(), "us-east-1b".into(), "us-east-1c".into()],
                nat_gateways: nats,
                subnet_newbits: 4,
            },
            security: Security { alb_ingress_ports: vec![80, 443], app_port: 8080, db_port: 5432 },
            database: Database {
                engine_version: "16.4".into(),
                family: "aurora-postgresql16".into(),
                capacity: DbCapacity::Provisioned { instance_class: "db.t3.medium".into() },
                readers: nats - 1,
                backup_retention_days: 7,
                backup_window: "03:00-04:00".into(),
                master_username: "paystack".into(),
                database_name: "payments".into(),
                final_snapshot: false,
                rotation: None,
            },
            alerts: Alerts { emails: vec!["oncall@example.com".into()] },
            services: ["payments-api", "worker"]
                .into_iter()
                .map(|name| Service {
                    name: name.into(),
                    image: "nginx:1.27".into(),
                    cpu: 256,
                    memory: 512,
                    desired_count: 1,
                    min_count: 1,
                    max_count: 2,
                    cpu_target_percent: 70.0,
                    load_balanced: name == "payments-api",
                })
                .collect(),
            logs: Logs { retention_days: 7, container_insights: false },
            load_balancer: LoadBalancer {
                certificate_domain: "*.payments.example.com".into(),
                health_check_path: "/health".into(),
            },
            dns: Dns { zone: "payments.example.com".into(), label: name.into(), weights: BTreeMap::new() },
            iam: Iam { permissions_boundary_arn: None },
            alarms: Alarms {
                ecs_cpu_percent: 90.0,
                alb_5xx_count: 50.0,
                target_response_seconds: 3.0,
                db_cpu_percent: 90.0,
                db_connections: 400.0,
            },
            drift: Default::default(),
            state: StateSettings { backend: StateStore::Local, lock_lease: std::time::Duration::from_secs(30) },
        }
    }

    fn ids(b: &Blueprint) -> Vec<&str> {
        b.specs.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn environments_share_one_structure() {
        let dev = blueprint(&env("dev", "10.0.0.0/16", 1), &Lookups::default());
        let prod = blueprint(&env("prod", "10.2.0.0/16", 3), &Lookups::default());
        // Only the counts of what scales with the environment differ.
        let scaled = |i: &str| i.contains(".nat") || i.starts_with("database.instance.reader");
        let shared = |b: &Blueprint| ids(b).into_iter().filter(|i| !scaled(i)).map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(shared(&dev), shared(&prod));
        assert_eq!(ids(&dev).iter().filter(|i| i.starts_with("network.nat.")).count(), 1);
        assert_eq!(ids(&prod).iter().filter(|i| i.starts_with("network.nat.")).count(), 3);
        assert_eq!(ids(&prod).iter().filter(|i| i.starts_with("database.instance.reader")).count(), 2);
        assert_eq!(dev.specs.len(), 48);
    }

    #[test]
    fn names_tags_and_cidrs_follow_the_environment() {
        let mut e = env("staging", "10.1.0.0/16", 1);
        e.suffix = Some("blue".into());
        let b = blueprint(&e, &Lookups::default());
        let subnet = b.specs.iter().find(|s| s.id.as_str() == "network.subnet.private.b").unwrap();
        assert_eq!(subnet.name, "staging-us-east-1-network-private-b-blue");
        assert_eq!(subnet.fields["cidr_block"], Expr::from("10.1.144.0/20"));
        assert_eq!(subnet.fields["availability_zone"], Expr::from("us-east-1b"));
        let Expr::Literal(tags) = &subnet.fields["tags"] else { panic!() };
        for key in ["Environment", "Project", "ManagedBy", "Application", "CostCenter"] {
            assert!(tags.get(key).is_some(), "missing tag {key}");
        }
        assert_eq!(tags[STACK_TAG], "staging-blue");
        assert_eq!(tags[RESOURCE_TAG], "network.subnet.private.b");
    }

    #[test]
    fn security_groups_chain_least_privilege() {
        let b = blueprint(&env("dev", "10.0.0.0/16", 1), &Lookups::default());
        let sg = |role: &str| b.specs.iter().find(|s| s.id.as_str() == format!("security.sg.{role}")).unwrap();
        assert_eq!(sg("app").dependencies(), [ResourceId::new("network.vpc"), ResourceId::new("security.sg.alb")]);
        assert_eq!(sg("db").dependencies(), [ResourceId::new("network.vpc"), ResourceId::new("security.sg.app")]);
        let Expr::List(rules) = &sg("alb").fields["ingress"] else { panic!() };
        assert_eq!(rules.len(), 2);
    }

    #[test]
    fn private_subnets_route_through_their_zones_nat() {
        let b = blueprint(&env("prod", "10.2.0.0/16", 3), &Lookups::default());
        let rt = b.specs.iter().find(|s| s.id.as_str() == "network.rt.private.c").unwrap();
        assert!(rt.dependencies().contains(&ResourceId::new("network.nat.c")));
        let dev = blueprint(&env("dev", "10.0.0.0/16", 1), &Lookups::default());
        let rt = dev.specs.iter().find(|s| s.id.as_str() == "network.rt.private.c").unwrap();
        assert!(rt.dependencies().contains(&ResourceId::new("network.nat.a")));
    }

    #[test]
    fn readers_wait_for_the_writer_and_spread_across_zones() {
        let b = blueprint(&env("prod", "10.2.0.0/16", 3), &Lookups::default());
        let spec = |id: &str| b.specs.iter().find(|s| s.id.as_str() == id).unwrap();
        assert_eq!(spec("database.instance.writer").dependencies(), [ResourceId::new("database.cluster")]);
        let reader = spec("database.instance.reader-2");
        assert_eq!(reader.dependencies(), [ResourceId::new("database.instance.writer")]);
        assert_eq!(reader.fields["availability_zone"], Expr::from("us-east-1c"));
        let Expr::Literal(Value::String(identifier)) = &reader.fields["identifier"] else { panic!() };
        assert!(identifier.starts_with("prod-us-east-1-database-reader-2-"), "{identifier}");

        // What forces a replacement changes the identifiers, so the successors never collide
        // with the originals; what changes in place leaves them.
        let identifiers = |e: &Environment| {
            let b = blueprint(e, &Lookups::default());
            let of = |id: &str| b.specs.iter().find(|s| s.id.as_str() == id).unwrap().fields["identifier"].clone();
            (of("database.cluster"), of("database.instance.writer"))
        };
        let mut e = env("prod", "10.2.0.0/16", 3);
        let before = identifiers(&e);
        e.database.backup_retention_days = 30;
        assert_eq!(identifiers(&e), before);
        e.database.master_username = "payments".into();
        let after = identifiers(&e);
        assert!(after.0 != before.0 && after.1 != before.1, "{before:?} {after:?}");
    }

    #[test]
    fn the_password_is_referred_to_never_held() {
        let b = blueprint(&env("dev", "10.0.0.0/16", 1), &Lookups::default());
        let cluster = b.specs.iter().find(|s| s.id.as_str() == "database.cluster").unwrap();
        assert_eq!(
            cluster.fields["master_password_secret"],
            Expr::reference(&ResourceId::new("database.secret"), "arn")
        );
        assert_eq!(cluster.fields["storage_encrypted"], Expr::from(true));
        assert_eq!(cluster.fields["deletion_protection"], Expr::from(false));
        for spec in &b.specs {
            assert!(
                !spec.fields.keys().any(|k| k.contains("password") && k != "master_password_secret"),
                "{}",
                spec.id
            );
        }
    }

    #[test]
    fn names_aws_caps_are_fitted_deterministically() {
        let mut e = env("staging", "10.1.0.0/16", 1);
        e.suffix = Some("a-much-longer-suffix-than-usual".into());
        let b = blueprint(&e, &Lookups::default());
        let rds: Vec<&Spec> = b.specs.iter().filter(|s| s.kind.as_str().starts_with("rds.")).collect();
        assert!(rds.iter().all(|s| s.name.len() <= 63), "{:?}", rds.iter().map(|s| &s.name).collect::<Vec<_>>());
        let params = b.specs.iter().find(|s| s.id.as_str() == "database.cluster_parameters").unwrap();
        assert!(!params.name.ends_with("than-usual"), "{} was shortened", params.name);
        assert_eq!(params.fields["name"], Expr::from(params.name.as_str()), "the name field is the fitted name");
        assert_eq!(blueprint(&e, &Lookups::default()).specs, b.specs);
    }

    #[test]
    fn rotation_is_set_only_where_configured_and_only_once_the_database_is_up() {
        assert!(
            !ids(&blueprint(&env("dev", "10.0.0.0/16", 1), &Lookups::default())).contains(&"database.secret.rotation")
        );
        let mut prod = env("prod", "10.2.0.0/16", 3);
        prod.database.rotation = Some(paystack_config::Rotation {
            lambda_arn: "arn:aws:lambda:us-east-1:123456789012:function:rotate".into(),
            days: 30,
        });
        let b = blueprint(&prod, &Lookups::default());
        let rotation = b.specs.iter().find(|s| s.id.as_str() == "database.secret.rotation").unwrap();
        assert_eq!(rotation.dependencies(), [ResourceId::new("database.cluster"), ResourceId::new("database.secret")]);
        assert!(!rotation.fields.contains_key("tags"));
        assert_eq!(rotation.fields["days"], Expr::from(30));
    }

    /// Every statement of every policy paystack writes: scoped to resources it names, held to
    /// the environment's region, never a wildcard action.
    #[test]
    fn iam_policies_are_least_privilege() {
        let mut e = env("staging", "10.1.0.0/16", 3);
        e.iam.permissions_boundary_arn = Some("arn:aws:iam::123456789012:policy/boundary".into());
        let b = blueprint(&e, &Lookups::default());
        let roles: Vec<&Spec> = b.specs.iter().filter(|s| s.kind.as_str() == "iam.role").collect();
        assert_eq!(roles.len(), 4, "an execution role and a task role per service");
        for role in roles {
            assert_eq!(role.fields["permissions_boundary"], Expr::from("arn:aws:iam::123456789012:policy/boundary"));
            assert!(role.name.len() <= 64, "{}", role.name);
            let Expr::Map(policy) = &role.fields["policy"] else { panic!("{}: policy is not a document", role.id) };
            let Expr::List(statements) = &policy["Statement"] else { panic!() };
            assert!(!statements.is_empty());
            for statement in statements {
                let Expr::Map(st) = statement else { panic!() };
                assert_eq!(st["Effect"], Expr::from("Allow"));
                let Expr::Literal(actions) = &st["Action"] else { panic!() };
                for action in actions.as_array().unwrap() {
                    let action = action.as_str().unwrap();
                    assert!(action != "*" && !action.ends_with(":*"), "{}: action {action}", role.id);
                }
                let Expr::List(resources) = &st["Resource"] else { panic!("{}: no resource list", role.id) };
                assert!(!resources.is_empty());
                for resource in resources {
                    // Each resource is one of the environment's own, by reference to it.
                    assert!(matches!(resource, Expr::Ref(_)), "{}: resource {resource:?}", role.id);
                }
                assert_eq!(
                    st["Condition"],
                    Expr::Literal(json!({ "StringEquals": { "aws:RequestedRegion": "us-east-1" } })),
                    "{}",
                    role.id
                );
            }
        }
    }

    #[test]
    fn services_run_privately_behind_the_load_balancer_and_scale_on_cpu() {
        let b = blueprint(
            &env("dev", "10.0.0.0/16", 1),
            &Lookups { certificate_arn: Some("arn:cert".into()), ..Lookups::default() },
        );
        let spec = |id: &str| b.specs.iter().find(|s| s.id.as_str() == id).unwrap_or_else(|| panic!("{id}"));
        let api = spec("app.payments-api.service");
        assert!(api.dependencies().contains(&ResourceId::new("edge.target_group")));
        assert!(api.dependencies().contains(&ResourceId::new("network.subnet.private.a")));
        assert_eq!(spec("app.worker.service").fields["load_balancer"], Expr::from(Value::Null));
        let https = spec("edge.listener.https");
        assert_eq!(https.fields["certificate_arn"], Expr::from("arn:cert"), "the certificate is looked up");
        let scaling = spec("app.worker.scaling");
        assert_eq!(scaling.dependencies(), [ResourceId::new("app.worker.service")]);
        assert_eq!(scaling.fields["max_capacity"], Expr::from(2));
        let Expr::Map(container) = &spec("app.payments-api.task").fields["container"] else { panic!() };
        let Expr::Map(secrets) = &container["secrets"] else { panic!() };
        assert_eq!(secrets["DATABASE_CREDENTIALS"], Expr::reference(&ResourceId::new("database.secret"), "arn"));
        for id in ["edge.alb", "edge.target_group"] {
            assert!(spec(id).name.len() <= 32, "{}", spec(id).name);
        }
    }

    #[test]
    fn every_name_is_used_once() {
        let b = blueprint(&env("prod", "10.2.0.0/16", 3), &Lookups::default());
        let mut names: Vec<&str> =
            b.specs.iter().filter(|s| s.fields.contains_key("tags")).map(|s| s.name.as_str()).collect();
        let total = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), total, "two resources share a name");
    }

    #[test]
    fn the_service_name_aliases_the_load_balancer_plainly_or_weighted() {
        let lookups = Lookups { hosted_zone_id: Some("Z1".into()), ..Lookups::default() };
        let mut dev = env("dev", "10.0.0.0/16", 1);
        dev.suffix = Some("pr7".into());
        let b = blueprint(&dev, &lookups);
        let records: Vec<&Spec> = b.specs.iter().filter(|s| s.kind == kinds::DNS_RECORD.kind()).collect();
        assert_eq!(records.len(), 1);
        let record = records[0];
        assert_eq!(record.fields["name"], Expr::from("dev-pr7.payments.example.com"));
        assert_eq!(record.fields["zone_id"], Expr::from("Z1"), "the zone is looked up");
        assert_eq!(record.fields["set_identifier"], Expr::from(Value::Null));
        assert_eq!(record.fields["owner_name"], Expr::from("edge-dns.dev-pr7._paystack.payments.example.com"));
        assert_eq!(record.dependencies(), [ResourceId::new("edge.alb")]);
        assert_eq!(b.outputs["service_url"], Expr::reference(&record.id, "url"));

        let mut prod = env("prod", "10.2.0.0/16", 3);
        prod.dns.label = "api".into();
        prod.dns.weights = BTreeMap::from([("blue".into(), 100), ("green".into(), 0)]);
        let b = blueprint(&prod, &lookups);
        let records: Vec<(&str, &Expr, &Expr)> = b
            .specs
            .iter()
            .filter(|s| s.kind == kinds::DNS_RECORD.kind())
            .map(|s| (s.id.as_str(), &s.fields["set_identifier"], &s.fields["weight"]))
            .collect();
        assert_eq!(
            records,
            [
                ("edge.dns.blue", &Expr::from("blue"), &Expr::from(100)),
                ("edge.dns.green", &Expr::from("green"), &Expr::from(0)),
            ]
        );
        prod.suffix = Some("pr7".into());
        let b = blueprint(&prod, &lookups);
        let blue = b.specs.iter().find(|s| s.id.as_str() == "edge.dns.blue").unwrap();
        assert_eq!(blue.fields["set_identifier"], Expr::from("blue-pr7"), "the suffix goes on every name");
    }

    #[test]
    fn a_scaled_services_range_is_known() {
        let b = blueprint(&env("dev", "10.0.0.0/16", 1), &Lookups::default());
        assert_eq!(b.scaling_range(&ResourceId::new("app.worker.service")), Some((1, 2)));
        assert_eq!(b.scaling_range(&ResourceId::new("edge.alb")), None);
    }

    #[test]
    fn every_kind_placed_is_listed_in_all() {
        let b = blueprint(&env("prod", "10.2.0.0/16", 3), &Lookups { hosted_zone_id: None, certificate_arn: None });
        for spec in &b.specs {
            assert!(kinds::ALL.iter().any(|k| k.kind() == spec.kind), "{} is missing from kinds::ALL", spec.kind);
        }
    }
}
