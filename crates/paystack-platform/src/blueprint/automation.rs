//! What the platform runs to watch itself, where the configuration turns it on:
//! - the compliance function: one EventBridge rule per watched service, with a pattern that
//!   lists exactly the calls that can break a rule ([`crate::watch::TRIGGERS`]), narrowed to
//!   the stack's names where the call names its resource by name; each rule's permission to
//!   invoke the function; the function, its log group and its read-only role;
//! - drift on a schedule: an EventBridge Scheduler schedule that runs `paystack drift
//!   --notify` as a Fargate task in the private subnets, its task definition and log group,
//!   the task's read-only role, its execution role, and the scheduler's role.
//!
//! Every role carries the environment's boundary; neither read-only role may read a secret.

use std::collections::BTreeMap;

use paystack_core::Input;
use serde_json::{Value, json};

use super::alerts::Alerts;
use super::compute::{Compute, allow_where};
use super::network::Network;
use super::security::Security;
use super::storage::Storage;
use super::trust::{Trusted, may_assume};
use super::{BlueprintError, Builder, Lookups, Named};
use crate::kinds::{
    self, Container, EventRule, EventTarget, Function, FunctionPermission, IamRole, LogGroup, PolicyDocument, Schedule,
    ScheduleTarget, Statement, TaskDefinition, each,
};
use crate::watch::{Expectations, TRIGGERS, watched};

/// The function's package as this run read it: where, and its SHA-256 as Lambda reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionPackage {
    pub path: String,
    /// Base64, as Lambda's `CodeSha256`.
    pub sha256: String,
}

/// The runtime the function's `bootstrap` executable runs on.
pub const FUNCTION_RUNTIME: &str = "provided.al2023";
/// The container that runs paystack in the drift task.
const DRIFT_CONTAINER: &str = "paystack";

pub(super) fn automation(
    b: &mut Builder<'_>,
    lookups: &Lookups,
    network: &Network,
    security: &Security,
    storage: &Storage,
    alerts: &Alerts,
    compute: &Compute,
) -> Result<(), BlueprintError> {
    if b.env.compliance.function {
        compliance(b, lookups, storage, alerts)?;
    }
    if b.env.drift.schedule.is_some() {
        drift_schedule(b, network, security, storage, alerts, compute)?;
    }
    Ok(())
}

/// The `nonroot` user of the distroless image paystack's Dockerfile builds on.
const PAYSTACK_IMAGE_USER: &str = "65532";

/// The schedule group the drift schedule is in, and its role's trust names.
const SCHEDULE_GROUP: &str = "default";

/// What every role of this module shares: the stack's role path, the environment's
/// boundary, and the account whose resources alone the service may act for.
struct Roles {
    path: String,
    boundary: Option<String>,
    account: String,
}

impl Roles {
    fn of(b: &Builder<'_>, account: &str) -> Self {
        Self {
            path: kinds::role_path(&b.stack.key()),
            boundary: crate::bootstrap::boundary_arn(b.env),
            account: account.to_owned(),
        }
    }

    fn role(&self, n: Named, trusted: &Trusted<'_>, statements: Vec<Statement>) -> IamRole {
        IamRole {
            name: n.name,
            path: self.path.clone(),
            assume_role_policy: may_assume(trusted, &self.account),
            policy: PolicyDocument { version: "2012-10-17".into(), statement: statements },
            other_policies: BTreeMap::new(),
            managed_policy_arns: Vec::new(),
            permissions_boundary: self.boundary.clone(),
            tags: n.tags,
        }
    }
}

/// A statement of the bootstrap's JSON as a role's typed one.
fn typed(statement: &Value) -> Statement {
    let strings = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            v => v.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect(),
        }
    };
    Statement {
        effect: statement["Effect"].as_str().unwrap_or("Allow").to_owned(),
        action: strings(&statement["Action"]),
        resource: strings(&statement["Resource"]).into_iter().map(Input::from).collect(),
        condition: statement["Condition"].clone(),
    }
}

fn in_region(region: &str, actions: &[&str], resources: Vec<Input<String>>) -> Statement {
    allow_where(actions, resources, json!({ "StringEquals": { "aws:RequestedRegion": region } }))
}

fn compliance(
    b: &mut Builder<'_>,
    lookups: &Lookups,
    storage: &Storage,
    alerts: &Alerts,
) -> Result<(), BlueprintError> {
    let env = b.env;
    let account = storage.account.clone();
    let prefix = format!("{}-{}-", env.name, env.region);
    let logs = b.add("compliance.logs", ("compliance", "function-logs"), |n| LogGroup {
        name: n.name,
        retention_in_days: env.logs.retention_days,
        kms_key_id: storage.key.arn(),
        tags: n.tags,
    })?;
    let mut statements: Vec<Statement> =
        crate::bootstrap::read_only_statements(env, &account, false).iter().map(typed).collect();
    statements.push(in_region(
        &env.region,
        &["logs:CreateLogStream", "logs:PutLogEvents"],
        vec![logs.arn(), logs.streams_arn()],
    ));
    statements.push(in_region(&env.region, &["sns:Publish"], vec![alerts.topic.arn()]));
    // The topic and the function's variables are encrypted with the environment's key.
    statements.push(in_region(&env.region, &["kms:Decrypt", "kms:GenerateDataKey"], vec![storage.key.arn()]));
    let roles = Roles::of(b, &account);
    let role = b.add("compliance.role", ("compliance", "role"), |n| roles.role(n, &Trusted::Lambda, statements))?;
    let expectations = serde_json::to_string(&Expectations::of(env)).unwrap_or_default();
    let mut variables = BTreeMap::from([
        ("PAYSTACK_ENVIRONMENT".to_owned(), Input::from(env.name.as_str())),
        ("PAYSTACK_STACK".to_owned(), Input::from(b.stack.key())),
        ("PAYSTACK_NAME_PREFIX".to_owned(), Input::from(prefix.as_str())),
        ("PAYSTACK_TOPIC_ARN".to_owned(), alerts.topic.arn()),
        ("PAYSTACK_EXPECTATIONS".to_owned(), Input::from(expectations)),
    ]);
    if let Some(suffix) = &env.suffix {
        variables.insert("PAYSTACK_NAME_SUFFIX".to_owned(), Input::from(format!("-{suffix}")));
    }
    let package = lookups.function_package.clone();
    let function = b.add("compliance.function", ("compliance", "function"), |n| Function {
        name: n.name,
        role_arn: role.arn(),
        runtime: FUNCTION_RUNTIME.into(),
        handler: "bootstrap".into(),
        architecture: "x86_64".into(),
        memory_mb: env.compliance.memory_mb,
        timeout_seconds: env.compliance.timeout_seconds,
        environment: variables,
        kms_key_arn: storage.key.arn(),
        log_group: logs.name(),
        code_sha256: package.as_ref().map_or_else(|| super::NOT_LOOKED_UP.to_owned(), |p| p.sha256.clone()),
        package: package.map(|p| p.path).unwrap_or_default(),
        tags: n.tags,
    })?;
    let stack_key = b.stack.key();
    for (source, events) in watched() {
        let service = source.trim_start_matches("aws.");
        let id = format!("compliance.events.{service}");
        let pattern = pattern(source, &events, &narrowing(source, &prefix, &env.region, &account));
        let rule = b.add(&id, ("compliance", service), |n| EventRule {
            name: n.name,
            description: format!("The calls to {service} that can break a compliance rule of {stack_key}"),
            event_pattern: pattern,
            targets: vec![EventTarget { id: "compliance".into(), arn: function.arn() }],
            tags: n.tags,
        })?;
        let permission_id = format!("{id}.permission");
        let permission = FunctionPermission {
            function_name: function.name(),
            statement_id: kinds::statement_id(&stack_key, &permission_id),
            action: "lambda:InvokeFunction".into(),
            principal: "events.amazonaws.com".into(),
            source_arn: rule.arn(),
            source_account: account.clone(),
        };
        b.setting(&permission_id, &rule, &permission)?;
    }
    Ok(())
}

/// The pattern of the rule for `source`: CloudTrail's record of exactly `events`, and, where
/// the calls name their resource by name, only the stack's names.
fn pattern(source: &str, events: &[&str], narrowing: &[Value]) -> String {
    let service = source.trim_start_matches("aws.");
    let mut detail = json!({
        "eventSource": [format!("{service}.amazonaws.com")],
        "eventName": events,
    });
    let parameters: Vec<&str> = TRIGGERS.iter().filter(|t| t.source == source).map(|t| t.parameter).collect();
    if let [first, rest @ ..] = parameters.as_slice()
        && rest.iter().all(|p| p == first)
        && !narrowing.is_empty()
    {
        detail["requestParameters"] = json!({ *first: narrowing });
    }
    let pattern = json!({
        "source": [source],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": detail,
    });
    // serde_json's maps are sorted: the text is the same on every run.
    pattern.to_string()
}

/// How the calls of `source` name the stack's resources, as EventBridge prefix matches; empty
/// where they name them by generated ids (groups, ACLs, keys, listeners) or by more than one
/// parameter (RDS), which the pattern cannot narrow.
fn narrowing(source: &str, prefix: &str, region: &str, account: &str) -> Vec<Value> {
    let starts = |p: String| json!({ "prefix": p });
    match source {
        "aws.s3" | "aws.iam" | "aws.dynamodb" | "aws.logs" => vec![starts(prefix.to_owned())],
        "aws.secretsmanager" => vec![
            starts(prefix.to_owned()),
            starts(format!("arn:aws:secretsmanager:{region}:{account}:secret:{prefix}")),
        ],
        "aws.sns" => vec![starts(format!("arn:aws:sns:{region}:{account}:{prefix}"))],
        "aws.ecs" => vec![starts(format!("arn:aws:ecs:{region}:{account}:service/{prefix}"))],
        _ => Vec::new(),
    }
}

fn drift_schedule(
    b: &mut Builder<'_>,
    network: &Network,
    security: &Security,
    storage: &Storage,
    alerts: &Alerts,
    compute: &Compute,
) -> Result<(), BlueprintError> {
    let env = b.env;
    let Some(schedule) = &env.drift.schedule else { return Ok(()) };
    let account = storage.account.clone();
    let logs = b.add("drift.logs", ("drift", "logs"), |n| LogGroup {
        name: n.name,
        retention_in_days: env.logs.retention_days,
        kms_key_id: storage.key.arn(),
        tags: n.tags,
    })?;
    let mut pulls = vec![in_region(
        &env.region,
        &["logs:CreateLogStream", "logs:PutLogEvents"],
        vec![logs.arn(), logs.streams_arn()],
    )];
    if let Some(repository) = ecr_repository(&schedule.image) {
        // A private image: its repository's layers, and the token ECR answers every pull with.
        pulls.push(in_region(
            &env.region,
            &["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            vec![Input::from(repository)],
        ));
        pulls.push(in_region(&env.region, &["ecr:GetAuthorizationToken"], vec![Input::from("*")]));
    }
    let roles = Roles::of(b, &account);
    let ecs_tasks = Trusted::EcsTasks { region: &env.region };
    let execution = b.add("drift.execution_role", ("drift", "exec-role"), |n| roles.role(n, &ecs_tasks, pulls))?;
    let mut reads: Vec<Statement> =
        crate::bootstrap::read_only_statements(env, &account, true).iter().map(typed).collect();
    reads.push(in_region(&env.region, &["sns:Publish"], vec![alerts.topic.arn()]));
    reads.push(in_region(&env.region, &["kms:Decrypt", "kms:GenerateDataKey"], vec![storage.key.arn()]));
    let task_role = b.add("drift.task_role", ("drift", "task-role"), |n| roles.role(n, &ecs_tasks, reads))?;
    let mut command: Vec<String> = vec!["drift".into(), "--env".into(), env.name.clone()];
    if let Some(suffix) = &env.suffix {
        command.extend(["--suffix".into(), suffix.clone()]);
    }
    // The task acts in its own account with its own role: nothing to assume.
    command.extend(["--notify".into(), "--no-assume-role".into()]);
    if schedule.fix {
        command.extend(["--fix".into(), "--yes".into()]);
    }
    let task = b.add("drift.task", ("drift", "task"), |n| TaskDefinition {
        family: n.name,
        cpu: schedule.cpu.to_string(),
        memory: schedule.memory.to_string(),
        execution_role_arn: execution.arn(),
        task_role_arn: task_role.arn(),
        container: Container {
            name: DRIFT_CONTAINER.into(),
            image: schedule.image.clone(),
            port: None,
            log_group: logs.name(),
            region: env.region.clone(),
            secrets: BTreeMap::new(),
            command,
            // The paystack image is distroless and runs as its `nonroot` user; it writes
            // nothing but what it may put in /tmp.
            read_only_root_filesystem: true,
            user: PAYSTACK_IMAGE_USER.into(),
            writable_paths: vec!["/tmp".into()],
        },
        tags: n.tags,
    })?;
    let family = b.name("drift", "task");
    let runs = allow_where(
        &["ecs:RunTask"],
        vec![Input::from(format!("arn:aws:ecs:{}:{account}:task-definition/{family}:*", env.region))],
        json!({ "ArnEquals": { "ecs:cluster": format!("arn:aws:ecs:{}:{account}:cluster/{}", env.region, b.name("app", "cluster")) } }),
    );
    let passes = allow_where(
        &["iam:PassRole"],
        vec![execution.arn(), task_role.arn()],
        json!({ "StringEquals": { "iam:PassedToService": "ecs-tasks.amazonaws.com" } }),
    );
    let scheduler = b.add("drift.scheduler_role", ("drift", "scheduler-role"), |n| {
        roles.role(n, &Trusted::Scheduler { region: &env.region, group: SCHEDULE_GROUP }, vec![runs, passes])
    })?;
    let id = "drift.schedule";
    let spec = Schedule {
        name: kinds::owned_name(&b.stack.key(), id),
        group: SCHEDULE_GROUP.into(),
        expression: schedule.expression.clone(),
        description: format!("paystack drift of {}, reported to its topic", b.stack.key()),
        target: ScheduleTarget {
            cluster_arn: compute.cluster.arn(),
            role_arn: scheduler.arn(),
            task_definition_arn: task.arn(),
            subnet_ids: each(&network.private_subnets, |h| h.id()),
            security_group_ids: vec![security.app.id()],
        },
    };
    let shown = spec.name.clone();
    b.untagged(id, shown, &spec)?;
    Ok(())
}

/// The ARN of the ECR repository `image` is in, for an image in this account's private
/// registry (`{account}.dkr.ecr.{region}.amazonaws.com/{repository}:{tag}`).
fn ecr_repository(image: &str) -> Option<String> {
    let (host, rest) = image.split_once('/')?;
    let mut parts = host.split('.');
    let (account, _, _, region) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if !host.contains(".dkr.ecr.") {
        return None;
    }
    let repository = rest.split(['@', ':']).next()?;
    Some(format!("arn:aws:ecr:{region}:{account}:repository/{repository}"))
}

#[cfg(test)]
mod tests {
    use paystack_core::Expr;
    use serde_json::{Value, json};

    use super::{FunctionPackage, ecr_repository};
    use crate::blueprint::{Lookups, blueprint, tests::env};

    fn literal(e: &Expr) -> Value {
        match e {
            Expr::Literal(v) => v.clone(),
            other => panic!("not a literal: {other:?}"),
        }
    }

    #[test]
    fn the_compliance_function_is_invoked_by_one_narrow_rule_per_watched_service() {
        let mut e = env("prod", "10.2.0.0/16", 3);
        e.compliance.function = true;
        let package = FunctionPackage { path: "target/lambda/p.zip".into(), sha256: "abc=".into() };
        let lookups = Lookups { function_package: Some(package), ..Lookups::default() };
        let b = blueprint(&e, &lookups).unwrap();
        assert!(!b.package_unknown);
        let rules: Vec<_> = b.specs.iter().filter(|s| s.kind.as_str() == "events.rule").collect();
        assert_eq!(rules.len(), crate::watch::watched().len());
        for rule in &rules {
            let pattern: Value =
                serde_json::from_str(literal(&rule.fields["event_pattern"]).as_str().unwrap()).unwrap();
            let source = pattern["source"][0].as_str().unwrap();
            assert_eq!(pattern["source"].as_array().unwrap().len(), 1, "one source, never a wildcard");
            assert_eq!(pattern["detail-type"], json!(["AWS API Call via CloudTrail"]));
            let names = &crate::watch::watched()[source];
            assert_eq!(pattern["detail"]["eventName"], json!(names), "{source}");
            let permission = b.specs.iter().find(|s| s.id.as_str() == format!("{}.permission", rule.id)).unwrap();
            assert_eq!(permission.dependencies().len(), 2, "the function and this rule's ARN");
            assert_eq!(literal(&permission.fields["principal"]), json!("events.amazonaws.com"));
        }
        let s3 = rules.iter().find(|r| r.id.as_str() == "compliance.events.s3").unwrap();
        let pattern: Value = serde_json::from_str(literal(&s3.fields["event_pattern"]).as_str().unwrap()).unwrap();
        assert_eq!(pattern["detail"]["requestParameters"]["bucketName"], json!([{ "prefix": "prod-us-east-1-" }]));
        let function = b.specs.iter().find(|s| s.id.as_str() == "compliance.function").unwrap();
        assert_eq!(literal(&function.fields["runtime"]), json!("provided.al2023"));
        assert_eq!(literal(&function.fields["code_sha256"]), json!("abc="));
        // A name is one resource's, whatever its kind: the console and the tests find them by
        // it. Settings (a permission, a scaling policy) show under the name of what they set.
        let settings = [
            "lambda.permission",
            "autoscaling.service_scaling",
            "secretsmanager.rotation",
            "secretsmanager.secret_policy",
            "s3.bucket_logging",
        ];
        let mut seen = std::collections::BTreeMap::new();
        for s in b.specs.iter().filter(|s| !settings.contains(&s.kind.as_str())) {
            seen.entry(s.name.as_str()).or_insert_with(Vec::new).push(s.id.as_str());
        }
        seen.retain(|_, ids| ids.len() > 1);
        assert!(seen.is_empty(), "two resources share a name: {seen:?}");
        let without = blueprint(&e, &Lookups::default()).unwrap();
        assert!(without.package_unknown, "the code is not compared where the package was not read");
    }

    #[test]
    fn scheduled_drift_runs_paystack_drift_and_never_fixes_a_protected_environment() {
        let mut e = env("prod", "10.2.0.0/16", 3);
        e.drift.schedule = Some(paystack_config::DriftSchedule {
            expression: "rate(15 minutes)".into(),
            image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/paystack:1.4.0".into(),
            fix: false,
            cpu: 256,
            memory: 512,
        });
        let b = blueprint(&e, &Lookups::default()).unwrap();
        let task = b.specs.iter().find(|s| s.id.as_str() == "drift.task").unwrap();
        let Expr::Map(container) = &task.fields["container"] else { panic!("a container") };
        assert_eq!(literal(&container["command"]), json!(["drift", "--env", "prod", "--notify", "--no-assume-role"]));
        let schedule = b.specs.iter().find(|s| s.id.as_str() == "drift.schedule").unwrap();
        assert_eq!(schedule.name, "prod.drift.schedule");
        for id in ["drift.execution_role", "drift.task_role", "drift.scheduler_role"] {
            let role = b.specs.iter().find(|s| s.id.as_str() == id).unwrap();
            let policy = format!("{:?}", role.fields["policy"]);
            assert!(!policy.contains("GetSecretValue"), "{id}: {policy}");
        }
    }

    #[test]
    fn a_private_image_names_its_repository() {
        assert_eq!(
            ecr_repository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/tools/paystack:1.4.0").as_deref(),
            Some("arn:aws:ecr:eu-west-1:123456789012:repository/tools/paystack")
        );
        assert_eq!(ecr_repository("public.ecr.aws/paystack/paystack:0.1.0"), None);
        assert_eq!(ecr_repository("ghcr.io/acme/paystack:1"), None);
    }
}
