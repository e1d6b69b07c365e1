//! Trust policies for the roles AWS services take on the platform's behalf, each guarded
//! against the confused deputy: the service may take the role only when it acts for this
//! account (`aws:SourceAccount`) and, where the service names it, for this environment's
//! resources (`aws:SourceArn`).

use serde_json::{Value, json};

/// Who may take a role, and for what.
pub(super) enum Trusted<'a> {
    /// ECS tasks of the account's clusters in `region`: task and execution roles.
    EcsTasks { region: &'a str },
    /// S3 replicating from `bucket`.
    S3Replication { bucket: &'a str },
    /// EventBridge Scheduler, for the schedules of `group` in `region`.
    Scheduler { region: &'a str, group: &'a str },
    /// VPC flow-log delivery in `region`.
    FlowLogs { region: &'a str },
    /// Lambda, for a function's execution role. Lambda sends neither key when it takes one,
    /// so a condition would refuse Lambda itself; only `lambda.amazonaws.com` is trusted.
    Lambda,
}

impl Trusted<'_> {
    fn service(&self) -> &'static str {
        match self {
            Self::EcsTasks { .. } => "ecs-tasks.amazonaws.com",
            Self::S3Replication { .. } => "s3.amazonaws.com",
            Self::Scheduler { .. } => "scheduler.amazonaws.com",
            Self::FlowLogs { .. } => "vpc-flow-logs.amazonaws.com",
            Self::Lambda => "lambda.amazonaws.com",
        }
    }

    /// The ARNs the service acts for, as AWS names them in `aws:SourceArn`.
    fn source_arn(&self, account: &str) -> Option<String> {
        match self {
            Self::EcsTasks { region } => Some(format!("arn:aws:ecs:{region}:{account}:*")),
            Self::S3Replication { bucket } => Some(format!("arn:aws:s3:::{bucket}")),
            Self::Scheduler { region, group } => {
                Some(format!("arn:aws:scheduler:{region}:{account}:schedule-group/{group}"))
            }
            Self::FlowLogs { region } => Some(format!("arn:aws:ec2:{region}:{account}:vpc-flow-log/*")),
            Self::Lambda => None,
        }
    }
}

/// The trust policy that lets `who` take a role of `account`, and nothing else.
pub(super) fn may_assume(who: &Trusted<'_>, account: &str) -> Value {
    let mut statement = json!({
        "Effect": "Allow",
        "Principal": { "Service": who.service() },
        "Action": "sts:AssumeRole",
    });
    if let Some(arn) = who.source_arn(account) {
        statement["Condition"] = json!({
            "StringEquals": { "aws:SourceAccount": account },
            "ArnLike": { "aws:SourceArn": arn },
        });
    }
    json!({ "Version": "2012-10-17", "Statement": [statement] })
}

#[cfg(test)]
mod tests {
    use paystack_core::spec::Expr;
    use serde_json::Value;

    use crate::blueprint::tests::env;
    use crate::{Lookups, blueprint};

    /// Every role a service takes, in an environment with all of them (the compliance
    /// function, scheduled drift, replication), is held to this account and, but for Lambda's,
    /// to the environment's own resources.
    #[test]
    fn every_role_a_service_takes_is_guarded_against_the_confused_deputy() {
        let mut e = env("prod", "10.2.0.0/16", 3);
        e.replica_region = Some("eu-west-1".into());
        e.compliance.function = true;
        e.drift.schedule = Some(paystack_config::DriftSchedule {
            expression: "rate(15 minutes)".into(),
            image: "public.ecr.aws/paystack/paystack:0.1.0".into(),
            fix: false,
            cpu: 256,
            memory: 512,
        });
        let lookups = Lookups { account_id: Some("123456789012".into()), ..Lookups::default() };
        let b = blueprint(&e, &lookups).unwrap();
        let mut seen = Vec::new();
        for role in b.specs.iter().filter(|s| s.kind.as_str() == "iam.role") {
            let Expr::Literal(trust) = &role.fields["assume_role_policy"] else { panic!("{}: not literal", role.id) };
            let statement = &trust["Statement"][0];
            let service = statement["Principal"]["Service"].as_str().unwrap();
            let condition = &statement["Condition"];
            if service == "lambda.amazonaws.com" {
                assert_eq!(condition, &Value::Null, "{}", role.id);
            } else {
                assert_eq!(condition["StringEquals"]["aws:SourceAccount"], "123456789012", "{}", role.id);
                let arn = condition["ArnLike"]["aws:SourceArn"].as_str().unwrap_or_default();
                let expected = match service {
                    "ecs-tasks.amazonaws.com" => "arn:aws:ecs:us-east-1:123456789012:*",
                    "scheduler.amazonaws.com" => "arn:aws:scheduler:us-east-1:123456789012:schedule-group/default",
                    "s3.amazonaws.com" => "arn:aws:s3:::prod-us-east-1-artifacts-123456789012",
                    "vpc-flow-logs.amazonaws.com" => "arn:aws:ec2:us-east-1:123456789012:vpc-flow-log/*",
                    other => panic!("{}: an unexpected service {other}", role.id),
                };
                assert_eq!(arn, expected, "{}", role.id);
            }
            seen.push(service);
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(
            seen,
            [
                "ecs-tasks.amazonaws.com",
                "lambda.amazonaws.com",
                "s3.amazonaws.com",
                "scheduler.amazonaws.com",
                "vpc-flow-logs.amazonaws.com",
            ]
        );
    }
}
