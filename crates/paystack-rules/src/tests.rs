use std::collections::{BTreeMap, BTreeSet};

use paystack_core::{Kind, Observed, ResourceId};
use paystack_platform::kinds;
use serde_json::{Value, json};

use super::*;

fn expect() -> Expectations {
    Expectations {
        required_tags: BTreeMap::from([
            ("Environment".to_owned(), "dev".to_owned()),
            ("ManagedBy".to_owned(), "paystack".to_owned()),
        ]),
        log_retention_days: 7,
        tls_policy: "ELBSecurityPolicy-TLS13-1-2-2021-06".to_owned(),
        permissions_boundary: Some("arn:aws:iam::111111111111:policy/paystack/dev-permissions-boundary".to_owned()),
        public_ports: BTreeSet::from([80, 443]),
    }
}

fn tags() -> Value {
    json!({ "Environment": "dev", "ManagedBy": "paystack" })
}

fn live(def: &KindDef, id: &str, aws_id: &str, attributes: Value) -> (Kind, Observed) {
    let Value::Object(attributes) = attributes else { panic!("attributes are an object") };
    (Kind::new(def.name), Observed::new(ResourceId::new(id), aws_id, attributes, Default::default()))
}

/// The violations of one resource among `others`, as `(rule, actual)`.
fn broken(resource: (Kind, Observed), others: &[(Kind, Observed)]) -> Vec<(&'static str, String)> {
    let mut all = others.to_vec();
    all.push(resource.clone());
    evaluate(&expect(), &all)
        .into_iter()
        .filter(|v| v.resource == resource.1.id.as_str())
        .map(|v| (v.rule, v.actual))
        .collect()
}

fn group(ingress: Value) -> Value {
    json!({ "group_name": "g", "ingress": ingress, "egress": [], "tags": tags() })
}

#[test]
fn only_the_load_balancer_s_group_may_open_its_public_ports_to_the_internet() {
    let lb =
        live(&kinds::LOAD_BALANCER, "edge.alb", "arn:lb", json!({ "security_group_ids": ["sg-alb"], "tags": tags() }));
    let https = json!([{ "protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_ipv4": "0.0.0.0/0" }]);
    let alb = live(&kinds::SECURITY_GROUP, "security.alb", "sg-alb", group(https.clone()));
    assert_eq!(broken(alb, std::slice::from_ref(&lb)), []);

    let app = live(&kinds::SECURITY_GROUP, "security.app", "sg-app", group(https));
    assert_eq!(broken(app, std::slice::from_ref(&lb)), [("open-ingress", "0.0.0.0/0 on tcp port 443".to_owned())]);

    let postgres = json!([
        { "protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_ipv4": "0.0.0.0/0" },
        { "protocol": "tcp", "from_port": 5432, "to_port": 5432, "source_security_group_id": "sg-app" },
        { "protocol": "-1", "cidr_ipv6": "::/0" },
        { "protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_ipv4": "10.0.0.0/16" },
    ]);
    let alb = live(&kinds::SECURITY_GROUP, "security.alb", "sg-alb", group(postgres));
    assert_eq!(
        broken(alb, &[lb]),
        [
            ("open-ingress", "0.0.0.0/0 on tcp port 5432".to_owned()),
            ("open-ingress", "::/0 on every protocol and port".to_owned()),
        ]
    );
}

#[test]
fn a_network_acl_may_not_allow_everything_from_anywhere() {
    let entry = |n: i32, protocol: &str, egress: bool| {
        json!({ "rule_number": n, "egress": egress, "protocol": protocol, "rule_action": "allow",
                "cidr_block": "0.0.0.0/0", "from_port": 443, "to_port": 443 })
    };
    let acl = live(
        &kinds::NETWORK_ACL,
        "network.acl.public",
        "acl-1",
        json!({ "entries": [entry(100, "6", false), entry(110, "-1", true), entry(120, "-1", false)], "tags": tags() }),
    );
    assert_eq!(broken(acl, &[]), [("open-network-acl", "rule 120 allows all traffic from 0.0.0.0/0".to_owned())]);
}

fn role(policy: Value, others: Value, managed: Value, boundary: Value) -> (Kind, Observed) {
    live(
        &kinds::IAM_ROLE,
        "compute.api.task_role",
        "dev-api-task",
        json!({ "policy": policy, "other_policies": others, "managed_policy_arns": managed,
                "permissions_boundary": boundary, "tags": tags() }),
    )
}

#[test]
fn roles_name_their_actions_hold_wildcard_resources_by_a_condition_and_carry_the_boundary() {
    let boundary = json!(expect().permissions_boundary);
    let region = json!({ "StringEquals": { "aws:RequestedRegion": "us-east-1" } });
    let good = json!({ "Version": "2012-10-17", "Statement": [
        { "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": ["*"], "Condition": region },
        { "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/api/*", "Condition": {} },
        { "Effect": "Deny", "Action": "*", "Resource": "*" },
    ]});
    assert_eq!(broken(role(good.clone(), json!({}), json!([]), boundary.clone()), &[]), []);

    let by_hand = json!({ "oops": { "Statement": { "Effect": "Allow", "Action": "*", "Resource": "*" } } });
    assert_eq!(
        broken(role(good.clone(), by_hand, json!(["arn:aws:iam::aws:policy/ReadOnlyAccess"]), json!(null)), &[]),
        [
            ("iam-wildcard-action", "policy `oops`: allows `*`".to_owned()),
            ("iam-wildcard-resource", "policy `oops`: `*` with no condition".to_owned()),
            ("iam-managed-policy", "attached: arn:aws:iam::aws:policy/ReadOnlyAccess".to_owned()),
            ("permissions-boundary", "no boundary".to_owned()),
        ]
    );

    let without = Expectations { permissions_boundary: None, ..expect() };
    let r = role(good, json!({}), json!([]), json!(null));
    assert_eq!(evaluate(&without, &[r]), [], "no boundary is expected where the environment has none");
}

#[test]
fn a_service_takes_a_role_only_for_this_account_but_lambda_which_names_none() {
    let trusting = |service: &str, condition: Value| {
        let statement = json!({ "Effect": "Allow", "Principal": { "Service": service }, "Action": "sts:AssumeRole",
                                "Condition": condition });
        live(
            &kinds::IAM_ROLE,
            "app.api.task_role",
            "dev-api-task",
            json!({ "assume_role_policy": { "Statement": [statement] }, "permissions_boundary": expect().permissions_boundary,
                    "tags": tags() }),
        )
    };
    let guarded = json!({ "StringEquals": { "aws:SourceAccount": "1" }, "ArnLike": { "aws:SourceArn": "arn:aws:ecs:us-east-1:1:*" } });
    assert_eq!(broken(trusting("ecs-tasks.amazonaws.com", guarded), &[]), []);
    assert_eq!(broken(trusting("lambda.amazonaws.com", json!(null)), &[]), []);
    assert_eq!(
        broken(trusting("ecs-tasks.amazonaws.com", json!(null)), &[]),
        [("confused-deputy", "ecs-tasks.amazonaws.com trusted with no source condition".to_owned())]
    );
}

#[test]
fn data_stores_are_encrypted_with_the_environment_s_key() {
    let key = live(&kinds::KMS_KEY, "storage.key", "k-1", json!({ "enable_key_rotation": true, "tags": tags() }));
    let key = (
        key.0,
        Observed { outputs: json!({ "arn": "arn:aws:kms:us-east-1:1:key/k-1" }).as_object().unwrap().clone(), ..key.1 },
    );
    let topic =
        |k: Value| live(&kinds::TOPIC, "alerts.topic", "arn:topic", json!({ "kms_master_key_id": k, "tags": tags() }));
    assert_eq!(broken(topic(json!("arn:aws:kms:us-east-1:1:key/k-1")), std::slice::from_ref(&key)), []);
    assert_eq!(broken(topic(json!("k-1")), std::slice::from_ref(&key)), [], "a key id names the same key");
    assert_eq!(
        broken(topic(json!(null)), std::slice::from_ref(&key)),
        [("encryption-at-rest", "`kms_master_key_id` is unset".to_owned())]
    );
    assert_eq!(
        broken(topic(json!("alias/aws/sns")), &[key]),
        [("encryption-at-rest", "encrypted with alias/aws/sns".to_owned())]
    );
    let cluster = live(
        &kinds::DB_CLUSTER,
        "database.cluster",
        "dev",
        json!({ "storage_encrypted": false, "log_exports": { "postgresql": "/aws/rds/cluster/dev/postgresql" }, "tags": tags() }),
    );
    assert_eq!(broken(cluster, &[]), [("encryption-at-rest", "`storage_encrypted` is false".to_owned())]);
}

#[test]
fn buckets_tables_keys_logs_and_listeners_keep_their_settings() {
    let tls_only = json!({ "Statement": [{ "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"], "Condition": { "Bool": { "aws:SecureTransport": "false" } } }] });
    let bucket = |versioning: bool, policy: Value| {
        live(
            &kinds::BUCKET,
            "storage.artifacts",
            "b",
            json!({ "versioning": versioning, "kms_key_arn": "k",
            "block_public_access": true, "policy": policy, "tags": tags() }),
        )
    };
    assert_eq!(broken(bucket(true, tls_only.clone()), &[]), []);
    assert_eq!(
        broken(bucket(false, json!(null)), &[]),
        [("bucket-versioning", "`versioning` is false".to_owned()), ("bucket-tls-only", "none".to_owned()),]
    );

    // S3 keys, which log delivery needs, only for the bucket log delivery writes to.
    let under_s3_keys = |policy: Value| {
        live(
            &kinds::BUCKET,
            "audit.access_logs",
            "logs",
            json!({ "versioning": true, "kms_key_arn": null, "block_public_access": true, "policy": policy, "tags": tags() }),
        )
    };
    let mut receiving = tls_only.clone();
    receiving["Statement"].as_array_mut().unwrap().push(json!({ "Effect": "Allow",
        "Principal": { "Service": kinds::S3_LOG_DELIVERY }, "Action": "s3:PutObject", "Resource": "arn:aws:s3:::logs/x/*" }));
    assert_eq!(broken(under_s3_keys(receiving), &[]), []);
    assert_eq!(
        broken(under_s3_keys(tls_only.clone()), &[]),
        [("encryption-at-rest", "`kms_key_arn` is unset".to_owned())]
    );

    let table = live(&kinds::TABLE, "storage.sessions", "t", json!({ "kms_key_arn": "k", "tags": tags() }));
    assert_eq!(broken(table, &[]), [("table-pitr", "`point_in_time_recovery` is unset".to_owned())]);
    let key = live(&kinds::KMS_KEY, "storage.key", "k", json!({ "enable_key_rotation": false, "tags": tags() }));
    assert_eq!(broken(key, &[]), [("key-rotation", "`enable_key_rotation` is false".to_owned())]);

    let logs = |days: Value| {
        live(
            &kinds::LOG_GROUP,
            "compute.api.logs",
            "/ecs/api",
            json!({ "retention_in_days": days, "kms_key_id": "k", "tags": tags() }),
        )
    };
    assert_eq!(broken(logs(json!(7)), &[]), []);
    assert_eq!(broken(logs(json!(null)), &[]), [("log-retention", "kept forever".to_owned())]);

    let listener = |protocol: &str, policy: Value| {
        live(
            &kinds::LISTENER,
            "edge.listener",
            "arn:l",
            json!({ "protocol": protocol, "ssl_policy": policy, "tags": tags() }),
        )
    };
    assert_eq!(broken(listener("HTTP", json!(null)), &[]), []);
    assert_eq!(
        broken(listener("HTTPS", json!("ELBSecurityPolicy-2016-08")), &[]),
        [("tls-policy", "ELBSecurityPolicy-2016-08".to_owned())]
    );

    let alb = |attributes: Value| {
        live(&kinds::LOAD_BALANCER, "edge.alb", "arn:lb", json!({ "attributes": attributes, "tags": tags() }))
    };
    let hardened = json!({
        kinds::DROP_INVALID_HEADER_FIELDS: "true",
        kinds::DESYNC_MITIGATION_MODE: "strictest",
        kinds::ACCESS_LOGS_ENABLED: "true",
        kinds::ACCESS_LOGS_BUCKET: "dev-us-east-1-access-logs-123456789012",
    });
    assert_eq!(broken(alb(hardened), &[]), []);
    assert_eq!(
        broken(
            alb(json!({
                kinds::DROP_INVALID_HEADER_FIELDS: "false",
                kinds::DESYNC_MITIGATION_MODE: "defensive",
                kinds::ACCESS_LOGS_ENABLED: "false",
            })),
            &[]
        ),
        [
            ("alb-request-hardening", "defensive".to_owned()),
            ("alb-request-hardening", "false".to_owned()),
            ("alb-access-logs", "false".to_owned())
        ]
    );

    let acl = |guarded: Value, logs: Value| {
        live(
            &kinds::WEB_ACL,
            "edge.waf",
            "arn:acl",
            json!({ "rules": [{ "rule_group": "AWSManagedRulesCommonRuleSet", "count_only": false }],
                "resource_arns": guarded, "log_destination": logs, "tags": tags() }),
        )
    };
    assert_eq!(broken(acl(json!(["arn:lb"]), json!("arn:logs")), &[]), []);
    assert_eq!(
        broken(acl(json!([]), json!(null)), &[]),
        [
            ("web-acl-guards-and-logs", "guards nothing".to_owned()),
            ("web-acl-guards-and-logs", "no logging".to_owned())
        ]
    );

    let cluster = |exports: Value| {
        live(
            &kinds::DB_CLUSTER,
            "database.cluster",
            "dev-db",
            json!({ "storage_encrypted": true, "log_exports": exports, "tags": tags() }),
        )
    };
    assert_eq!(broken(cluster(json!({ "postgresql": "/aws/rds/cluster/dev-db/postgresql" })), &[]), []);
    assert_eq!(broken(cluster(json!({})), &[]), [("database-log-export", "not exported".to_owned())]);

    let task = |user: Value| {
        live(
            &kinds::TASK_DEFINITION,
            "app.api.task",
            "arn:td",
            json!({ "container": { "user": user }, "tags": tags() }),
        )
    };
    assert_eq!(broken(task(json!("101")), &[]), []);
    assert_eq!(broken(task(json!("0:0")), &[]), [("container-not-root", "0:0".to_owned())]);
    assert_eq!(
        broken(task(json!(null)), &[]),
        [("container-not-root", "the image's own, which may be root".to_owned())]
    );

    let endpoint = |policy: Value| {
        live(&kinds::VPC_ENDPOINT, "network.endpoint.s3", "vpce-1", json!({ "policy": policy, "tags": tags() }))
    };
    let named = json!({ "Statement": [{ "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"] }] });
    let default = json!({ "Statement": [{ "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*" }] });
    assert_eq!(broken(endpoint(named), &[]), []);
    assert_eq!(broken(endpoint(default), &[]), [("endpoint-policy", "every bucket allowed".to_owned())]);

    let subnet = |public: bool| {
        live(
            &kinds::SUBNET,
            "network.subnet.public.a",
            "subnet-1",
            json!({ "map_public_ip_on_launch": public, "tags": tags() }),
        )
    };
    assert_eq!(broken(subnet(false), &[]), []);
    assert_eq!(broken(subnet(true), &[]), [("no-public-ip-on-launch", "true".to_owned())]);
}

#[test]
fn every_taggable_resource_carries_the_required_tags_and_settings_need_none() {
    let vpc = live(&kinds::VPC, "network.vpc", "vpc-1", json!({ "tags": { "Environment": "prod" } }));
    let found = evaluate(&expect(), &[vpc]);
    let found: Vec<_> = found.iter().map(|v| (v.rule, v.expected.as_str(), v.actual.as_str())).collect();
    assert_eq!(
        found,
        [
            ("required-tags", "Environment=dev", "Environment=prod"),
            ("required-tags", "ManagedBy=paystack", "no ManagedBy tag"),
        ]
    );
    let scaling = live(&kinds::SERVICE_SCALING, "compute.api.scaling", "s", json!({ "min_capacity": 1 }));
    assert_eq!(evaluate(&expect(), &[scaling]), []);
}

#[test]
fn a_violation_names_the_resource_the_rule_and_both_values() {
    let topic = live(&kinds::TOPIC, "alerts.topic", "arn:aws:sns:us-east-1:1:dev-alerts", json!({ "tags": tags() }));
    let found = evaluate(&expect(), &[topic]);
    assert_eq!(
        found,
        [Violation {
            rule: "encryption-at-rest",
            resource: "alerts.topic".to_owned(),
            kind: "sns.topic".to_owned(),
            aws_id: "arn:aws:sns:us-east-1:1:dev-alerts".to_owned(),
            expected: "encrypted with the environment's key".to_owned(),
            actual: "no encryption key".to_owned(),
        }]
    );
    let ids: BTreeSet<&str> = RULES.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), RULES.len(), "rule ids are unique");
    assert!(RULES.iter().all(|r| rule(r.id).is_some_and(|found| found.id == r.id)));
}

/// The platform as every shipped environment configures it breaks no rule: each spec, with
/// references standing in for what AWS would return, is what a read would find.
#[test]
fn the_shipped_environments_comply_as_designed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let config = paystack_config::Config::load(&dir).expect("the shipped configuration loads");
    for name in config.environments.keys() {
        let env = config.environment(name, None).expect("the environment resolves");
        let blueprint = paystack_platform::blueprint(&env, &paystack_platform::Lookups::default()).expect("blueprint");
        let placeholder = |r: &paystack_core::spec::Reference| Some(json!(format!("{}.{}", r.resource, r.output)));
        let resources: Vec<(Kind, Observed)> = blueprint
            .specs
            .iter()
            .map(|spec| {
                let attributes = spec
                    .fields
                    .iter()
                    .map(|(k, e)| (k.clone(), e.resolve(&placeholder).unwrap_or(Value::Null)))
                    .collect();
                let outputs = json!({ "arn": format!("{}.arn", spec.id) });
                let outputs = outputs.as_object().cloned().unwrap_or_default();
                (spec.kind.clone(), Observed::new(spec.id.clone(), format!("{}.id", spec.id), attributes, outputs))
            })
            .collect();
        let found = evaluate(&Expectations::of(&env), &resources);
        assert_eq!(found, [], "{name}");
        // The specs were read: another expectation is broken by exactly what it governs.
        let other = Expectations { log_retention_days: 1, ..Expectations::of(&env) };
        let groups = resources.iter().filter(|(k, _)| k.as_str() == kinds::LOG_GROUP.name).count();
        let found = evaluate(&other, &resources);
        assert!(
            groups > 0 && found.len() == groups && found.iter().all(|v| v.rule == "log-retention"),
            "{name}: {found:?}"
        );
        assert!(resources.len() > 40, "{name}: {} resources", resources.len());
    }
}
