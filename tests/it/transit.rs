//! The Transit Gateway (`[transit_gateway]`): made once by `paystack bootstrap
//! --transit-gateway`; each environment attaches its private subnets to it and gets a route
//! table of its own there, whose only route goes to shared services. The emulator cannot
//! attach one account's VPC to another account's gateway, so this applies with every
//! environment in one account; `accounts.rs` covers the share and the plan across accounts.

use aws_sdk_ec2 as ec2;
use ec2::types::Filter;

use crate::support::{Run, Stack, binary, ec2, endpoint, live_resources};

pub(crate) const SHARED_SERVICES: &str = "10.100.0.0/16";

/// Gives the stack's configuration a project of its own (the gateway is found by project)
/// and a `[transit_gateway]`, with `owner` lines (account and role) if any.
pub(crate) fn with_gateway(stack: &Stack, owner: &str) -> String {
    let project = format!("tgw{}", stack.suffix);
    stack.edit_config("shared.toml", |t| {
        assert!(t.contains("project = \"paystack\""), "shared.toml names the project");
        t.replace("project = \"paystack\"", &format!("project = \"{project}\""))
            + &format!("\n[transit_gateway]\n{owner}shared_services_cidr = \"{SHARED_SERVICES}\"\n")
    });
    project
}

/// `paystack bootstrap --transit-gateway`: it knows no environment or suffix.
pub(crate) fn bootstrap_gateway(stack: &Stack) -> Run {
    let mut cmd = std::process::Command::new(binary());
    cmd.arg("--config").arg(stack.config.path()).args(["bootstrap", "--transit-gateway"]);
    cmd.env("AWS_ENDPOINT_URL", endpoint()).env("NO_COLOR", "1").env_remove("PAYSTACK_LOG");
    Run::from(cmd.output().unwrap())
}

/// The project's gateway, as the account the helpers act in sees it.
pub(crate) async fn gateway_of(project: &str) -> ec2::types::TransitGateway {
    let by_project = Filter::builder().name("tag:paystack:transit-gateway").values(project).build();
    let out = ec2().await.describe_transit_gateways().filters(by_project).send().await.unwrap();
    assert_eq!(out.transit_gateways().len(), 1, "one gateway per project: {out:?}");
    out.transit_gateways()[0].clone()
}

/// The network team's side, which paystack never makes: a shared-services VPC attached to
/// the gateway. Returns the attachment's id.
pub(crate) async fn attach_shared_services(gateway: &str) -> String {
    let client = ec2().await;
    let vpc = client.create_vpc().cidr_block(SHARED_SERVICES).send().await.unwrap();
    let vpc = vpc.vpc().and_then(|v| v.vpc_id()).unwrap().to_owned();
    let subnet = client.create_subnet().vpc_id(&vpc).cidr_block("10.100.0.0/24").send().await.unwrap();
    let subnet = subnet.subnet().and_then(|s| s.subnet_id()).unwrap().to_owned();
    let attachment = client
        .create_transit_gateway_vpc_attachment()
        .transit_gateway_id(gateway)
        .vpc_id(&vpc)
        .subnet_ids(subnet)
        .send()
        .await
        .unwrap();
    attachment.transit_gateway_vpc_attachment().and_then(|a| a.transit_gateway_attachment_id()).unwrap().to_owned()
}

fn by_stack(key: &str) -> Filter {
    Filter::builder().name("tag:paystack:stack").values(key).build()
}

#[tokio::test]
async fn environments_reach_shared_services_through_the_gateway_and_never_each_other() {
    let mut stack = Stack::new("dev", "tgw");
    let project = with_gateway(&stack, "");
    let envs = [("dev", "10.0.0.0/16"), ("staging", "10.1.0.0/16")];
    let every_env = |args: &[&str]| Run::from(stack.command_for_every_env(args).output().unwrap());

    // Before the gateway exists, a plan says how to make it, and nothing is changed.
    let refused = stack.run(&["plan"]).code(1);
    assert!(
        refused.stderr.contains(&format!("there is no Transit Gateway of project `{project}`")),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("paystack bootstrap --transit-gateway"), "{}", refused.stderr);

    let made = bootstrap_gateway(&stack).success();
    println!("bootstrap --transit-gateway:\n{}", made.stdout);
    assert!(made.stdout.contains("created"), "{}", made.stdout);
    let again = bootstrap_gateway(&stack).success();
    assert!(again.stdout.contains("nothing needed changing"), "a second run changes nothing: {}", again.stdout);
    let gateway = gateway_of(&project).await;
    let tgw = gateway.transit_gateway_id().unwrap().to_owned();
    let options = gateway.options().unwrap();
    assert_eq!(options.default_route_table_association().map(|o| o.as_str()), Some("disable"));
    assert_eq!(options.default_route_table_propagation().map(|o| o.as_str()), Some("disable"));

    // Without the shared-services VPC attached, there is nowhere to route to.
    let refused = stack.run(&["plan"]).code(1);
    assert!(refused.stderr.contains("holds the shared services range 10.100.0.0/16"), "{}", refused.stderr);
    let shared = attach_shared_services(&tgw).await;

    let applied = every_env(&["apply", "--env", "dev,staging", "--yes"]);
    assert_eq!(applied.code, 0, "{}\n{}", applied.stdout, applied.stderr);

    let client = ec2().await;
    for (env, cidr) in envs {
        let key = format!("{env}-{}", stack.suffix);
        // The emulator ignores the gateway calls' tag filters, so the stack's tag is checked
        // here too.
        let ours = |tags: &[ec2::types::Tag]| crate::support::tags(tags).get("paystack:stack") == Some(&key);
        let attachments =
            client.describe_transit_gateway_vpc_attachments().filters(by_stack(&key)).send().await.unwrap();
        let attachments: Vec<_> =
            attachments.transit_gateway_vpc_attachments().iter().filter(|a| ours(a.tags())).collect();
        let [attachment] = attachments.as_slice() else { panic!("{env}: one attachment: {attachments:?}") };
        let vpcs = client.describe_vpcs().filters(by_stack(&key)).send().await.unwrap();
        let [vpc] = vpcs.vpcs() else { panic!("{env}: one VPC") };
        assert_eq!(vpc.cidr_block(), Some(cidr));
        assert_eq!(attachment.vpc_id(), vpc.vpc_id(), "{env}: its own VPC is attached");
        assert_eq!(attachment.transit_gateway_id(), Some(tgw.as_str()));
        let private = Filter::builder().name("tag:paystack:resource").values("network.subnet.private.*").build();
        let subnets = client.describe_subnets().filters(by_stack(&key)).filters(private).send().await.unwrap();
        let mut want: Vec<&str> = subnets.subnets().iter().filter_map(|s| s.subnet_id()).collect();
        let mut have: Vec<&str> = attachment.subnet_ids().iter().map(String::as_str).collect();
        want.sort();
        have.sort();
        assert_eq!(want.len(), 3, "{env}: a private subnet per zone");
        assert_eq!(have, want, "{env}: on its private subnets, and only those");
        let tags = crate::support::tags(attachment.tags());
        assert_eq!(tags.get("Environment").map(String::as_str), Some(env), "{env}: tagged: {tags:?}");

        let tables = client.describe_transit_gateway_route_tables().filters(by_stack(&key)).send().await.unwrap();
        let tables: Vec<_> = tables.transit_gateway_route_tables().iter().filter(|t| ours(t.tags())).collect();
        let [table] = tables.as_slice() else { panic!("{env}: one gateway route table: {tables:?}") };
        let table_id = table.transit_gateway_route_table_id().unwrap();
        assert_eq!(table.transit_gateway_id(), Some(tgw.as_str()));
        let associations = client
            .get_transit_gateway_route_table_associations()
            .transit_gateway_route_table_id(table_id)
            .send()
            .await
            .unwrap();
        let associated: Vec<_> =
            associations.associations().iter().filter_map(|a| a.transit_gateway_attachment_id()).collect();
        assert_eq!(associated, [attachment.transit_gateway_attachment_id().unwrap()], "{env}: its attachment alone");

        // Every route of the table, static or propagated: exactly the one to shared services.
        let any = Filter::builder().name("type").values("static").values("propagated").build();
        let routes = client
            .search_transit_gateway_routes()
            .transit_gateway_route_table_id(table_id)
            .filters(any)
            .send()
            .await
            .unwrap();
        let seen: Vec<(&str, &str)> = routes
            .routes()
            .iter()
            .map(|r| {
                let to = r.transit_gateway_attachments().first().and_then(|a| a.transit_gateway_attachment_id());
                (r.destination_cidr_block().unwrap_or_default(), to.unwrap_or_default())
            })
            .collect();
        assert_eq!(
            seen,
            [(SHARED_SERVICES, shared.as_str())],
            "{env}: only shared services, never another environment"
        );
        for (other, other_cidr) in envs.iter().filter(|(e, _)| *e != env) {
            assert!(!seen.iter().any(|(d, _)| d == other_cidr), "{env} has a route to {other}");
        }

        // In the VPC, each private route table sends shared services to the gateway; the
        // public one does not.
        let vpc_tables = client.describe_route_tables().filters(by_stack(&key)).send().await.unwrap();
        assert_eq!(vpc_tables.route_tables().len(), 4, "{env}: a public and three private route tables");
        for rt in vpc_tables.route_tables() {
            let resource = crate::support::tags(rt.tags()).get("paystack:resource").cloned().unwrap_or_default();
            let to_gateway = rt
                .routes()
                .iter()
                .any(|r| r.destination_cidr_block() == Some(SHARED_SERVICES) && r.transit_gateway_id() == Some(&tgw));
            assert_eq!(to_gateway, resource.starts_with("network.rt.private."), "{env}: {resource}");
        }
    }

    let replanned = every_env(&["plan", "--env", "dev,staging", "--detailed-exitcode"]);
    assert_eq!(replanned.code, 0, "a second plan is empty: {}\n{}", replanned.stdout, replanned.stderr);

    let destroyed = every_env(&["destroy", "--env", "dev,staging", "--yes"]);
    assert_eq!(destroyed.code, 0, "{}", destroyed.stderr);
    for (env, _) in envs {
        stack.env = env;
        let left = live_resources(&stack).await;
        assert!(left.is_empty(), "{env}: destroy leaves nothing, attachment and gateway table included: {left:#?}");
    }
    // The gateway and the shared-services side are not the environments': they stay.
    assert_eq!(gateway_of(&project).await.transit_gateway_id(), Some(tgw.as_str()));
}
