//! The blueprint as data: every layer's specs, checked without AWS.

use std::collections::BTreeMap;

use paystack_config::{DbCapacity, Environment};
use paystack_core::stack::{RESOURCE_TAG, STACK_TAG};
use paystack_core::{Expr, ResourceId, Spec};
use serde_json::{Value, json};

use super::*;
use crate::kinds;
use paystack_config::{
    Alarms, Alerts, Database, Dns, Iam, Ipv4Cidr, LoadBalancer, Logs, Network, Security, Service, StateSettings,
    StateStore, Tags,
};

pub(crate) fn env(name: &str, cidr: &str, nats: usize) -> Environment {
    Environment {
        name: name.into(),
        project: "paystack".into(),
        region: "us-east-1".into(),
        replica_region: None,
        account: None,
        transit_gateway: None,
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
            performance_insights: false,
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
                parameters: BTreeMap::from([("timeout_ms".to_owned(), "3000".to_owned())]),
                read_only_root_filesystem: true,
                user: "101".into(),
                writable_paths: vec!["/tmp".into()],
            })
            .collect(),
        logs: Logs { retention_days: 7, container_insights: false },
        load_balancer: LoadBalancer {
            certificate_domain: "*.payments.example.com".into(),
            health_check_path: "/health".into(),
            tls_policy: paystack_config::tls::DEFAULT_POLICY.into(),
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
        waits: Default::default(),
        cost: Default::default(),
        sessions: paystack_config::Sessions {
            ttl_attribute: Some("expires_at".into()),
            point_in_time_recovery: true,
            capacity: paystack_config::SessionsCapacity::OnDemand,
        },
        artifacts: paystack_config::Artifacts {
            infrequent_access_days: 30,
            glacier_ir_days: 90,
            noncurrent_expiration_days: 30,
        },
        waf: paystack_config::Waf {
            enabled: true,
            rule_groups: vec![paystack_config::WafRuleGroup {
                name: "AWSManagedRulesCommonRuleSet".into(),
                action: paystack_config::WafAction::Block,
            }],
        },
        access_logs: paystack_config::AccessLogs { expiration_days: 14 },
        discovery: paystack_config::Discovery { namespace: format!("{name}.paystack.internal") },
        compliance: paystack_config::Compliance { function: false, memory_mb: 256, timeout_seconds: 60 },
    }
}

#[test]
fn every_service_is_registered_in_the_stack_s_own_namespace() {
    let mut e = env("dev", "10.0.0.0/16", 1);
    e.suffix = Some("pr7".into());
    let b = build(&e, &Lookups::default());
    let namespace = b.specs.iter().find(|s| s.id.as_str() == "app.namespace").expect("a namespace");
    assert_eq!(namespace.fields["name"], Expr::Literal(json!("dev-pr7.paystack.internal")));
    assert_eq!(b.outputs["discovery_namespace"], Expr::Literal(json!("dev-pr7.paystack.internal")));
    for service in &e.services {
        let discovery = b.specs.iter().find(|s| s.id.as_str() == format!("app.{}.discovery", service.name)).unwrap();
        assert_eq!(discovery.fields["name"], Expr::Literal(json!(service.name)));
        assert_eq!(discovery.dependencies(), [ResourceId::new("app.namespace")]);
        let ecs = b.specs.iter().find(|s| s.id.as_str() == format!("app.{}.service", service.name)).unwrap();
        assert!(ecs.dependencies().contains(&discovery.id), "{} registers in its discovery service", service.name);
    }
    assert_eq!(super::compute::namespace_name("dev.paystack.internal", None), "dev.paystack.internal");
}

/// The blueprint of a configuration validation accepts.
fn build(env: &Environment, lookups: &Lookups) -> Blueprint {
    blueprint(env, lookups).expect("a valid configuration has a blueprint")
}

fn ids(b: &Blueprint) -> Vec<&str> {
    b.specs.iter().map(|s| s.id.as_str()).collect()
}

#[test]
fn environments_share_one_structure() {
    let dev = build(&env("dev", "10.0.0.0/16", 1), &Lookups::default());
    let prod = build(&env("prod", "10.2.0.0/16", 3), &Lookups::default());
    // Only the counts of what scales with the environment differ.
    let scaled = |i: &str| i.contains(".nat") || i.starts_with("database.instance.reader");
    let shared = |b: &Blueprint| ids(b).into_iter().filter(|i| !scaled(i)).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(shared(&dev), shared(&prod));
    assert_eq!(ids(&dev).iter().filter(|i| i.starts_with("network.nat.")).count(), 1);
    assert_eq!(ids(&prod).iter().filter(|i| i.starts_with("network.nat.")).count(), 3);
    assert_eq!(ids(&prod).iter().filter(|i| i.starts_with("database.instance.reader")).count(), 2);
    // 48 resources, the two network ACLs, the two group-to-group egress rules, the key, the
    // sessions table, the artifacts bucket (no replica region here), ten parameters for each
    // of the two services, the discovery namespace with a discovery service for each, and
    // the database's log group and the policy of its secret, the flow log with its group and
    // role, the VPC's default group and ACL, and the access-log bucket with the artifacts
    // bucket's logging into it (the state is local here), and the firewall with its log group.
    assert_eq!(dev.specs.len(), 89);
}

#[test]
fn access_logs_land_in_one_bucket_under_s3_keys_that_only_log_delivery_may_write() {
    let mut e = env("dev", "10.0.0.0/16", 1);
    e.state.backend = paystack_config::StateStore::S3 { bucket: None, lock_table: None };
    let lookups = Lookups { account_id: Some("123456789012".into()), ..Lookups::default() };
    let b = build(&e, &lookups);
    let spec = |b: &Blueprint, id: &str| b.specs.iter().find(|s| s.id.as_str() == id).cloned().unwrap();
    let literal = |s: &Spec, f: &str| match &s.fields[f] {
        Expr::Literal(v) => v.clone(),
        other => panic!("{f} is {other:?}"),
    };
    let logs = spec(&b, "audit.access_logs");
    let name = logs.name.clone();
    assert_eq!(literal(&logs, "kms_key_arn"), Value::Null, "log delivery writes only under S3's own keys");
    assert_eq!(literal(&logs, "lifecycle")["expiration_days"], json!(14));
    assert_eq!(literal(&logs, "block_public_access"), json!(true));
    let policy = literal(&logs, "policy");
    let statements = policy["Statement"].as_array().unwrap();
    let sid = |s: &str| statements.iter().find(|st| st["Sid"] == s).unwrap_or_else(|| panic!("no {s}"));
    assert_eq!(sid("DenyRequestsWithoutTls")["Effect"], "Deny");
    let elb = sid("LoadBalancerAccessLogs");
    assert_eq!(elb["Principal"]["AWS"], "arn:aws:iam::127311923021:root", "us-east-1's load balancer account");
    assert_eq!(elb["Resource"], format!("arn:aws:s3:::{name}/alb/AWSLogs/123456789012/*"));
    let state = e.state_bucket().unwrap();
    let from_state = sid("S3AccessLogsOfState");
    assert_eq!(from_state["Resource"], format!("arn:aws:s3:::{name}/storage.state.access_log/*"));
    assert_eq!(from_state["Condition"]["ArnLike"]["aws:SourceArn"], format!("arn:aws:s3:::{state}"));
    assert_eq!(from_state["Condition"]["StringEquals"]["aws:SourceAccount"], "123456789012");
    let logging = spec(&b, "storage.state.access_log");
    assert_eq!(literal(&logging, "bucket"), json!(state));
    assert_eq!(literal(&logging, "target_prefix"), json!("storage.state.access_log/"));
    let alb = spec(&b, "edge.alb");
    assert!(
        alb.dependencies().contains(&ResourceId::new("audit.access_logs")),
        "the bucket is there before the ALB names it"
    );
    let attributes = format!("{:?}", alb.fields["attributes"]);
    assert!(attributes.contains("access_logs.s3.enabled") && attributes.contains("\"alb\""), "{attributes}");
    // A suffixed stack logs its own artifacts, and leaves the shared state bucket to the
    // environment's own stack.
    e.suffix = Some("pr42".into());
    let suffixed = build(&e, &lookups);
    assert!(suffixed.specs.iter().any(|s| s.id.as_str() == "storage.artifacts.access_log"));
    assert!(!suffixed.specs.iter().any(|s| s.id.as_str() == "storage.state.access_log"));
}

#[test]
fn names_tags_and_cidrs_follow_the_environment() {
    let mut e = env("staging", "10.1.0.0/16", 1);
    e.suffix = Some("blue".into());
    let b = build(&e, &Lookups::default());
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
    let b = build(&env("dev", "10.0.0.0/16", 1), &Lookups::default());
    let sg = |role: &str| b.specs.iter().find(|s| s.id.as_str() == format!("security.sg.{role}")).unwrap();
    assert_eq!(sg("app").dependencies(), [ResourceId::new("network.vpc"), ResourceId::new("security.sg.alb")]);
    assert_eq!(sg("db").dependencies(), [ResourceId::new("network.vpc"), ResourceId::new("security.sg.app")]);
    let Expr::Literal(Value::Array(rules)) = &sg("alb").fields["ingress"] else { panic!() };
    assert_eq!(rules.len(), 2);

    // Egress: the load balancer and the database send nothing to an address block, the
    // application only HTTPS; group-to-group egress are rules of their own, so no two groups
    // depend on each other.
    assert_eq!(sg("alb").fields["egress"], Expr::Literal(json!([])));
    assert_eq!(sg("db").fields["egress"], Expr::Literal(json!([])));
    assert_eq!(
        sg("app").fields["egress"],
        Expr::Literal(json!([{
            "protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_ipv4": "0.0.0.0/0",
            "description": "HTTPS to AWS APIs and image registries, through NAT",
        }]))
    );
    let rules: Vec<(&str, Vec<ResourceId>, &Expr)> = b
        .specs
        .iter()
        .filter(|s| s.kind == kinds::SECURITY_GROUP_RULE.kind())
        .map(|s| (s.id.as_str(), s.dependencies(), &s.fields["from_port"]))
        .collect();
    assert_eq!(
        rules,
        [
            (
                "security.sg.alb.to.app",
                vec![ResourceId::new("security.sg.alb"), ResourceId::new("security.sg.app")],
                &Expr::from(8080)
            ),
            (
                "security.sg.app.to.db",
                vec![ResourceId::new("security.sg.app"), ResourceId::new("security.sg.db")],
                &Expr::from(5432)
            ),
        ]
    );
}

#[test]
fn network_acls_let_through_only_the_platforms_traffic() {
    let b = build(&env("prod", "10.2.0.0/16", 3), &Lookups::default());
    let acl = |tier: &str| b.specs.iter().find(|s| s.id.as_str() == format!("network.acl.{tier}")).unwrap();
    for tier in ["public", "private"] {
        let acl = acl(tier);
        let subnets: Vec<ResourceId> =
            ["a", "b", "c"].iter().map(|z| ResourceId::new(format!("network.subnet.{tier}.{z}"))).collect();
        assert_eq!(acl.fields["subnet_ids"], Expr::List(subnets.iter().map(|s| Expr::reference(s, "id")).collect()));
        let Expr::List(entries) = &acl.fields["entries"] else { panic!("{tier}: {:?}", acl.fields["entries"]) };
        let resolved: Vec<Value> = entries
            .iter()
            .map(|e| e.resolve(&|r| (r.output == "cidr_block").then(|| json!("10.2.0.0/16"))).unwrap())
            .collect();
        let mut numbers: Vec<(bool, i64)> =
            resolved.iter().map(|e| (e["egress"].as_bool().unwrap(), e["rule_number"].as_i64().unwrap())).collect();
        let total = numbers.len();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), total, "{tier}: a rule number is used twice in one direction");
        for e in &resolved {
            assert_eq!(e["protocol"], "6", "{tier}: every rule is TCP: {e}");
            assert_eq!(e["rule_action"], "allow", "{tier}: {e}");
            let (from, to) = (e["from_port"].as_i64().unwrap(), e["to_port"].as_i64().unwrap());
            for closed in [22, 3389] {
                assert!(!(from..=to).contains(&closed), "{tier}: {e} opens {closed}");
            }
        }
        let allows = |egress: bool, cidr: &str, port: i64| {
            resolved.iter().any(|e| {
                e["egress"] == egress
                    && e["cidr_block"] == cidr
                    && (e["from_port"].as_i64().unwrap()..=e["to_port"].as_i64().unwrap()).contains(&port)
            })
        };
        let vpc = "10.2.0.0/16";
        let internet = "0.0.0.0/0";
        if tier == "public" {
            assert!(allows(false, internet, 443) && allows(false, internet, 80), "the internet reaches the ALB");
            assert!(allows(true, internet, 50000), "the ALB answers the internet");
            assert!(allows(true, vpc, 8080) && allows(false, internet, 50000), "the ALB reaches the app");
            assert!(allows(false, vpc, 443) && allows(true, internet, 443), "NAT forwards HTTPS");
            assert!(!allows(false, internet, 22) && !allows(false, internet, 3389));
        } else {
            assert!(allows(false, vpc, 8080) && allows(true, vpc, 50000), "the ALB reaches the app");
            assert!(allows(false, vpc, 5432) && allows(true, vpc, 5432), "the app reaches the database");
            assert!(allows(true, internet, 443) && allows(false, internet, 50000), "HTTPS out through NAT");
            // Stateless rules must let replies in on the ephemeral ports; below them, nothing
            // from outside the VPC reaches the private tier.
            assert!((1..1024).all(|port| !allows(false, internet, port)), "a well-known port from outside");
            assert!(!allows(true, internet, 5432), "the database port never leaves the VPC");
        }
    }
}

#[test]
fn private_subnets_route_through_their_zones_nat() {
    let b = build(&env("prod", "10.2.0.0/16", 3), &Lookups::default());
    let rt = b.specs.iter().find(|s| s.id.as_str() == "network.rt.private.c").unwrap();
    assert!(rt.dependencies().contains(&ResourceId::new("network.nat.c")));
    let dev = build(&env("dev", "10.0.0.0/16", 1), &Lookups::default());
    let rt = dev.specs.iter().find(|s| s.id.as_str() == "network.rt.private.c").unwrap();
    assert!(rt.dependencies().contains(&ResourceId::new("network.nat.a")));
}

#[test]
fn readers_wait_for_the_writer_and_spread_across_zones() {
    let b = build(&env("prod", "10.2.0.0/16", 3), &Lookups::default());
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
        let b = build(e, &Lookups::default());
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
    let b = build(&env("dev", "10.0.0.0/16", 1), &Lookups::default());
    let cluster = b.specs.iter().find(|s| s.id.as_str() == "database.cluster").unwrap();
    assert_eq!(cluster.fields["master_password_secret"], Expr::reference(&ResourceId::new("database.secret"), "arn"));
    assert_eq!(cluster.fields["storage_encrypted"], Expr::from(true));
    assert_eq!(cluster.fields["deletion_protection"], Expr::from(false));
    for spec in &b.specs {
        assert!(!spec.fields.keys().any(|k| k.contains("password") && k != "master_password_secret"), "{}", spec.id);
    }
}

/// The secret's value is for what injects it, rotates it and deploys, and no other role:
/// not the drift task's, not the compliance function's. The policy comes after the cluster,
/// which paystack gives the password before the policy could refuse paystack.
#[test]
fn only_the_execution_roles_the_rotation_and_the_deploy_role_read_the_secret() {
    let mut prod = env("prod", "10.2.0.0/16", 3);
    prod.account = Some(paystack_config::Account {
        id: "333333333333".into(),
        role_arn: "arn:aws:iam::333333333333:role/paystack-deploy".into(),
        external_id: None,
    });
    prod.database.rotation = Some(paystack_config::Rotation {
        lambda_arn: "arn:aws:lambda:us-east-1:333333333333:function:rotate".into(),
        days: 30,
    });
    prod.compliance.function = true;
    let lookups =
        Lookups { rotation_role_arn: Some("arn:aws:iam::333333333333:role/rotation".into()), ..Lookups::default() };
    let b = build(&prod, &lookups);
    let policy = b.specs.iter().find(|s| s.id.as_str() == "database.secret.policy").unwrap();
    assert_eq!(
        policy.fields["readers"],
        Expr::from(json!([
            "arn:aws:iam::333333333333:role/paystack-deploy",
            "arn:aws:iam::333333333333:role/paystack/prod/prod-us-east-1-app-payments-api-exec-role",
            "arn:aws:iam::333333333333:role/paystack/prod/prod-us-east-1-app-worker-exec-role",
            "arn:aws:iam::333333333333:role/rotation",
        ]))
    );
    assert_eq!(policy.dependencies(), [ResourceId::new("database.cluster"), ResourceId::new("database.secret")]);
    // The names it gives are the names the roles get.
    for service in ["payments-api", "worker"] {
        let role = b.specs.iter().find(|s| s.id.as_str() == format!("app.{service}.execution_role")).unwrap();
        assert!(format!("{:?}", policy.fields["readers"]).contains(&role.name), "{}", role.name);
    }
    let document = crate::kinds::readers_only_policy(&["arn:aws:iam::1:role/a".to_owned()]);
    assert_eq!(document["Statement"][0]["Effect"], "Deny");
    assert_eq!(crate::kinds::readers_of(&document), Some(vec!["arn:aws:iam::1:role/a".to_owned()]));
}

#[test]
fn names_aws_caps_are_fitted_deterministically() {
    let mut e = env("staging", "10.1.0.0/16", 1);
    e.suffix = Some("a-much-longer-suffix-than-usual".into());
    let b = build(&e, &Lookups::default());
    let rds: Vec<&Spec> = b.specs.iter().filter(|s| s.kind.as_str().starts_with("rds.")).collect();
    assert!(rds.iter().all(|s| s.name.len() <= 63), "{:?}", rds.iter().map(|s| &s.name).collect::<Vec<_>>());
    let params = b.specs.iter().find(|s| s.id.as_str() == "database.cluster_parameters").unwrap();
    assert!(!params.name.ends_with("than-usual"), "{} was shortened", params.name);
    assert_eq!(params.fields["name"], Expr::from(params.name.as_str()), "the name field is the fitted name");
    assert_eq!(build(&e, &Lookups::default()).specs, b.specs);
}

#[test]
fn rotation_is_set_only_where_configured_and_only_once_the_database_is_up() {
    assert!(!ids(&build(&env("dev", "10.0.0.0/16", 1), &Lookups::default())).contains(&"database.secret.rotation"));
    let mut prod = env("prod", "10.2.0.0/16", 3);
    prod.database.rotation = Some(paystack_config::Rotation {
        lambda_arn: "arn:aws:lambda:us-east-1:123456789012:function:rotate".into(),
        days: 30,
    });
    let b = build(&prod, &Lookups::default());
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
    let b = build(&e, &Lookups::default());
    let roles: Vec<&Spec> = b.specs.iter().filter(|s| s.kind.as_str() == "iam.role").collect();
    assert_eq!(roles.len(), 5, "an execution role and a task role per service, and the flow log's");
    for role in roles {
        assert_eq!(role.fields["permissions_boundary"], Expr::from("arn:aws:iam::123456789012:policy/boundary"));
        assert!(role.name.len() <= 64, "{}", role.name);
        let Expr::Map(policy) = &role.fields["policy"] else { panic!("{}: policy is not a document", role.id) };
        let Expr::List(statements) = &policy["Statement"] else { panic!() };
        assert!(!statements.is_empty());
        for statement in statements {
            // A statement whose resources are all literal ARNs is a literal itself.
            let st: BTreeMap<String, Expr> = match statement {
                Expr::Map(st) => st.clone(),
                Expr::Literal(Value::Object(st)) => st
                    .iter()
                    .map(|(k, v)| match v {
                        Value::Array(items) if k == "Resource" => {
                            (k.clone(), Expr::List(items.iter().cloned().map(Expr::Literal).collect()))
                        }
                        v => (k.clone(), Expr::Literal(v.clone())),
                    })
                    .collect(),
                other => panic!("{}: statement {other:?}", role.id),
            };
            assert_eq!(st["Effect"], Expr::from("Allow"));
            let Expr::Literal(actions) = &st["Action"] else { panic!() };
            for action in actions.as_array().unwrap() {
                let action = action.as_str().unwrap();
                assert!(action != "*" && !action.ends_with(":*"), "{}: action {action}", role.id);
            }
            let Expr::List(resources) = &st["Resource"] else { panic!("{}: no resource list", role.id) };
            assert!(!resources.is_empty());
            for resource in resources {
                // Each resource is one of the environment's own: by reference to it, or by
                // the artifacts prefix or parameter path of the role's own service.
                let own = match resource {
                    Expr::Ref(_) => true,
                    Expr::Literal(Value::String(arn)) => {
                        let service = role.id.as_str().split('.').nth(1).unwrap();
                        arn.starts_with("arn:aws:s3:::staging-us-east-1-artifacts-")
                            && (arn.ends_with(&format!("/{service}/*")) || !arn.contains('/'))
                            || arn.ends_with(&format!(":parameter/staging/{service}/*"))
                    }
                    _ => false,
                };
                assert!(own, "{}: resource {resource:?}", role.id);
            }
            let Expr::Literal(condition) = &st["Condition"] else { panic!() };
            assert_eq!(condition["StringEquals"]["aws:RequestedRegion"], "us-east-1", "{}", role.id);
        }
    }
}

#[test]
fn services_run_privately_behind_the_load_balancer_and_scale_on_cpu() {
    let b = build(
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
    let b = build(&env("prod", "10.2.0.0/16", 3), &Lookups::default());
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
    let b = build(&dev, &lookups);
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
    let b = build(&prod, &lookups);
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
    let b = build(&prod, &lookups);
    let blue = b.specs.iter().find(|s| s.id.as_str() == "edge.dns.blue").unwrap();
    assert_eq!(blue.fields["set_identifier"], Expr::from("blue-pr7"), "the suffix goes on every name");
}

#[test]
fn a_scaled_services_range_is_known() {
    let b = build(&env("dev", "10.0.0.0/16", 1), &Lookups::default());
    assert_eq!(b.scaling_range(&ResourceId::new("app.worker.service")), Some((1, 2)));
    assert_eq!(b.scaling_range(&ResourceId::new("edge.alb")), None);
}

#[test]
fn every_kind_placed_is_listed_in_its_layer() {
    let b = build(&env("prod", "10.2.0.0/16", 3), &Lookups::default());
    for spec in &b.specs {
        assert!(kinds::all().any(|k| k.kind() == spec.kind), "{} is missing from its layer's KINDS", spec.kind);
    }
}

#[test]
fn every_resource_is_placed_in_the_primary_region_except_global_kinds() {
    let b = build(&env("prod", "10.2.0.0/16", 3), &Lookups::default());
    for spec in &b.specs {
        let global = spec.kind == kinds::IAM_ROLE.kind() || spec.kind == kinds::DNS_RECORD.kind();
        let expected = if global {
            paystack_core::Placement::global(None)
        } else {
            paystack_core::Placement::regional(None, "us-east-1")
        };
        assert_eq!(spec.placement, expected, "{}", spec.id);
    }
}

fn with_transit_gateway(mut e: Environment, owner: Option<&str>) -> Environment {
    let account = |id: &str| paystack_config::Account {
        id: id.into(),
        role_arn: format!("arn:aws:iam::{id}:role/paystack-deploy"),
        external_id: None,
    };
    e.transit_gateway = Some(paystack_config::TransitGateway {
        owner: owner.map(account),
        shared_services_cidr: "10.100.0.0/16".parse().unwrap(),
    });
    e
}

#[test]
fn the_transit_gateway_attaches_the_private_subnets_and_routes_only_to_shared_services() {
    let mut e = env("staging", "10.1.0.0/16", 1);
    e.account = Some(paystack_config::Account {
        id: "222222222222".into(),
        role_arn: "arn:aws:iam::222222222222:role/paystack-deploy".into(),
        external_id: None,
    });
    let e = with_transit_gateway(e, Some("444444444444"));
    let looked_up = TransitLookup { id: "tgw-1".into(), shared_services_attachment_id: "tgw-attach-shared".into() };
    let b = build(&e, &Lookups { transit_gateway: Some(looked_up), ..Lookups::default() });
    let spec = |id: &str| b.specs.iter().find(|s| s.id.as_str() == id).unwrap_or_else(|| panic!("no {id}"));
    let (home, network) = (
        Placement::regional(Some("222222222222"), "us-east-1"),
        Placement::regional(Some("444444444444"), "us-east-1"),
    );

    let attachment = spec("network.tgw.attachment");
    assert_eq!(attachment.placement, home, "the attachment is the environment's");
    assert_eq!(attachment.fields["transit_gateway_id"], Expr::from("tgw-1"));
    let subnets: Vec<ResourceId> =
        ["a", "b", "c"].iter().map(|z| ResourceId::new(format!("network.subnet.private.{z}").as_str())).collect();
    let mut wanted = subnets;
    wanted.push(ResourceId::new("network.vpc"));
    assert_eq!(attachment.dependencies(), wanted, "on the VPC's private subnets, one per zone");

    let table = spec("network.tgw.route_table");
    assert_eq!(table.placement, network, "the gateway's route table lives with the gateway");
    assert_eq!(table.name, "staging-us-east-1-network-tgw-rt");
    assert_eq!(table.dependencies(), [ResourceId::new("network.tgw.attachment")], "associated with its attachment");
    let Expr::Literal(routes) = &table.fields["routes"] else { panic!("routes are plain values") };
    assert_eq!(
        routes,
        &json!([{ "destination_cidr_block": "10.100.0.0/16", "transit_gateway_attachment_id": "tgw-attach-shared" }]),
        "its only route goes to shared services"
    );

    // Each private route table sends shared services to the gateway, once it is attached;
    // the public one does not.
    for zone in ["a", "b", "c"] {
        let rt = spec(&format!("network.rt.private.{zone}"));
        assert!(rt.dependencies().contains(&ResourceId::new("network.tgw.attachment")), "{zone}");
        assert!(format!("{:?}", rt.fields["routes"]).contains("10.100.0.0/16"), "{zone}");
    }
    assert!(!spec("network.rt.public").dependencies().contains(&ResourceId::new("network.tgw.attachment")));

    // What a run reads where: the gateway's account only for the gateway's own kinds.
    let (tgw_table, attachment_kind) =
        (kinds::TRANSIT_GATEWAY_ROUTE_TABLE.kind(), kinds::TRANSIT_GATEWAY_ATTACHMENT.kind());
    assert!(reads(&e, &tgw_table, &network) && !reads(&e, &tgw_table, &home));
    assert!(reads(&e, &attachment_kind, &home) && !reads(&e, &attachment_kind, &network));
    assert!(!reads(&e, &kinds::VPC.kind(), &network), "no VPC of the environment's is looked for there");
    assert!(placements(&e, &b.specs).contains(&network));
}

#[test]
fn without_a_transit_gateway_nothing_of_it_is_made_or_read() {
    let e = env("dev", "10.0.0.0/16", 1);
    let b = build(&e, &Lookups::default());
    assert!(!ids(&b).iter().any(|id| id.contains("tgw")));
    let home = Placement::regional(None, "us-east-1");
    assert!(!reads(&e, &kinds::TRANSIT_GATEWAY_ATTACHMENT.kind(), &home));
    assert!(!reads(&e, &kinds::TRANSIT_GATEWAY_ROUTE_TABLE.kind(), &home));
    assert_eq!(placements(&e, &b.specs), [Placement::global(None), home.clone()].into_iter().collect());

    // In the caller's own account, the gateway's table is placed at home, and still
    // unknown ids show as placeholders until planning looks them up.
    let e = with_transit_gateway(e, None);
    let b = build(&e, &Lookups::default());
    let table = b.specs.iter().find(|s| s.id.as_str() == "network.tgw.route_table").unwrap();
    assert_eq!(table.placement, home);
    assert_eq!(table.fields["transit_gateway_id"], Expr::from(NOT_LOOKED_UP));
}

#[test]
fn the_gateway_is_shared_with_every_other_account_of_the_environments() {
    let mut envs = BTreeMap::new();
    for (name, cidr, account) in [
        ("dev", "10.0.0.0/16", "111111111111"),
        ("staging", "10.1.0.0/16", "444444444444"),
        ("prod", "10.2.0.0/16", "333333333333"),
    ] {
        let mut e = env(name, cidr, 1);
        e.account = Some(paystack_config::Account {
            id: account.into(),
            role_arn: format!("arn:aws:iam::{account}:role/paystack-deploy"),
            external_id: None,
        });
        envs.insert(name.to_owned(), with_transit_gateway(e, Some("444444444444")));
    }
    let config = paystack_config::Config { dir: ".".into(), environments: envs };
    let g = gateway(&config).unwrap();
    assert_eq!(g.principals, ["111111111111", "333333333333"], "every account but the owner's, once");
    assert_eq!((g.name.as_str(), g.region.as_str()), ("paystack-us-east-1-tgw", "us-east-1"));
    let tags: BTreeMap<_, _> = g.tags.iter().cloned().collect();
    assert_eq!(tags[GATEWAY_TAG], "paystack");
    assert_eq!(tags["Environment"], "shared");
    assert_eq!(tags["ManagedBy"], "paystack");

    let mut config = config;
    config.environments.get_mut("prod").unwrap().region = "eu-west-1".into();
    assert!(matches!(gateway(&config), Err(GatewayError::Regions(_))));
    for e in config.environments.values_mut() {
        e.transit_gateway = None;
    }
    assert_eq!(gateway(&config), Err(GatewayError::NotConfigured));
}

#[test]
fn sessions_are_encrypted_with_each_region_s_own_key_and_replicated_where_configured() {
    let mut e = env("dev", "10.0.0.0/16", 1);
    e.replica_region = Some("eu-west-1".into());
    let b = build(&e, &Lookups { account_id: Some("123456789012".into()), ..Lookups::default() });
    let spec = |id: &str| b.specs.iter().find(|s| s.id.as_str() == id).unwrap_or_else(|| panic!("no {id}"));
    let (key, replica_key) = (spec("storage.key"), spec("storage.key.replica"));
    assert_eq!(key.placement, Placement::regional(None, "us-east-1"));
    assert_eq!(replica_key.placement, Placement::regional(None, "eu-west-1"), "the replica's key is in its region");
    assert_eq!(replica_key.name, "dev-us-east-1-storage-replica-key", "named like every name of the stack");
    let Expr::Literal(policy) = &replica_key.fields["policy"] else { panic!("a plain policy") };
    let uses = &policy["Statement"][1];
    assert_eq!(
        uses["Condition"]["StringEquals"]["kms:ViaService"],
        json!(["dynamodb.eu-west-1.amazonaws.com", "s3.eu-west-1.amazonaws.com"])
    );
    let Expr::Literal(home) = &key.fields["policy"] else { panic!("a plain policy") };
    let sids: Vec<&str> = home["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].as_str().unwrap()).collect();
    assert_eq!(
        sids,
        [
            "TheAccountAdministersTheKey",
            "TheEnvironmentsServicesUseItForTheAccount",
            "CloudWatchLogsEncryptsTheEnvironmentsGroups",
            "CloudWatchAlarmsPublishToTheEncryptedTopic",
        ]
    );
    let logs = &home["Statement"][2]["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"];
    assert_eq!(
        logs,
        &json!([
            "arn:aws:logs:us-east-1:123456789012:log-group:dev-us-east-1-*",
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/rds/cluster/dev-us-east-1-*",
            "arn:aws:logs:us-east-1:123456789012:log-group:aws-waf-logs-dev-us-east-1-*",
        ]),
        "the environment's groups only, the database's and the firewall's among them"
    );
    assert_eq!(
        home["Statement"][1]["Condition"]["StringEquals"]["kms:ViaService"],
        json!([
            "dynamodb.us-east-1.amazonaws.com",
            "s3.us-east-1.amazonaws.com",
            "secretsmanager.us-east-1.amazonaws.com",
            "sns.us-east-1.amazonaws.com",
            "ssm.us-east-1.amazonaws.com"
        ])
    );
    // Every data store the environment makes is encrypted with its key.
    for id in ["alerts.topic", "database.secret", "app.payments-api.logs", "app.worker.logs", "storage.sessions"] {
        assert!(spec(id).dependencies().contains(&ResourceId::new("storage.key")), "{id} is encrypted with the key");
    }
    assert_eq!(uses["Principal"]["AWS"], "arn:aws:iam::123456789012:root");
    assert!(policy["Statement"].as_array().unwrap().iter().all(|s| s["Action"] != "kms:*" && s["Action"] != "*"));

    let table = spec("storage.sessions");
    let mut deps = table.dependencies();
    deps.sort();
    assert_eq!(deps, [ResourceId::new("storage.key"), ResourceId::new("storage.key.replica")]);
    assert_eq!(table.fields["ttl_attribute"], Expr::from("expires_at"));
    assert_eq!(table.fields["point_in_time_recovery"], Expr::from(true));

    let alarm = spec("alarms.storage.sessions.replication");
    assert_eq!(alarm.fields["metric_name"], Expr::from("ReplicationLatency"));
    assert!(alarm.dependencies().contains(&ResourceId::new("storage.sessions")));

    // The task role touches the table's items, through its key, and nothing else of them.
    let role = spec("app.payments-api.task_role");
    assert!(role.dependencies().contains(&ResourceId::new("storage.sessions")));
    assert!(role.dependencies().contains(&ResourceId::new("storage.key")));
    let text = format!("{:?}", role.fields["policy"]);
    assert!(
        text.contains("dynamodb:PutItem") && !text.contains("dynamodb:*") && !text.contains("DeleteTable"),
        "{text}"
    );

    // What a run reads where: the key in both regions, everything else at home only.
    let replica = Placement::regional(None, "eu-west-1");
    assert!(reads(&e, &kinds::KMS_KEY.kind(), &replica));
    assert!(!reads(&e, &kinds::TABLE.kind(), &replica) && !reads(&e, &kinds::VPC.kind(), &replica));

    // Without a replica region: one key, no replica, no replication alarm.
    let b = build(&env("dev", "10.0.0.0/16", 1), &Lookups::default());
    assert!(!ids(&b).contains(&"storage.key.replica") && !ids(&b).contains(&"alarms.storage.sessions.replication"));
    let table = b.specs.iter().find(|s| s.id.as_str() == "storage.sessions").unwrap();
    assert_eq!(table.fields["replicas"], Expr::Literal(json!([])));
}

#[test]
fn artifacts_are_private_encrypted_versioned_and_replicated_by_a_role_of_least_privilege() {
    let mut e = env("prod", "10.2.0.0/16", 3);
    e.replica_region = Some("eu-west-1".into());
    e.iam.permissions_boundary_arn = Some("arn:aws:iam::123456789012:policy/boundary".into());
    let b = build(&e, &Lookups { account_id: Some("123456789012".into()), ..Lookups::default() });
    let spec = |id: &str| b.specs.iter().find(|s| s.id.as_str() == id).unwrap_or_else(|| panic!("no {id}"));
    let literal = |s: &Spec, f: &str| match &s.fields[f] {
        Expr::Literal(v) => v.clone(),
        other => panic!("{f} is {other:?}"),
    };
    let (primary, replica) = (spec("storage.artifacts"), spec("storage.artifacts.replica"));
    assert_eq!(primary.name, "prod-us-east-1-artifacts-123456789012", "the account makes a global name its own");
    assert_eq!(replica.name, "prod-us-east-1-replica-123456789012");
    assert_eq!(replica.placement, Placement::regional(None, "eu-west-1"));
    for (bucket, key) in [(primary, "storage.key"), (replica, "storage.key.replica")] {
        assert_eq!(literal(bucket, "versioning"), json!(true));
        assert_eq!(literal(bucket, "block_public_access"), json!(true));
        assert_eq!(literal(bucket, "object_ownership"), json!("BucketOwnerEnforced"));
        assert!(bucket.dependencies().contains(&ResourceId::new(key)), "{} is encrypted with {key}", bucket.id);
        let policy = literal(bucket, "policy");
        assert_eq!(policy["Statement"][0]["Effect"], "Deny");
        assert_eq!(policy["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"], "false");
        assert_eq!(literal(bucket, "lifecycle")["infrequent_access_days"], json!(30));
    }
    let mut deps = primary.dependencies();
    deps.sort();
    assert_eq!(
        deps,
        ["storage.artifacts.replica", "storage.artifacts.replication_role", "storage.key", "storage.key.replica"]
            .map(ResourceId::new)
    );

    let role = spec("storage.artifacts.replication_role");
    assert_eq!(literal(role, "assume_role_policy")["Statement"][0]["Principal"]["Service"], "s3.amazonaws.com");
    assert_eq!(
        literal(role, "assume_role_policy")["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"],
        "123456789012"
    );
    let policy = format!("{:?}", role.fields["policy"]);
    assert!(policy.contains("arn:aws:s3:::prod-us-east-1-artifacts-123456789012/*"), "{policy}");
    assert!(policy.contains("s3:ReplicateDelete") && !policy.contains("s3:*") && !policy.contains("\"*\""), "{policy}");
    assert_eq!(role.fields["permissions_boundary"], Expr::from("arn:aws:iam::123456789012:policy/boundary"));

    let alarm = spec("alarms.storage.artifacts.replication");
    assert_eq!(literal(alarm, "namespace"), json!("AWS/S3"));
    assert_eq!(literal(alarm, "threshold"), json!(300.0));

    // A service reads and writes its own prefix only.
    let task = format!("{:?}", spec("app.worker.task_role").fields["policy"]);
    assert!(task.contains("arn:aws:s3:::prod-us-east-1-artifacts-123456789012/worker/*"), "{task}");
    assert!(task.contains("worker/*") && !task.contains("payments-api/*"), "{task}");

    // Without a replica region: one bucket, no replication.
    let b = build(&env("dev", "10.0.0.0/16", 1), &Lookups::default());
    let primary = b.specs.iter().find(|s| s.id.as_str() == "storage.artifacts").unwrap();
    assert_eq!(primary.fields["replication"], Expr::Literal(json!(null)));
    assert!(!ids(&b).contains(&"storage.artifacts.replica") && !b.outputs.contains_key("artifacts_replica_bucket"));
}

#[test]
fn each_service_gets_its_parameters_by_arn_and_may_read_only_its_own() {
    let mut e = env("dev", "10.0.0.0/16", 1);
    e.suffix = Some("pr-7".into());
    let b = build(&e, &Lookups { account_id: Some("123456789012".into()), ..Lookups::default() });
    let spec = |id: &str| b.specs.iter().find(|s| s.id.as_str() == id).unwrap_or_else(|| panic!("no {id}"));
    let names: Vec<&str> = b
        .specs
        .iter()
        .filter(|s| s.kind == kinds::PARAMETER.kind() && s.id.as_str().starts_with("params.worker."))
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names.len(), 10, "nine of the platform's (no replica region) and the service's own: {names:?}");
    assert!(names.iter().all(|n| n.starts_with("/dev-pr-7/worker/")), "{names:?}");
    assert!(names.contains(&"/dev-pr-7/worker/timeout_ms") && names.contains(&"/dev-pr-7/worker/db_secret_arn"));
    let writer = spec("params.worker.db_writer_endpoint");
    assert!(writer.dependencies().contains(&ResourceId::new("database.cluster")));
    assert_eq!(spec("params.worker.db_port").fields["value"], Expr::from("5432"));

    let task = spec("app.worker.task");
    let Expr::Map(container) = &task.fields["container"] else { panic!("a container") };
    let Expr::Map(secrets) = &container["secrets"] else { panic!("secrets") };
    assert!(secrets.contains_key("DB_WRITER_ENDPOINT") && secrets.contains_key("TIMEOUT_MS"));
    assert!(task.dependencies().contains(&ResourceId::new("params.worker.timeout_ms")));

    let exec = format!("{:?}", spec("app.worker.execution_role").fields["policy"]);
    assert!(exec.contains("arn:aws:ssm:us-east-1:123456789012:parameter/dev-pr-7/worker/*"), "{exec}");
    assert!(!exec.contains("parameter/dev-pr-7/payments-api"), "{exec}");
    assert_eq!(b.outputs["parameter_path"], Expr::from("/dev-pr-7/"));
}

#[test]
fn a_provisioned_sessions_table_scales_reads_and_writes_within_their_ranges() {
    use paystack_config::{CapacityRange, SessionsCapacity};
    let mut e = env("prod", "10.2.0.0/16", 3);
    e.sessions.capacity = SessionsCapacity::Provisioned {
        read: CapacityRange { min: 5, max: 50, target_percent: 70.0 },
        write: CapacityRange { min: 2, max: 20, target_percent: 60.0 },
    };
    let b = build(&e, &Lookups::default());
    let spec = |id: &str| b.specs.iter().find(|s| s.id.as_str() == id).unwrap_or_else(|| panic!("no {id}"));
    assert_eq!(spec("storage.sessions").fields["billing_mode"], Expr::from("PROVISIONED"));
    let read = spec("storage.sessions.read_scaling");
    assert_eq!(read.kind, kinds::TABLE_SCALING.kind());
    assert_eq!(read.fields["policy_name"], Expr::from("prod.storage.sessions.read_scaling"));
    assert_eq!((&read.fields["min_capacity"], &read.fields["max_capacity"]), (&Expr::from(5), &Expr::from(50)));
    assert_eq!(spec("storage.sessions.write_scaling").fields["target_percent"], Expr::from(60.0));
    assert!(read.dependencies().contains(&ResourceId::new("storage.sessions")));

    let on_demand = build(&env("prod", "10.2.0.0/16", 3), &Lookups::default());
    assert!(!ids(&on_demand).iter().any(|i| i.ends_with("_scaling") && i.starts_with("storage.")));
    let table = on_demand.specs.iter().find(|s| s.id.as_str() == "storage.sessions").unwrap();
    assert_eq!(table.fields["billing_mode"], Expr::from("PAY_PER_REQUEST"));
}

#[test]
fn only_a_protected_environment_keeps_its_secret_recoverable_after_a_delete() {
    let window = |protected: bool| {
        let mut e = env("prod", "10.2.0.0/16", 3);
        e.protected = protected;
        let b = build(&e, &Lookups::default());
        let secret = b.specs.iter().find(|s| s.id.as_str() == "database.secret").unwrap();
        secret.fields["recovery_window_days"].clone()
    };
    assert_eq!(window(true), Expr::from(json!(kinds::SECRET_RECOVERY_DAYS)));
    assert_eq!(window(false), Expr::from(Value::Null));
}

/// An expression as JSON, each reference as the string `ref:{resource}.{output}`.
fn as_json(e: &Expr) -> Value {
    match e {
        Expr::Literal(v) => v.clone(),
        Expr::Ref(r) => Value::String(format!("ref:{}.{}", r.resource, r.output)),
        Expr::List(items) => Value::Array(items.iter().map(as_json).collect()),
        Expr::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), as_json(v))).collect()),
    }
}

#[test]
fn no_role_bucket_or_endpoint_policy_allows_every_action_or_an_unheld_wildcard_resource() {
    let list = |v: &Value| match v {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    };
    for (name, cidr, zones) in [("dev", "10.0.0.0/16", 1), ("staging", "10.1.0.0/16", 3), ("prod", "10.2.0.0/16", 3)] {
        let mut e = env(name, cidr, zones);
        e.replica_region = Some("eu-west-1".into());
        e.state.backend = paystack_config::StateStore::S3 { bucket: None, lock_table: None };
        let b = build(&e, &Lookups { account_id: Some("123456789012".into()), ..Lookups::default() });
        let mut documents = Vec::new();
        for s in &b.specs {
            let kind = s.kind.as_str();
            if ["iam.role", "s3.bucket", "ec2.vpc_endpoint"].contains(&kind) {
                documents.push((format!("{} policy", s.id), as_json(&s.fields["policy"])));
            }
            if let Some(Expr::Map(others)) = s.fields.get("other_policies") {
                documents.extend(others.iter().map(|(n, p)| (format!("{} {n}", s.id), as_json(p))));
            }
        }
        assert!(documents.len() >= 10, "{name}: {}", documents.len());
        for (what, document) in documents {
            for st in list(&document["Statement"]) {
                if st["Effect"] != "Allow" {
                    continue; // a deny may be as broad as it likes
                }
                for action in list(&st["Action"]) {
                    let action = action.as_str().unwrap_or_default();
                    assert!(action != "*" && !action.ends_with(":*"), "{name}: {what} allows {action}");
                }
                let wildcard = list(&st["Resource"]).iter().any(|r| r == "*");
                assert!(!wildcard || st.get("Condition").is_some(), "{name}: {what} allows `*` unheld: {st}");
            }
        }
    }
}
