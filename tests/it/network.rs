//! The network layer as a user finds it in AWS after `apply`.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::Filter;

use crate::support::{Stack, ec2, expected_counts, expected_specs, live_counts, tags};

#[tokio::test]
async fn apply_builds_the_network_then_plan_has_nothing_to_do() {
    let stack = Stack::new("dev", "network");
    let applied = stack.apply();
    assert!(
        applied.stdout.contains(&format!("Apply complete: {} created, in ", expected_specs("dev"))),
        "{}",
        applied.stdout
    );
    let client = ec2().await;
    assert_eq!(live_counts(&stack).await, expected_counts("dev"));

    // The VPC: the environment's CIDR, DNS on, the organisation's tags and the ownership tags.
    let vpcs = client.describe_vpcs().filters(stack.filter()).send().await.unwrap();
    let vpc = &vpcs.vpcs()[0];
    let vpc_id = vpc.vpc_id().unwrap();
    assert_eq!(vpc.cidr_block(), Some("10.0.0.0/16"));
    let t = tags(vpc.tags());
    assert_eq!(t["Name"], format!("dev-us-east-1-network-vpc-{}", stack.suffix));
    assert_eq!(t["Environment"], "dev");
    assert_eq!(t["Project"], "paystack");
    assert_eq!(t["ManagedBy"], "paystack");
    assert_eq!(t["Application"], "payments");
    assert_eq!(t["CostCenter"], "fin-platform-4471");
    assert_eq!(t["paystack:resource"], "network.vpc");
    let hostnames = client
        .describe_vpc_attribute()
        .vpc_id(vpc_id)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .unwrap();
    assert_eq!(hostnames.enable_dns_hostnames().and_then(|a| a.value()), Some(true));

    // Subnets: public and private in each of three zones, laid out from the VPC's CIDR.
    let subnets = client.describe_subnets().filters(stack.filter()).send().await.unwrap();
    let layout: BTreeMap<String, (String, String, bool)> = subnets
        .subnets()
        .iter()
        .map(|s| {
            let t = tags(s.tags());
            let key = t["paystack:resource"].clone();
            assert_eq!(s.vpc_id(), Some(vpc_id));
            for tag in ["Environment", "Project", "ManagedBy", "Application", "CostCenter"] {
                assert!(t.contains_key(tag), "{key} lacks {tag}");
            }
            (
                key,
                (
                    s.cidr_block().unwrap().to_owned(),
                    s.availability_zone().unwrap().to_owned(),
                    s.map_public_ip_on_launch().unwrap_or(false),
                ),
            )
        })
        .collect();
    // No subnet hands out public addresses, not even the public tier.
    let expected: BTreeMap<String, (String, String, bool)> = [
        ("network.subnet.public.a", "10.0.0.0/20", "us-east-1a", false),
        ("network.subnet.public.b", "10.0.16.0/20", "us-east-1b", false),
        ("network.subnet.public.c", "10.0.32.0/20", "us-east-1c", false),
        ("network.subnet.private.a", "10.0.128.0/20", "us-east-1a", false),
        ("network.subnet.private.b", "10.0.144.0/20", "us-east-1b", false),
        ("network.subnet.private.c", "10.0.160.0/20", "us-east-1c", false),
    ]
    .into_iter()
    .map(|(k, c, az, p)| (k.to_owned(), (c.to_owned(), az.to_owned(), p)))
    .collect();
    assert_eq!(layout, expected);
    let subnet_id = |key: &str| {
        subnets
            .subnets()
            .iter()
            .find(|s| tags(s.tags())["paystack:resource"] == key)
            .and_then(|s| s.subnet_id())
            .unwrap()
            .to_owned()
    };

    // The internet gateway is attached; the one NAT gateway of dev sits in public subnet a.
    let igws = client.describe_internet_gateways().filters(stack.filter()).send().await.unwrap();
    let igw = &igws.internet_gateways()[0];
    assert_eq!(igw.attachments()[0].vpc_id(), Some(vpc_id));
    let nats = client.describe_nat_gateways().filter(stack.filter()).send().await.unwrap();
    let nat = nats.nat_gateways().iter().find(|n| tags(n.tags())["paystack:stack"] == stack.key()).unwrap();
    assert_eq!(nat.subnet_id().unwrap(), subnet_id("network.subnet.public.a"));

    // Public subnets route to the internet gateway; every private subnet routes to the NAT.
    let tables = client.describe_route_tables().filters(stack.filter()).send().await.unwrap();
    for table in tables.route_tables() {
        let key = tags(table.tags())["paystack:resource"].clone();
        let default =
            table.routes().iter().find(|r| r.destination_cidr_block() == Some("0.0.0.0/0")).expect("default route");
        let associated: Vec<&str> = table.associations().iter().filter_map(|a| a.subnet_id()).collect();
        if key == "network.rt.public" {
            assert_eq!(default.gateway_id(), igw.internet_gateway_id());
            assert_eq!(associated.len(), 3);
        } else {
            assert_eq!(default.nat_gateway_id(), nat.nat_gateway_id(), "{key}");
            let zone = key.rsplit('.').next().unwrap();
            assert_eq!(associated, [subnet_id(&format!("network.subnet.private.{zone}"))]);
        }
    }

    // Least privilege: internet → ALB on 80/443, ALB → app on 8080, app → database on 5432.
    let groups = client.describe_security_groups().filters(stack.filter()).send().await.unwrap();
    let group = |role: &str| {
        groups
            .security_groups()
            .iter()
            .find(|g| tags(g.tags())["paystack:resource"] == format!("security.sg.{role}"))
            .unwrap()
    };
    let (alb, app, db) = (group("alb"), group("app"), group("db"));
    let ports = |g: &aws_sdk_ec2::types::SecurityGroup| {
        let mut p: Vec<i32> = g.ip_permissions().iter().filter_map(|p| p.from_port()).collect();
        p.sort();
        p
    };
    assert_eq!(ports(alb), [80, 443]);
    assert!(alb.ip_permissions().iter().all(|p| p.ip_ranges()[0].cidr_ip() == Some("0.0.0.0/0")));
    assert_eq!(ports(app), [8080]);
    assert_eq!(app.ip_permissions()[0].user_id_group_pairs()[0].group_id(), alb.group_id());
    assert!(app.ip_permissions()[0].ip_ranges().is_empty(), "the app accepts no CIDR");
    assert_eq!(ports(db), [5432]);
    assert_eq!(db.ip_permissions()[0].user_id_group_pairs()[0].group_id(), app.group_id());

    // The S3 gateway endpoint serves every route table.
    let endpoints = client.describe_vpc_endpoints().filters(stack.filter()).send().await.unwrap();
    let endpoint = &endpoints.vpc_endpoints()[0];
    assert_eq!(endpoint.service_name(), Some("com.amazonaws.us-east-1.s3"));
    assert_eq!(endpoint.route_table_ids().len(), 4);

    // A second plan finds nothing to do.
    let plan = stack.run(&["plan", "--detailed-exitcode"]).code(0);
    assert!(plan.stdout.starts_with("No changes."), "{}", plan.stdout);
}

#[tokio::test]
async fn a_config_change_is_planned_as_exactly_that_update_then_converges() {
    let stack = Stack::new("dev", "change");
    stack.apply();
    stack.edit_config("shared.toml", |t| {
        t.replace("alb_ingress_ports = [80, 443]", "alb_ingress_ports = [80, 443, 8443]")
    });

    let plan = stack.run(&["plan", "--json", "--detailed-exitcode"]).code(2).json();
    let changes: Vec<&serde_json::Value> =
        plan["changes"].as_array().unwrap().iter().filter(|c| c["action"] != "no-op").collect();
    assert_eq!(changes.len(), 1, "{plan:#}");
    assert_eq!(changes[0]["id"], "security.sg.alb");
    assert_eq!(changes[0]["action"], "update");
    let fields = changes[0]["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0]["field"], "ingress");
    assert_eq!(fields[0]["before"].as_array().unwrap().len(), 2);
    assert_eq!(fields[0]["after"].as_array().unwrap().len(), 3);
    assert_eq!(fields[0]["forces_replacement"], false);

    let applied = stack.run(&["apply", "--yes"]).success();
    assert!(applied.stdout.contains("Apply complete: 1 updated, in "), "{}", applied.stdout);
    let client = ec2().await;
    let groups = client.describe_security_groups().filters(stack.filter()).send().await.unwrap();
    let alb =
        groups.security_groups().iter().find(|g| tags(g.tags())["paystack:resource"] == "security.sg.alb").unwrap();
    let mut ports: Vec<i32> = alb.ip_permissions().iter().filter_map(|p| p.from_port()).collect();
    ports.sort();
    assert_eq!(ports, [80, 443, 8443]);
    stack.run(&["plan", "--detailed-exitcode"]).code(0);
}

/// A VPC move replaces nearly everything. Only the plan is checked here: applying it needs
/// the old NAT gateway's Elastic IP for the new one, and the emulator, unlike AWS, keeps an
/// Elastic IP associated after its NAT gateway is deleted. The order of such a replacement is
/// proven by the engine's tests against a fake cloud that enforces AWS's dependency rules.
#[test]
fn a_vpc_cidr_change_is_planned_as_a_replacement_of_what_lives_in_it() {
    let stack = Stack::new("dev", "vpcmove");
    stack.apply();
    stack.edit_config("dev.toml", |t| t.replace("10.0.0.0/16", "10.5.0.0/16"));
    let plan = stack.run(&["plan", "--json"]).success().json();
    let action =
        |id: &str| plan["changes"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()["action"].clone();
    let vpc = plan["changes"].as_array().unwrap().iter().find(|c| c["id"] == "network.vpc").unwrap();
    assert_eq!(vpc["reason"], "cidr_block cannot be changed in place");
    for id in [
        "network.vpc",
        "network.subnet.private.c",
        "network.nat.a",
        "network.rt.public",
        "security.sg.db",
        "network.endpoint.s3",
        "network.flow_log",
        "network.default_sg",
        "network.default_acl",
        "network.acl.public",
        "network.acl.private",
        "security.sg.alb.to.app",
        "security.sg.app.to.db",
    ] {
        assert_eq!(action(id), "replace", "{id}");
    }
    // The internet gateway moves (detach, attach); the Elastic IP stays.
    assert_eq!(action("network.igw"), "update");
    assert_eq!(action("network.eip.nat-a"), "no-op");
    // The database, the load balancer and the services follow their subnets and security
    // groups in place; the target group, bound to its VPC, is replaced under a new name.
    for id in
        ["database.subnet_group", "database.cluster", "edge.alb", "app.payments-api.service", "app.worker.service"]
    {
        assert_eq!(action(id), "update", "{id}");
    }
    assert_eq!(action("edge.target_group"), "replace");
    // The discovery namespace lives in its VPC, and the discovery services in the namespace.
    for id in ["app.namespace", "app.payments-api.discovery", "app.worker.discovery"] {
        assert_eq!(action(id), "replace", "{id}");
    }
    // 17, the VPC's flow log, its adopted default group and ACL, the two network ACLs, the two group-to-group rules (their groups
    // are replaced), and the namespace with its two discovery services. Everything else (the
    // data layer among it: keys, table, buckets, parameters, the flow log's group and role,
    // the access logs and their bucket, the firewall, which follows the load balancer's ARN,
    // and its group) is untouched.
    assert_eq!(plan["summary"], serde_json::json!({"create": 0, "update": 7, "replace": 27, "delete": 0, "no_op": 61}));
}

#[tokio::test]
async fn a_replacement_that_aws_refuses_deletes_nothing() {
    let stack = Stack::new("dev", "subnetmv");
    stack.apply();
    let client = ec2().await;
    let before: std::collections::BTreeSet<String> = client
        .describe_subnets()
        .filters(stack.filter())
        .send()
        .await
        .unwrap()
        .subnets()
        .iter()
        .map(|s| s.subnet_id().unwrap().to_owned())
        .collect();
    // Smaller subnets at new offsets overlap the ones they replace.
    stack.edit_config("dev.toml", |t| t.replace("[network]", "[network]\nsubnet_newbits = 5"));
    let text = stack.run(&["plan"]).success().stdout;
    assert!(text.contains("cidr_block: \"10.0.16.0/20\" → \"10.0.8.0/21\" (forces replacement)"), "{text}");

    // New resources are created before old ones are deleted, so when AWS refuses the new
    // subnets the old network is still whole.
    let failed = stack.run(&["apply", "--yes"]).code(1);
    assert!(failed.stdout.contains("InvalidSubnet.Conflict"), "{}", failed.stdout);
    let after: std::collections::BTreeSet<String> = client
        .describe_subnets()
        .filters(stack.filter())
        .send()
        .await
        .unwrap()
        .subnets()
        .iter()
        .map(|s| s.subnet_id().unwrap().to_owned())
        .collect();
    assert_eq!(before, after);
    assert_eq!(live_counts(&stack).await, expected_counts("dev"));
}

#[tokio::test]
async fn destroy_leaves_nothing_tagged_for_the_stack() {
    let stack = Stack::new("dev", "destroy");
    stack.apply();
    let destroyed = stack.run(&["destroy", "--yes"]).success();
    assert!(
        destroyed.stdout.contains(&format!("Destroy complete: {} deleted, in ", expected_specs("dev"))),
        "{}",
        destroyed.stdout
    );
    assert!(live_counts(&stack).await.values().all(|n| *n == 0), "{:?}", live_counts(&stack).await);
    let state = stack.state().await.unwrap();
    assert_eq!(state["resources"], serde_json::json!({}));
}

#[tokio::test]
async fn prod_gets_a_nat_gateway_per_zone() {
    let stack = Stack::new("prod", "prodnat");
    stack.apply();
    let client = ec2().await;
    assert_eq!(live_counts(&stack).await, expected_counts("prod"));
    let tables = client.describe_route_tables().filters(stack.filter()).send().await.unwrap();
    let nats: std::collections::BTreeSet<&str> =
        tables.route_tables().iter().flat_map(|t| t.routes()).filter_map(|r| r.nat_gateway_id()).collect();
    assert_eq!(nats.len(), 3, "each private zone routes through its own NAT gateway");
    stack.run(&["destroy", "--yes", "--override-protection"]).success();
}

/// The subnet tiers' network ACLs and the three groups' egress, as a user finds them in AWS:
/// exactly the platform's own flows, both ways, and nothing else.
#[tokio::test]
async fn acls_and_egress_let_through_only_the_platforms_traffic() {
    let stack = Stack::new("dev", "acl");
    stack.apply();
    let client = ec2().await;
    let vpc = client.describe_vpcs().filters(stack.filter()).send().await.unwrap();
    let vpc_id = vpc.vpcs()[0].vpc_id().unwrap();
    let subnets = client.describe_subnets().filters(stack.filter()).send().await.unwrap();
    let subnet_of = |tier: &str| -> BTreeSet<String> {
        subnets
            .subnets()
            .iter()
            .filter(|s| tags(s.tags())["paystack:resource"].starts_with(&format!("network.subnet.{tier}.")))
            .map(|s| s.subnet_id().unwrap().to_owned())
            .collect()
    };

    // The tiers' two, beside the VPC's default one (adopted and emptied, read in `hardening`).
    let acls = client.describe_network_acls().filters(stack.filter()).send().await.unwrap();
    let acls: Vec<_> = acls.network_acls().iter().filter(|a| a.is_default() != Some(true)).collect();
    assert_eq!(acls.len(), 2);
    for acl in acls {
        let t = tags(acl.tags());
        let tier = t["paystack:resource"].trim_start_matches("network.acl.").to_owned();
        assert_eq!(t["Name"], format!("dev-us-east-1-network-{tier}-acl-{}", stack.suffix));
        assert_eq!(t["CostCenter"], "fin-platform-4471");
        assert_eq!(acl.vpc_id(), Some(vpc_id));
        assert_eq!(acl.is_default(), Some(false));
        let associated: BTreeSet<String> =
            acl.associations().iter().map(|a| a.subnet_id().unwrap().to_owned()).collect();
        assert_eq!(associated.len(), 3, "{tier}");
        assert_eq!(associated, subnet_of(&tier), "{tier}: every subnet of the tier, and only those");

        // (egress, rule number) → (cidr, from, to); every entry is a TCP allow.
        let entries: BTreeMap<(bool, i32), (String, i32, i32)> = acl
            .entries()
            .iter()
            .filter(|e| e.rule_number() != Some(32767))
            .map(|e| {
                assert_eq!(e.protocol(), Some("6"), "{tier}: {e:?}");
                assert_eq!(e.rule_action().map(|a| a.as_str()), Some("allow"), "{tier}: {e:?}");
                let ports = e.port_range().unwrap();
                let key = (e.egress().unwrap(), e.rule_number().unwrap());
                (key, (e.cidr_block().unwrap().to_owned(), ports.from().unwrap(), ports.to().unwrap()))
            })
            .collect();
        let entry =
            |egress: bool, rule: i32, cidr: &str, from: i32, to: i32| ((egress, rule), (cidr.to_owned(), from, to));
        let (inbound, outbound, anywhere, inside) = (false, true, "0.0.0.0/0", "10.0.0.0/16");
        let expected: BTreeMap<(bool, i32), (String, i32, i32)> = if tier == "public" {
            [
                entry(inbound, 100, anywhere, 80, 80),
                entry(inbound, 110, anywhere, 443, 443),
                entry(inbound, 200, inside, 443, 443),
                entry(inbound, 300, anywhere, 1024, 3388),
                entry(inbound, 310, anywhere, 3390, 65535),
                entry(outbound, 200, anywhere, 443, 443),
                entry(outbound, 210, inside, 8080, 8080),
                entry(outbound, 300, anywhere, 1024, 3388),
                entry(outbound, 310, anywhere, 3390, 65535),
            ]
            .into_iter()
            .collect()
        } else {
            [
                entry(inbound, 100, inside, 8080, 8080),
                entry(inbound, 110, inside, 5432, 5432),
                entry(inbound, 300, anywhere, 1024, 3388),
                entry(inbound, 310, anywhere, 3390, 65535),
                entry(outbound, 100, anywhere, 443, 443),
                entry(outbound, 110, inside, 5432, 5432),
                entry(outbound, 300, inside, 1024, 3388),
                entry(outbound, 310, inside, 3390, 65535),
            ]
            .into_iter()
            .collect()
        };
        assert_eq!(entries, expected, "{tier}");
        for (cidr, from, to) in entries.values() {
            assert!(!(*from..=*to).contains(&22) && !(*from..=*to).contains(&3389), "{tier}: {cidr} {from}-{to}");
        }
    }

    // Egress: the ALB only to the app's port on the app's group, the app to the database's
    // port on its group and HTTPS anywhere, the database nothing at all.
    let groups = client.describe_security_groups().filters(stack.filter()).send().await.unwrap();
    let group = |role: &str| {
        groups
            .security_groups()
            .iter()
            .find(|g| tags(g.tags())["paystack:resource"] == format!("security.sg.{role}"))
            .unwrap()
    };
    let egress = |role: &str| -> BTreeSet<(String, i32, i32, String)> {
        group(role)
            .ip_permissions_egress()
            .iter()
            .flat_map(|p| {
                let ranges = p.ip_ranges().iter().map(|r| r.cidr_ip().unwrap().to_owned());
                let groups = p.user_id_group_pairs().iter().map(|g| g.group_id().unwrap().to_owned());
                let rule =
                    (p.ip_protocol().unwrap().to_owned(), p.from_port().unwrap_or(-1), p.to_port().unwrap_or(-1));
                ranges.chain(groups).map(move |to| (rule.0.clone(), rule.1, rule.2, to))
            })
            .collect()
    };
    let id = |role: &str| group(role).group_id().unwrap().to_owned();
    assert_eq!(egress("alb"), BTreeSet::from([("tcp".to_owned(), 8080, 8080, id("app"))]));
    assert_eq!(
        egress("app"),
        BTreeSet::from([
            ("tcp".to_owned(), 5432, 5432, id("db")),
            ("tcp".to_owned(), 443, 443, "0.0.0.0/0".to_owned())
        ])
    );
    assert_eq!(egress("db"), BTreeSet::new(), "the database starts no connection");

    // The group-to-group rules are resources of their own, tagged as the stack's.
    let rules = client
        .describe_security_group_rules()
        .filters(Filter::builder().name("group-id").values(id("alb")).values(id("app")).build())
        .send()
        .await
        .unwrap();
    let owned: BTreeSet<String> = rules
        .security_group_rules()
        .iter()
        .filter(|r| r.is_egress() == Some(true) && r.referenced_group_info().is_some())
        .map(|r| {
            let t = tags(r.tags());
            assert_eq!(t["paystack:stack"], stack.key());
            assert_eq!(t["Environment"], "dev");
            t["paystack:resource"].clone()
        })
        .collect();
    assert_eq!(owned, BTreeSet::from(["security.sg.alb.to.app".to_owned(), "security.sg.app.to.db".to_owned()]));

    let plan = stack.run(&["plan", "--detailed-exitcode"]).code(0);
    assert!(plan.stdout.starts_with("No changes."), "{}", plan.stdout);

    stack.run(&["destroy", "--yes"]).success();
    assert!(live_counts(&stack).await.values().all(|n| *n == 0), "{:?}", live_counts(&stack).await);
    let left = client.describe_network_acls().filters(stack.filter()).send().await.unwrap();
    assert!(left.network_acls().is_empty());
}
