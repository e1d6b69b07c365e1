//! `import`: a resource made outside paystack, named by its AWS id or ARN, checked and given
//! the stack's ownership tags, so that every later read finds it as the stack's. Tags are
//! read and written through the Resource Groups Tagging API, the one interface that takes
//! any kind's ARN.

use paystack_platform::kinds;

/// Where a kind's ARNs live: the service and the start of the resource part, and for an EC2
/// kind the prefix of its ids (`vpc-`), from which its ARN is made.
struct Shape {
    service: &'static str,
    resource: &'static str,
    ec2_id: Option<&'static str>,
}

const fn shape(service: &'static str, resource: &'static str) -> Shape {
    Shape { service, resource, ec2_id: None }
}

const fn ec2(resource: &'static str, id: &'static str) -> Shape {
    Shape { service: "ec2", resource, ec2_id: Some(id) }
}

/// The ARN shape of `kind`, for the kinds that carry tags of their own. The others (a DNS
/// record, a security group rule, a secret's policy, a scaling policy...) are made and read
/// with the resource they belong to, and have nothing to import.
fn shape_of(kind: &str) -> Option<Shape> {
    Some(match kind {
        k if k == kinds::VPC.name => ec2("vpc/", "vpc-"),
        k if k == kinds::SUBNET.name => ec2("subnet/", "subnet-"),
        k if k == kinds::INTERNET_GATEWAY.name => ec2("internet-gateway/", "igw-"),
        k if k == kinds::ELASTIC_IP.name => ec2("elastic-ip/", "eipalloc-"),
        k if k == kinds::NAT_GATEWAY.name => ec2("natgateway/", "nat-"),
        k if k == kinds::ROUTE_TABLE.name => ec2("route-table/", "rtb-"),
        k if k == kinds::NETWORK_ACL.name => ec2("network-acl/", "acl-"),
        k if k == kinds::SECURITY_GROUP.name => ec2("security-group/", "sg-"),
        k if k == kinds::VPC_ENDPOINT.name => ec2("vpc-endpoint/", "vpce-"),
        k if k == kinds::TRANSIT_GATEWAY_ATTACHMENT.name => ec2("transit-gateway-attachment/", "tgw-attach-"),
        k if k == kinds::FLOW_LOG.name => ec2("vpc-flow-log/", "fl-"),
        k if k == kinds::BUCKET.name => shape("s3", ""),
        k if k == kinds::TABLE.name => shape("dynamodb", "table/"),
        k if k == kinds::KMS_KEY.name => shape("kms", "key/"),
        k if k == kinds::LOG_GROUP.name => shape("logs", "log-group:"),
        k if k == kinds::SECRET.name => shape("secretsmanager", "secret:"),
        k if k == kinds::TOPIC.name => shape("sns", ""),
        k if k == kinds::LOAD_BALANCER.name => shape("elasticloadbalancing", "loadbalancer/app/"),
        k if k == kinds::TARGET_GROUP.name => shape("elasticloadbalancing", "targetgroup/"),
        k if k == kinds::LISTENER.name => shape("elasticloadbalancing", "listener/app/"),
        k if k == kinds::ECS_CLUSTER.name => shape("ecs", "cluster/"),
        k if k == kinds::ECS_SERVICE.name => shape("ecs", "service/"),
        k if k == kinds::TASK_DEFINITION.name => shape("ecs", "task-definition/"),
        k if k == kinds::ALARM.name => shape("cloudwatch", "alarm:"),
        k if k == kinds::DB_CLUSTER.name => shape("rds", "cluster:"),
        k if k == kinds::DB_INSTANCE.name => shape("rds", "db:"),
        k if k == kinds::DB_SUBNET_GROUP.name => shape("rds", "subgrp:"),
        k if k == kinds::DB_CLUSTER_PARAMETER_GROUP.name => shape("rds", "cluster-pg:"),
        k if k == kinds::WEB_ACL.name => shape("wafv2", "regional/webacl/"),
        k if k == kinds::FUNCTION.name => shape("lambda", "function:"),
        k if k == kinds::EVENT_RULE.name => shape("events", "rule/"),
        k if k == kinds::PARAMETER.name => shape("ssm", "parameter/"),
        k if k == kinds::NAMESPACE.name => shape("servicediscovery", "namespace/"),
        k if k == kinds::DISCOVERY_SERVICE.name => shape("servicediscovery", "service/"),
        k if k == kinds::SCHEDULE.name => shape("scheduler", "schedule/"),
        _ => return None,
    })
}

/// Why a resource cannot be imported as it was named.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportError {
    #[error("a {kind} cannot be imported: {why}")]
    NotImportable { kind: String, why: &'static str },
    #[error("`{given}` is not the id or ARN of a resource of kind {kind}: {why}")]
    WrongKind { given: String, kind: String, why: String },
    #[error("{arn} is already the resource `{resource}` of the stack `{stack}`")]
    OwnedElsewhere { arn: String, stack: String, resource: String },
    #[error("{arn} does not exist, or these credentials cannot tag it: {reason}")]
    Missing { arn: String, reason: String },
    #[error("{0}")]
    Aws(String),
}

/// The ARN of the `kind` resource `given` names (its ARN, an EC2 id, or a bucket's name), in
/// `region` of `account`; checked to be of that kind and in that place.
pub fn arn_of(kind: &str, given: &str, partition: &str, region: &str, account: &str) -> Result<String, ImportError> {
    let wrong = |why: String| ImportError::WrongKind { given: given.to_owned(), kind: kind.to_owned(), why };
    let shape = shape_of(kind).ok_or(ImportError::NotImportable {
        kind: kind.to_owned(),
        why: if kind == kinds::IAM_ROLE.name {
            "an IAM role is tagged through IAM, not the tagging API import uses; not supported yet"
        } else {
            "it is made and read with the resource it belongs to, and adopted with it"
        },
    })?;
    if !given.starts_with("arn:") {
        return match (shape.ec2_id, shape.service) {
            (Some(prefix), _) if given.starts_with(prefix) => {
                Ok(format!("arn:{partition}:ec2:{region}:{account}:{}{given}", shape.resource))
            }
            (Some(prefix), _) => Err(wrong(format!("its id starts with `{prefix}`"))),
            (None, "s3") => Ok(format!("arn:{partition}:s3:::{given}")),
            (None, service) => Err(wrong(format!(
                "name it by its ARN, arn:{partition}:{service}:{region}:{account}:{}…",
                shape.resource
            ))),
        };
    }
    // A log group's ARN as its listing gives it ends in `:*`, which names its streams.
    let given = if shape.service == "logs" { given.strip_suffix(":*").unwrap_or(given) } else { given };
    let parts: Vec<&str> = given.splitn(6, ':').collect();
    let [_, _, service, arn_region, arn_account, resource] = parts[..] else {
        return Err(wrong("it is not an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE)".to_owned()));
    };
    if service != shape.service || !resource.starts_with(shape.resource) {
        return Err(wrong(format!(
            "its ARN is of {service} `{resource}`, not {} `{}…`",
            shape.service, shape.resource
        )));
    }
    if shape.service != "s3" && (arn_region != region || arn_account != account) {
        return Err(wrong(format!(
            "it is in {arn_account} {arn_region}, and the configuration places it in {account} {region}"
        )));
    }
    Ok(given.to_owned())
}

/// The ownership tags `arn` carries now: the stack's and the resource's, if any. AWS lists
/// only resources that are or were tagged, so nothing may also mean an untagged resource.
pub async fn owner(clients: &crate::Clients, arn: &str) -> Result<Option<(String, String)>, ImportError> {
    use paystack_core::stack::{RESOURCE_TAG, STACK_TAG};
    let out = clients
        .tagging
        .get_resources()
        .resource_arn_list(arn)
        .send()
        .await
        .map_err(|e| ImportError::Aws(format!("cannot read the tags of {arn}: {}", crate::error::describe(&e))))?;
    let Some(mapping) = out.resource_tag_mapping_list().first() else { return Ok(None) };
    let tag = |key: &str| mapping.tags().iter().find(|t| t.key() == key).map(|t| t.value().to_owned());
    Ok(tag(STACK_TAG).map(|stack| (stack, tag(RESOURCE_TAG).unwrap_or_default())))
}

/// Gives `arn` the ownership tags of `stack`'s resource `id`.
pub async fn tag(clients: &crate::Clients, arn: &str, stack: &str, id: &str) -> Result<(), ImportError> {
    use paystack_core::stack::{RESOURCE_TAG, STACK_TAG};
    let out = clients
        .tagging
        .tag_resources()
        .resource_arn_list(arn)
        .tags(STACK_TAG, stack)
        .tags(RESOURCE_TAG, id)
        .send()
        .await
        .map_err(|e| ImportError::Aws(format!("cannot tag {arn}: {}", crate::error::describe(&e))))?;
    match out.failed_resources_map().and_then(|failed| failed.get(arn)) {
        None => Ok(()),
        Some(failure) => Err(ImportError::Missing {
            arn: arn.to_owned(),
            reason: failure.error_message().unwrap_or("AWS gave no reason").to_owned(),
        }),
    }
}

/// Takes the ownership tags off `arn` again: an import that could not finish leaves the
/// resource as it found it.
pub async fn untag(clients: &crate::Clients, arn: &str) -> Result<(), ImportError> {
    use paystack_core::stack::{RESOURCE_TAG, STACK_TAG};
    clients
        .tagging
        .untag_resources()
        .resource_arn_list(arn)
        .tag_keys(STACK_TAG)
        .tag_keys(RESOURCE_TAG)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| ImportError::Aws(format!("cannot take the tags off {arn} again: {}", crate::error::describe(&e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_or_arn_is_checked_against_the_kind_and_its_place() {
        let arn = |kind: &str, given: &str| arn_of(kind, given, "aws", "us-east-1", "123456789012");
        assert_eq!(arn("ec2.vpc", "vpc-0abc"), Ok("arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0abc".into()));
        assert_eq!(arn("s3.bucket", "my-bucket"), Ok("arn:aws:s3:::my-bucket".into()));
        let table = "arn:aws:dynamodb:us-east-1:123456789012:table/dev-sessions";
        assert_eq!(arn("dynamodb.table", table), Ok(table.into()));

        assert!(matches!(arn("ec2.vpc", "subnet-1"), Err(ImportError::WrongKind { .. })));
        let elsewhere = arn("dynamodb.table", "arn:aws:dynamodb:eu-west-1:123456789012:table/x").unwrap_err();
        assert!(elsewhere.to_string().contains("the configuration places it in 123456789012 us-east-1"), "{elsewhere}");
        let other = arn("dynamodb.table", "arn:aws:s3:::bucket").unwrap_err();
        assert!(other.to_string().contains("not dynamodb `table/…`"), "{other}");
        let by_name = arn("logs.log_group", "dev-app").unwrap_err();
        assert!(by_name.to_string().contains("arn:aws:logs:us-east-1:123456789012:log-group:"), "{by_name}");
        let group = "arn:aws:logs:us-east-1:123456789012:log-group:dev-app";
        assert_eq!(arn("logs.log_group", &format!("{group}:*")), Ok(group.into()), "as its listing writes it");
        assert!(matches!(arn("route53.record", "x"), Err(ImportError::NotImportable { .. })));
        assert!(matches!(arn("iam.role", "x"), Err(ImportError::NotImportable { .. })));
    }
}
