//! The security layer: a security group per tier, least privilege both ways. The internet
//! reaches only the load balancer, the load balancer only the application port, the
//! application only the database port (and HTTPS out, for AWS's APIs and image pulls through
//! NAT); the database sends nothing of its own.

use super::network::Network;
use super::{BlueprintError, Builder};
use crate::kinds::{Handle, SecurityGroup, SecurityGroupRule, SecurityGroupRuleSpec};

/// What the other layers build on.
pub(super) struct Security {
    pub(super) alb: Handle<SecurityGroup>,
    pub(super) app: Handle<SecurityGroup>,
    pub(super) db: Handle<SecurityGroup>,
}

pub(super) fn security(b: &mut Builder<'_>, network: &Network) -> Result<Security, BlueprintError> {
    let sec = &b.env.security;
    let alb_ingress = sec
        .alb_ingress_ports
        .iter()
        .map(|p| to_cidr(*p, "0.0.0.0/0", &format!("port {p} from the internet")))
        .collect();
    let alb = group(b, network, "alb", "Load balancer: web traffic from the internet", alb_ingress, Vec::new())?;
    let app = group(
        b,
        network,
        "app",
        "Application: traffic from the load balancer only",
        vec![from_group(sec.app_port, &alb, "application port from the load balancer")],
        vec![to_cidr(443, "0.0.0.0/0", "HTTPS to AWS APIs and image registries, through NAT")],
    )?;
    let db = group(
        b,
        network,
        "db",
        "Database: traffic from the application only",
        vec![from_group(sec.db_port, &app, "database port from the application")],
        Vec::new(),
    )?;
    // Egress to another group is a resource of its own: the group it reaches already names
    // this one in its ingress, so an inline rule would make the two depend on each other.
    egress_to_group(b, ("alb", &alb), ("app", &app), sec.app_port, "application port to the application")?;
    egress_to_group(b, ("app", &app), ("db", &db), sec.db_port, "database port to the database")?;
    Ok(Security { alb, app, db })
}

fn group(
    b: &mut Builder<'_>,
    network: &Network,
    role: &str,
    description: &str,
    ingress: Vec<SecurityGroupRuleSpec>,
    egress: Vec<SecurityGroupRuleSpec>,
) -> Result<Handle<SecurityGroup>, BlueprintError> {
    b.add(&format!("security.sg.{role}"), ("security", &format!("{role}-sg")), |n| SecurityGroup {
        vpc_id: network.vpc.id(),
        group_name: n.name,
        description: description.to_owned(),
        ingress,
        egress,
        tags: n.tags,
    })
}

fn egress_to_group(
    b: &mut Builder<'_>,
    (from_role, from): (&str, &Handle<SecurityGroup>),
    (to_role, to): (&str, &Handle<SecurityGroup>),
    port: u16,
    description: &str,
) -> Result<Handle<SecurityGroupRule>, BlueprintError> {
    b.add(&format!("security.sg.{from_role}.to.{to_role}"), ("security", &format!("{from_role}-to-{to_role}")), |n| {
        SecurityGroupRule {
            security_group_id: from.id(),
            protocol: "tcp".into(),
            from_port: port.into(),
            to_port: port.into(),
            destination_security_group_id: to.id(),
            description: description.to_owned(),
            tags: n.tags,
        }
    })
}

fn to_cidr(port: u16, cidr: &str, description: &str) -> SecurityGroupRuleSpec {
    SecurityGroupRuleSpec {
        protocol: "tcp".into(),
        from_port: port.into(),
        to_port: port.into(),
        cidr_ipv4: Some(cidr.to_owned()),
        cidr_ipv6: None,
        source_security_group_id: None,
        description: description.to_owned(),
    }
}

fn from_group(port: u16, source: &Handle<SecurityGroup>, description: &str) -> SecurityGroupRuleSpec {
    SecurityGroupRuleSpec {
        protocol: "tcp".into(),
        from_port: port.into(),
        to_port: port.into(),
        cidr_ipv4: None,
        cidr_ipv6: None,
        source_security_group_id: Some(source.id()),
        description: description.to_owned(),
    }
}
