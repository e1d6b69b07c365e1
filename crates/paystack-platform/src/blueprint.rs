//! One environment's resources, derived from its configuration.

use std::collections::BTreeMap;

use paystack_config::Environment;
use paystack_core::naming;
use paystack_core::stack::{RESOURCE_TAG, STACK_TAG};
use paystack_core::{Expr, Fields, ResourceId, Spec, Stack, StateDocument};
use serde_json::{Value, json};

use crate::kinds::{self, KindDef};

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
}

/// Builds the specs of `env`. Every name and tag is computed here, and every dependency is a
/// reference from one spec to another's output.
pub fn blueprint(env: &Environment) -> Blueprint {
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

    Blueprint { stack, specs: b.specs, outputs }
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
        let name = self.name(service, resource);
        let mut spec = Spec::new(ResourceId::new(id), &kind.kind(), name.clone()).field("tags", self.tags(id, &name));
        for (k, v) in fields {
            spec = spec.field(k, v);
        }
        self.specs.push(spec);
        ResourceId::new(id)
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
    use paystack_config::{Ipv4Cidr, Network, Security, StateSettings, StateStore, Tags};

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
            state: StateSettings { backend: StateStore::Local, lock_lease: std::time::Duration::from_secs(30) },
        }
    }

    fn ids(b: &Blueprint) -> Vec<&str> {
        b.specs.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn environments_share_one_structure() {
        let dev = blueprint(&env("dev", "10.0.0.0/16", 1));
        let prod = blueprint(&env("prod", "10.2.0.0/16", 3));
        let only_nat =
            |b: &Blueprint| ids(b).into_iter().filter(|i| !i.contains(".nat")).map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(only_nat(&dev), only_nat(&prod));
        assert_eq!(ids(&dev).iter().filter(|i| i.starts_with("network.nat.")).count(), 1);
        assert_eq!(ids(&prod).iter().filter(|i| i.starts_with("network.nat.")).count(), 3);
        assert_eq!(dev.specs.len(), 18);
    }

    #[test]
    fn names_tags_and_cidrs_follow_the_environment() {
        let mut e = env("staging", "10.1.0.0/16", 1);
        e.suffix = Some("blue".into());
        let b = blueprint(&e);
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
        let b = blueprint(&env("dev", "10.0.0.0/16", 1));
        let sg = |role: &str| b.specs.iter().find(|s| s.id.as_str() == format!("security.sg.{role}")).unwrap();
        assert_eq!(sg("app").dependencies(), [ResourceId::new("network.vpc"), ResourceId::new("security.sg.alb")]);
        assert_eq!(sg("db").dependencies(), [ResourceId::new("network.vpc"), ResourceId::new("security.sg.app")]);
        let Expr::List(rules) = &sg("alb").fields["ingress"] else { panic!() };
        assert_eq!(rules.len(), 2);
    }

    #[test]
    fn private_subnets_route_through_their_zones_nat() {
        let b = blueprint(&env("prod", "10.2.0.0/16", 3));
        let rt = b.specs.iter().find(|s| s.id.as_str() == "network.rt.private.c").unwrap();
        assert!(rt.dependencies().contains(&ResourceId::new("network.nat.c")));
        let dev = blueprint(&env("dev", "10.0.0.0/16", 1));
        let rt = dev.specs.iter().find(|s| s.id.as_str() == "network.rt.private.c").unwrap();
        assert!(rt.dependencies().contains(&ResourceId::new("network.nat.a")));
    }
}
