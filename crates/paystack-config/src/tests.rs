//! Every rejected input names its file, line and column, and loading stops before anything
//! else can run.

use std::path::Path;

use crate::{Config, ConfigError};

const SHARED: &str = r#"project = "paystack"
region = "us-east-1"

[tags]
application = "payments"
cost_center = "cc-1"

[network]
availability_zones = ["a", "b", "c"]
nat_gateways = 1
subnet_newbits = 4

[security]
alb_ingress_ports = [80, 443]
app_port = 8080
db_port = 5432

[database]
engine_version = "16.4"
instance_class = "db.t3.medium"
backup_retention_days = 7
backup_window = "03:00-04:00"
master_username = "paystack"
database_name = "payments"

[logs]
retention_days = 7

[alarms]
ecs_cpu_percent = 90
alb_5xx_count = 50
target_response_seconds = 3
db_cpu_percent = 90
db_connections = 400

[load_balancer]
certificate_domain = "*.payments.example.com"
health_check_path = "/health"

[dns]
zone = "payments.example.com"

[drift.schedule]
image = "ghcr.io/acme/paystack:1.0.0"
[services.api]
image = "nginx:1.27"
cpu = 256
memory = 512
desired_count = 1
min_count = 1
max_count = 2
cpu_target_percent = 70
load_balanced = true
"#;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

fn load(files: &[(&str, &str)]) -> Result<Config, Vec<ConfigError>> {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("shared.toml", SHARED)]);
    write(dir.path(), files);
    Config::load(dir.path()).map_err(|e| e.0)
}

/// Like [`load`], with `extra` appended to the shared file.
fn load_with_shared(files: &[(&str, &str)], extra: &str) -> Result<Config, Vec<ConfigError>> {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("shared.toml", &format!("{SHARED}{extra}"))]);
    write(dir.path(), files);
    Config::load(dir.path()).map_err(|e| e.0)
}

/// The single error's `file:line:col`, message and help.
fn only_error(files: &[(&str, &str)]) -> (String, String, String) {
    let errors = load(files).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = &errors[0];
    let at = e.location.as_ref().map(|l| {
        let (line, col) = l.line_col();
        format!("{}:{line}:{col}", l.file.file_name().unwrap().to_string_lossy())
    });
    (at.unwrap_or_default(), e.message.clone(), e.help.clone().unwrap_or_default())
}

const DEV: (&str, &str) = ("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n");
const PROD: (&str, &str) = ("prod.toml", "[network]\ncidr = \"10.2.0.0/16\"\nnat_gateways = 3\n");

#[test]
fn a_valid_tree_loads_with_env_overrides_over_shared_values() {
    let config = load(&[DEV, PROD]).unwrap();
    let dev = &config.environments["dev"];
    let prod = &config.environments["prod"];
    assert_eq!(dev.network.nat_gateways, 1);
    assert_eq!(prod.network.nat_gateways, 3);
    assert_eq!(prod.network.cidr.to_string(), "10.2.0.0/16");
    assert_eq!(dev.network.availability_zones, ["us-east-1a", "us-east-1b", "us-east-1c"]);
    assert!(prod.protected, "prod is protected unless it says otherwise");
    assert!(!dev.protected);
}

#[test]
fn malformed_toml() {
    let (at, message, _) = only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\nnat_gateways = 1\n")]);
    assert_eq!(at, "dev.toml:2:20");
    assert!(message.contains("invalid basic string") || message.contains("string"), "{message}");
}

#[test]
fn unknown_key_is_located_and_named() {
    let (at, message, help) = only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\nnat_gatways = 2\n")]);
    assert_eq!(at, "dev.toml:3:1");
    assert!(message.starts_with("unknown field `nat_gatways`"), "{message}");
    assert!(help.contains("spelling"), "{help}");
}

#[test]
fn wrong_type_is_located() {
    let (at, message, _) = only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\nnat_gateways = \"one\"\n")]);
    assert_eq!(at, "dev.toml:3:16");
    assert_eq!(message, "invalid type: string \"one\", expected i64");
}

#[test]
fn unknown_environment_lists_the_known_ones() {
    let config = load(&[DEV, PROD]).unwrap();
    let e = config.environment("qa", None).unwrap_err();
    assert!(e.location.is_none());
    assert_eq!(e.message, "unknown environment `qa`");
    assert!(e.help.unwrap().contains("the environments are dev, prod"));
}

#[test]
fn an_environment_mistyped_gets_the_one_meant() {
    let config = load(&[DEV, PROD]).unwrap();
    for (typed, meant) in [("Dev", "dev"), ("prd", "prod"), ("PROD", "prod"), ("prodd", "prod")] {
        let help = config.environment(typed, None).unwrap_err().help.unwrap();
        assert!(help.starts_with(&format!("did you mean `{meant}`?")), "{typed}: {help}");
    }
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("shared.toml", SHARED), DEV, PROD]);
    let e = Config::load_one(dir.path(), "prd").unwrap_err().0;
    assert_eq!(e.len(), 1);
    assert!(e[0].help.as_deref().unwrap().starts_with("did you mean `prod`?"), "{e:?}");
}

#[test]
fn a_wrong_type_in_the_shared_file_is_one_error_not_one_per_environment() {
    let shared = SHARED.replace("desired_count = 1", "desired_count = \"1\"");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("shared.toml", &shared), DEV, PROD, ("staging.toml", "[network]\ncidr = \"10.1.0.0/16\"\n")]);
    let errors = Config::load(dir.path()).unwrap_err().0;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].location.as_ref().unwrap().file.ends_with("shared.toml"));
    assert!(errors[0].message.contains("expected"), "{}", errors[0].message);
}

#[test]
fn a_bad_shared_value_is_reported_once_for_every_environment_that_inherits_it() {
    let shared = SHARED.replace("engine_version = \"16.4\"", "engine_version = \"9\"");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("shared.toml", &shared), DEV, PROD, ("staging.toml", "[network]\ncidr = \"10.1.0.0/16\"\n")]);
    let errors = Config::load(dir.path()).unwrap_err().0;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].message.contains('9'), "{}", errors[0].message);
}

#[test]
fn one_environment_loads_past_a_mistake_in_another() {
    let dir = tempfile::tempdir().unwrap();
    let broken = ("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\nnat_gatways = 2\n");
    write(dir.path(), &[("shared.toml", SHARED), broken, PROD, ("qa.toml", "[network]\ncidr = \"10.2.0.0/16\"\n")]);
    assert!(Config::load(dir.path()).is_err(), "the whole configuration is still checked for plan and apply");
    let prod = Config::load_one(dir.path(), "prod").unwrap();
    assert_eq!(prod.environments.keys().collect::<Vec<_>>(), ["prod"], "qa overlaps prod, which only plan sees");
    assert!(Config::load_one(dir.path(), "dev").is_err(), "its own mistake still stops it");
}

#[test]
fn invalid_cidr_is_located_with_the_fix() {
    let (at, message, _) = only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.1/16\"\n")]);
    assert_eq!(at, "dev.toml:2:8");
    assert!(message.contains("the network address is 10.0.0.0/16"), "{message}");
    let (at, message, _) = only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/8\"\n")]);
    assert_eq!(at, "dev.toml:2:8");
    assert!(message.contains("/8"), "{message}");
}

#[test]
fn overlapping_cidrs_across_environments_point_at_both() {
    let errors = load(&[DEV, ("staging.toml", "[network]\ncidr = \"10.0.64.0/18\"\n")]).unwrap_err();
    assert_eq!(errors.len(), 1);
    let e = &errors[0];
    assert_eq!(e.location.as_ref().unwrap().line_col(), (2, 8));
    assert!(e.location.as_ref().unwrap().file.ends_with("staging.toml"));
    assert_eq!(e.message, "the CIDR 10.0.64.0/18 of `staging` overlaps 10.0.0.0/16 of `dev`");
    let (label, other) = e.related.as_ref().unwrap();
    assert_eq!(label, "`dev` sets its CIDR");
    assert!(other.file.ends_with("dev.toml"));
}

#[test]
fn a_cidr_in_shared_overlaps_every_environment() {
    let shared_cidr = SHARED.replace("[network]\n", "[network]\ncidr = \"10.9.0.0/16\"\n");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("shared.toml", &shared_cidr), ("dev.toml", ""), ("qa.toml", "")]);
    let errors = Config::load(dir.path()).unwrap_err().0;
    assert_eq!(errors.len(), 1);
    assert!(errors[0].location.as_ref().unwrap().file.ends_with("shared.toml"));
}

#[test]
fn suffix_breaking_aws_name_rules_is_rejected_in_file_and_on_the_command_line() {
    let (at, message, help) = only_error(&[("dev.toml", "suffix = \"Blue_1\"\n[network]\ncidr = \"10.0.0.0/16\"\n")]);
    assert_eq!(at, "dev.toml:1:10");
    assert!(message.starts_with("suffix `Blue_1`"), "{message}");
    assert!(help.contains("lowercase"), "{help}");

    let config = load(&[DEV]).unwrap();
    let e = config.environment("dev", Some("a-very-long-suffix-x")).unwrap_err();
    assert!(e.message.contains("1 to 16"), "{}", e.message);
    assert_eq!(config.environment("dev", Some("blue")).unwrap().suffix.as_deref(), Some("blue"));
}

#[test]
fn environment_and_region_too_long_for_capped_names() {
    let (at, message, help) = only_error(&[
        ("dev.toml", "region = \"ap-southeast-2\"\n[network]\ncidr = \"10.0.0.0/16\"\n"),
        ("integration.toml", "region = \"ap-southeast-2\"\n[network]\ncidr = \"10.4.0.0/16\"\n"),
    ]);
    assert_eq!(at, "integration.toml:1:10");
    assert_eq!(message, "`integration-ap-southeast-2` is too long to start a resource name");
    assert!(help.contains("32 characters"), "{help}");
}

#[test]
fn bad_environment_file_name() {
    let (at, message, _) = only_error(&[DEV, ("Prod_EU.toml", "")]);
    assert_eq!(at, "Prod_EU.toml:1:1");
    assert_eq!(message, "`Prod_EU` cannot name an environment");
}

#[test]
fn missing_required_value_says_where_to_set_it() {
    let (at, message, help) = only_error(&[("dev.toml", "")]);
    assert_eq!(at, "dev.toml:1:1");
    assert_eq!(message, "`network.cidr` is not set for environment `dev`");
    assert!(help.contains("dev.toml"), "{help}");
}

#[test]
fn out_of_range_numbers() {
    let (at, message, _) = only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\nnat_gateways = 4\n")]);
    assert_eq!(at, "dev.toml:3:16");
    assert!(message.contains("out of range"), "{message}");
    let (at, message, _) =
        only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[security]\napp_port = 70000\n")]);
    assert_eq!(at, "dev.toml:4:12");
    assert!(message.contains("70000 is not a TCP port"), "{message}");
    let (at, message, _) = only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\nsubnet_newbits = 2\n")]);
    assert_eq!(at, "dev.toml:3:18");
    assert!(message.contains("cannot lay out 3 public and 3 private subnets"), "{message}");
}

#[test]
fn a_region_aws_does_not_have_is_refused_with_the_one_meant() {
    let (at, message, help) =
        only_error(&[("dev.toml", "region = \"us-east-9\"\n[network]\ncidr = \"10.0.0.0/16\"\n")]);
    assert_eq!(at, "dev.toml:1:10");
    assert!(message.contains("`us-east-9` is not an AWS region"), "{message}");
    assert!(help.contains("did you mean `us-east-1`?"), "{help}");
    let good = "region = \"eu-west-3\"\n[network]\ncidr = \"10.0.0.0/16\"\n";
    assert!(load(&[("dev.toml", good)]).is_ok(), "a region AWS has passes");
}

#[test]
fn all_errors_are_reported_at_once() {
    let errors = load(&[("dev.toml", "region = \"mars\"\n[network]\ncidr = \"banana\"\n")]).unwrap_err();
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].contains("`mars` is not an AWS region"));
    assert!(messages[1].contains("`banana` is not a CIDR block"));
}

#[test]
fn the_shipped_configuration_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let config = Config::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.environments.keys().collect::<Vec<_>>(), ["dev", "prod", "staging"]);
}

#[test]
fn state_defaults_to_s3_with_a_bucket_and_table_per_environment() {
    let config = load(&[DEV, PROD]).unwrap();
    let dev = config.environment("dev", Some("blue")).unwrap();
    assert_eq!(dev.state_bucket().as_deref(), Some("dev-us-east-1-paystack-state"), "suffixed stacks share it");
    assert_eq!(dev.lock_table().as_deref(), Some("dev-us-east-1-paystack-locks"));
    assert_eq!(dev.state.lock_lease, std::time::Duration::from_secs(30));
    assert_ne!(dev.state_bucket(), config.environments["prod"].state_bucket());
}

#[test]
fn state_names_and_backend_can_be_overridden_per_environment() {
    let dev = (
        "dev.toml",
        "[network]\ncidr = \"10.0.0.0/16\"\n[state]\nbucket = \"acme-dev-state\"\nlock_table = \"acme_dev.locks\"\nlock_lease_seconds = 5\n",
    );
    let prod = ("prod.toml", "[network]\ncidr = \"10.2.0.0/16\"\n[state]\nbackend = \"local\"\n");
    let config = load(&[dev, prod]).unwrap();
    let dev = &config.environments["dev"];
    assert_eq!(dev.state_bucket().as_deref(), Some("acme-dev-state"));
    assert_eq!(dev.lock_table().as_deref(), Some("acme_dev.locks"));
    assert_eq!(dev.state.lock_lease, std::time::Duration::from_secs(5));
    assert_eq!(config.environments["prod"].state.backend, crate::StateStore::Local);
}

#[test]
fn bad_state_settings_are_located() {
    let (at, message, _) =
        only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[state]\nbucket = \"Acme_State\"\n")]);
    assert_eq!(at, "dev.toml:4:10");
    assert!(message.contains("not a valid S3 bucket name"), "{message}");
    let (at, message, help) =
        only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[state]\nbackend = \"consul\"\n")]);
    assert_eq!(at, "dev.toml:4:11");
    assert!(message.contains("`consul` is not a state backend"), "{message}");
    assert!(help.contains("\"s3\""), "{help}");
    let (at, message, _) =
        only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[state]\nlock_lease_seconds = 1\n")]);
    assert_eq!(at, "dev.toml:4:22");
    assert!(message.contains("out of range"), "{message}");
    let (_, message, _) = only_error(&[(
        "dev.toml",
        "[network]\ncidr = \"10.0.0.0/16\"\n[state]\nbackend = \"local\"\nbucket = \"acme-dev-state\"\n",
    )]);
    assert!(message.contains("`state.bucket` is set, but the state backend is \"local\""), "{message}");
}

#[test]
fn database_settings_merge_and_derive_the_parameter_family() {
    let prod = (
        "prod.toml",
        "[network]\ncidr = \"10.2.0.0/16\"\n[database]\ninstance_class = \"db.r5.large\"\nreaders = 2\nrotation = true\nrotation_lambda_arn = \"arn:aws:lambda:us-east-1:123456789012:function:rotate\"\n",
    );
    let config = load(&[DEV, prod]).unwrap();
    let dev = &config.environments["dev"].database;
    let prod = &config.environments["prod"].database;
    assert_eq!(dev.instance_class(), "db.t3.medium");
    assert_eq!(prod.instance_class(), "db.r5.large");
    assert_eq!((dev.readers, prod.readers), (0, 2));
    assert_eq!(prod.family, "aurora-postgresql16");
    assert_eq!(dev.rotation, None);
    let rotation = prod.rotation.as_ref().unwrap();
    assert_eq!(rotation.days, 30, "rotation defaults to every 30 days");
}

#[test]
fn serverless_v2_is_chosen_by_its_instance_class_and_needs_a_capacity_range() {
    let dev = (
        "dev.toml",
        "[network]\ncidr = \"10.0.0.0/16\"\n[database]\ninstance_class = \"db.serverless\"\nserverless_min_acu = 0.5\nserverless_max_acu = 8\n",
    );
    let config = load(&[dev]).unwrap();
    assert_eq!(
        config.environments["dev"].database.capacity,
        crate::DbCapacity::ServerlessV2 { min_acu: 0.5, max_acu: 8.0 }
    );
    let (at, message, _) = only_error(&[(
        "dev.toml",
        "[network]\ncidr = \"10.0.0.0/16\"\n[database]\ninstance_class = \"db.serverless\"\nserverless_min_acu = 4\nserverless_max_acu = 2\n",
    )]);
    assert_eq!(at, "dev.toml:6:22");
    assert!(message.contains("below the minimum"), "{message}");
    let (at, message, _) =
        only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[database]\nserverless_max_acu = 2\n")]);
    assert_eq!(at, "dev.toml:4:22");
    assert!(message.contains("not serverless"), "{message}");
}

#[test]
fn database_values_aws_would_refuse_are_located() {
    let cases = [
        ("engine_version = \"16.0\"", "dev.toml:4:18", "not an Aurora PostgreSQL engine version"),
        ("instance_class = \"db.m5.huge\"", "dev.toml:4:18", "not an instance class Aurora PostgreSQL runs on"),
        ("readers = 16", "dev.toml:4:11", "out of range"),
        ("backup_retention_days = 0", "dev.toml:4:25", "out of range"),
        ("backup_window = \"03:00-03:10\"", "dev.toml:4:17", "not a backup window"),
        ("master_username = \"postgres\"", "dev.toml:4:19", "cannot be the master user name"),
        ("database_name = \"pay-ments\"", "dev.toml:4:17", "cannot name a database"),
        ("rotation = true", "dev.toml:4:12", "no rotation function is named"),
        (
            "rotation = true\nrotation_lambda_arn = \"arn:aws:lambda:us-east-1:1:function:x\"",
            "dev.toml:5:23",
            "not a Lambda function ARN",
        ),
    ];
    for (line, want_at, want_message) in cases {
        let file = format!("[network]\ncidr = \"10.0.0.0/16\"\n[database]\n{line}\n");
        let (at, message, help) = only_error(&[("dev.toml", &file)]);
        assert_eq!(at, want_at, "{line}");
        assert!(message.contains(want_message), "{line}: {message}");
        assert!(!help.is_empty(), "{line}: no help");
    }
}

#[test]
fn alert_emails_are_checked() {
    let (at, message, _) =
        only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[alerts]\nemails = [\"oncall\"]\n")]);
    assert_eq!(at, "dev.toml:4:10");
    assert!(message.contains("`oncall` is not an email address"), "{message}");
}

#[test]
fn a_service_is_overridden_key_by_key_and_new_services_join() {
    let prod = (
        "prod.toml",
        "[network]\ncidr = \"10.2.0.0/16\"\n[services.api]\ncpu = 1024\nmemory = 2048\n[services.worker]\nimage = \"busybox:1.36\"\ncpu = 256\nmemory = 1024\ndesired_count = 1\nmin_count = 1\nmax_count = 3\ncpu_target_percent = 60\n",
    );
    let config = load(&[DEV, prod]).unwrap();
    let dev = &config.environments["dev"].services;
    let prod = &config.environments["prod"].services;
    assert_eq!(dev.len(), 1);
    assert_eq!((dev[0].cpu, dev[0].memory), (256, 512));
    assert_eq!(prod.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["api", "worker"]);
    assert_eq!((prod[0].cpu, prod[0].memory, prod[0].image.as_str()), (1024, 2048, "nginx:1.27"));
    assert!(prod[0].load_balanced && !prod[1].load_balanced);
    // Read-only and not root unless configured otherwise.
    assert!(dev[0].read_only_root_filesystem);
    assert_eq!((dev[0].user.as_str(), dev[0].writable_paths.len()), ("1000", 0));
}

#[test]
fn service_values_aws_would_refuse_are_located() {
    let cases = [
        ("memory = 4096", "dev.toml:4:10", "Fargate does not run 256 CPU units with 4096 MiB"),
        ("desired_count = 5", "dev.toml:4:17", "outside 1..=2"),
        // The maximum, set in shared.toml, is what falls below this file's minimum.
        ("min_count = 3", "shared.toml:", "is below `min_count` = 3"),
        ("cpu_target_percent = 150.0", "dev.toml:4:22", "not a CPU percentage"),
        ("user = \"root\"", "dev.toml:4:8", "runs the container as root"),
        ("user = \"0:0\"", "dev.toml:4:8", "runs the container as root"),
        ("user = \"a b\"", "dev.toml:4:8", "is not a user"),
        ("writable_paths = [\"tmp\"]", "dev.toml:4:18", "\"tmp\" is not an absolute directory path"),
        ("writable_paths = [\"/\"]", "dev.toml:4:18", "is not an absolute directory path"),
        ("writable_paths = [\"/tmp\", \"/tmp\"]", "dev.toml:4:18", "\"/tmp\" is listed twice"),
    ];
    for (line, want_at, want_message) in cases {
        let file = format!("[network]\ncidr = \"10.0.0.0/16\"\n[services.api]\n{line}\n");
        let errors = load(&[("dev.toml", &file)]).unwrap_err();
        let e =
            errors.iter().find(|e| e.message.contains(want_message)).unwrap_or_else(|| panic!("{line}: {errors:#?}"));
        let (l, col) = e.location.as_ref().unwrap().line_col();
        let file_name = e.location.as_ref().unwrap().file.file_name().unwrap().to_string_lossy().into_owned();
        let at = format!("{file_name}:{l}:{col}");
        assert!(at.starts_with(want_at), "{line}: at {at}");
        assert!(e.help.is_some(), "{line}: no help");
    }
}

#[test]
fn two_load_balanced_services_are_refused() {
    let dev = (
        "dev.toml",
        "[network]\ncidr = \"10.0.0.0/16\"\n[services.web]\nimage = \"nginx:1.27\"\ncpu = 256\nmemory = 512\ndesired_count = 1\nmin_count = 1\nmax_count = 1\ncpu_target_percent = 50\nload_balanced = true\n",
    );
    let (at, message, _) = only_error(&[dev]);
    assert_eq!(at, "dev.toml:11:17");
    assert!(message.contains("`web` is load balanced, and so is `api`"), "{message}");
}

#[test]
fn log_retention_aws_refuses_is_located() {
    let (at, message, _) =
        only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[logs]\nretention_days = 10\n")]);
    assert_eq!(at, "dev.toml:4:18");
    assert!(message.contains("cannot keep logs for 10 days"), "{message}");
}

#[test]
fn alarm_thresholds_are_checked() {
    let (at, message, _) =
        only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[alarms]\necs_cpu_percent = 120.0\n")]);
    assert_eq!(at, "dev.toml:4:19");
    assert!(message.contains("`alarms.ecs_cpu_percent` = 120 is out of range"), "{message}");
}

#[test]
fn the_record_name_defaults_to_the_environment_and_takes_the_suffix() {
    let prod = (
        "prod.toml",
        "[network]\ncidr = \"10.2.0.0/16\"\n[dns]\nrecord = \"api\"\nweights = { blue = 90, green = 10 }\n",
    );
    let config = load(&[DEV, prod]).unwrap();
    let dev = &config.environments["dev"].dns;
    let prod = &config.environments["prod"].dns;
    assert_eq!(dev.record_name(None), "dev.payments.example.com");
    assert_eq!(dev.record_name(Some("pr7")), "dev-pr7.payments.example.com");
    assert!(dev.weights.is_empty(), "one plain record unless weights are set");
    assert_eq!(prod.record_name(None), "api.payments.example.com");
    assert_eq!(prod.weights.iter().map(|(k, v)| (k.as_str(), *v)).collect::<Vec<_>>(), [("blue", 90), ("green", 10)]);
}

#[test]
fn dns_values_route53_would_refuse_are_located() {
    let cases = [
        ("record = \"Api\"", "dev.toml:4:10", "`dns.record` = `Api` is not a DNS label"),
        ("weights = { blue = 300 }", "dev.toml:4:11", "`dns.weights.blue` = 300 is out of range"),
        ("weights = {}", "dev.toml:4:11", "`dns.weights` is empty"),
        ("zone = \"example\"", "dev.toml:4:8", "`example` is not a hosted zone name"),
        // The certificate in shared.toml is for *.payments.example.com.
        ("zone = \"example.org\"", "dev.toml:4:8", "does not cover `dev.example.org`"),
    ];
    for (line, want_at, want_message) in cases {
        let file = format!("[network]\ncidr = \"10.0.0.0/16\"\n[dns]\n{line}\n");
        let (at, message, help) = only_error(&[("dev.toml", &file)]);
        assert_eq!(at, want_at, "{line}");
        assert!(message.contains(want_message), "{line}: {message}");
        assert!(!help.is_empty(), "{line}: no help");
    }
}

#[test]
fn drift_ignore_names_resource_fields() {
    let config = load(&[
        ("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[drift]\nignore = [\"app.worker.service.desired_count\"]\n"),
        PROD,
    ])
    .unwrap();
    let rule = &config.environments["dev"].drift.ignore;
    assert_eq!(rule, &[crate::IgnoredField { resource: "app.worker.service".into(), field: "desired_count".into() }]);
    assert!(config.environments["prod"].drift.ignore.is_empty());

    let (at, message, help) =
        only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[drift]\nignore = [\"desired_count\"]\n"), PROD]);
    assert_eq!(at, "dev.toml:4:10");
    assert_eq!(message, "`drift.ignore`: `desired_count` does not name a field");
    assert!(help.contains("RESOURCE.FIELD"), "{help}");
}

#[test]
fn wait_limits_default_to_aws_s_slow_cases_and_can_be_set_per_environment() {
    let dev = ("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[waits]\nnat_gateway_seconds = 20\n");
    let shared_waits = "\n[waits]\ndb_instance_seconds = 7200\n";
    let config = load_with_shared(&[dev], shared_waits).unwrap();
    let waits = config.environments["dev"].waits;
    assert_eq!(waits.nat_gateway, std::time::Duration::from_secs(20), "the environment's own");
    assert_eq!(waits.db_instance, std::time::Duration::from_secs(7200), "from shared.toml");
    assert_eq!(waits.db_cluster, crate::Waits::default().db_cluster, "and the rest by default");
    assert_eq!(crate::Waits::default().db_instance, std::time::Duration::from_secs(3600));

    let (at, message, help) =
        only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[waits]\nload_balancer_seconds = 0\n")]);
    assert_eq!(at, "dev.toml:4:25");
    assert!(message.contains("`waits.load_balancer_seconds` = 0 is out of range"), "{message}");
    assert!(help.contains("six hours"), "{help}");
    let (at, message, _) =
        only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[waits]\nnat_gateway = 20\n")]);
    assert!(at.starts_with("dev.toml:4"), "{at}");
    assert!(message.contains("nat_gateway"), "{message}");
}

#[test]
fn cost_assumptions_default_and_are_set_key_by_key() {
    use crate::Assumption;
    let dev = ("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[cost]\nnat_gb_per_gateway = 500\n");
    let config = load_with_shared(&[dev], "\n[cost]\nnat_gb_per_gateway = 80\nalb_lcus = 2.5\n").unwrap();
    let cost = &config.environments["dev"].cost;
    assert_eq!(cost.get(Assumption::NatGbPerGateway), 500.0, "the environment's own");
    assert_eq!(cost.get(Assumption::AlbLcus), 2.5, "from shared.toml");
    assert_eq!(cost.get(Assumption::HoursPerMonth), 730.0, "and the rest by default");
    assert_eq!(cost.overridden().count(), 2);

    let (at, message, help) = only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[cost]\nnat_gb = 500\n")]);
    assert_eq!(at, "dev.toml:4:10");
    assert_eq!(message, "`cost.nat_gb` is not an assumption of the cost estimate");
    assert!(help.contains("nat_gb_per_gateway"), "{help}");
    let (at, message, _) =
        only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[cost]\nhours_per_month = 800\n")]);
    assert_eq!(at, "dev.toml:4:19");
    assert_eq!(message, "`cost.hours_per_month` = 800 is out of range");
    let (_, message, _) = only_error(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[cost]\nalb_lcus = -1\n")]);
    assert_eq!(message, "`cost.alb_lcus` = -1 is out of range");
}

const PROD_ACCOUNT: &str = "[network]\ncidr = \"10.2.0.0/16\"\n\n[account]\nid = \"333333333333\"\nrole_arn = \"arn:aws:iam::333333333333:role/paystack-deploy\"\nexternal_id = \"payments-prod\"\n";

#[test]
fn an_environment_names_its_account_and_the_shared_file_its_replica_region() {
    let config = load_with_shared(&[DEV, ("prod.toml", PROD_ACCOUNT)], "").unwrap();
    let prod = config.environments["prod"].account.clone().unwrap();
    assert_eq!(prod.id, "333333333333");
    assert_eq!(prod.role_arn, "arn:aws:iam::333333333333:role/paystack-deploy");
    assert_eq!(prod.external_id.as_deref(), Some("payments-prod"));
    assert_eq!(config.environments["dev"].account, None, "without [account], the caller's own");

    let shared = SHARED.replace("region = \"us-east-1\"\n", "region = \"us-east-1\"\nreplica_region = \"eu-west-1\"\n");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("shared.toml", &shared), DEV]);
    let config = Config::load(dir.path()).unwrap();
    assert_eq!(config.environments["dev"].replica_region.as_deref(), Some("eu-west-1"));
}

#[test]
fn a_wrong_account_is_located() {
    let with = |id: &str, arn: &str, external: &str| {
        let text =
            format!("[network]\ncidr = \"10.2.0.0/16\"\n[account]\nid = \"{id}\"\nrole_arn = \"{arn}\"\n{external}");
        only_error(&[("prod.toml", &text)])
    };
    let role = "arn:aws:iam::333333333333:role/paystack-deploy";
    let (at, message, help) = with("33333333333", role, "");
    assert_eq!(at, "prod.toml:4:6");
    assert!(message.contains("`33333333333` is not an AWS account id") && help.contains("12 digits"), "{message}");

    let (at, message, help) = with("444444444444", role, "");
    assert_eq!(at, "prod.toml:5:12");
    assert!(message.contains("the role is in account 333333333333, but `[account] id` is 444444444444"), "{message}");
    assert!(help.contains("name a role of that account"), "{help}");

    let (at, message, _) = with("333333333333", "arn:aws:iam::333333333333:user/deploy", "");
    assert_eq!(at, "prod.toml:5:12");
    assert!(message.contains("is not the ARN of an IAM role"), "{message}");

    let (at, message, help) = with("333333333333", role, "external_id = \"no spaces\"\n");
    assert_eq!(at, "prod.toml:6:15");
    assert!(message.contains("`no spaces` is not a valid external id") && help.contains("2 to 1224"), "{message}");

    let (at, message, _) =
        only_error(&[("prod.toml", "[network]\ncidr = \"10.2.0.0/16\"\n[account]\nid = \"333333333333\"\n")]);
    assert_eq!(at, "prod.toml:3:1");
    assert!(message.contains("needs both `id` and `role_arn`"), "{message}");
}

#[test]
fn an_account_in_the_shared_file_or_a_replica_in_the_same_region_is_refused() {
    let errors = load_with_shared(&[DEV], "\n[account]\nid = \"333333333333\"\n").unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].location.as_ref().unwrap().file.file_name().unwrap(), "shared.toml");
    assert!(errors[0].message.contains("`[account]` is set in the shared file"), "{}", errors[0].message);

    let (at, message, _) =
        only_error(&[("dev.toml", "replica_region = \"us-east-1\"\n[network]\ncidr = \"10.0.0.0/16\"\n")]);
    assert_eq!(at, "dev.toml:1:18");
    assert!(message.contains("the environment's own region"), "{message}");
    let (_, message, _) =
        only_error(&[("dev.toml", "replica_region = \"eu-west-9\"\n[network]\ncidr = \"10.0.0.0/16\"\n")]);
    assert!(message.contains("`eu-west-9` is not an AWS region"), "{message}");
}

#[test]
fn a_transit_gateway_is_read_from_the_shared_file_with_its_owner() {
    let tgw = "\n[transit_gateway]\naccount = \"444444444444\"\nrole_arn = \"arn:aws:iam::444444444444:role/paystack-network\"\nshared_services_cidr = \"10.100.0.0/16\"\n";
    let config = load_with_shared(&[DEV, PROD], tgw).unwrap();
    let got = config.environments["prod"].transit_gateway.clone().unwrap();
    assert_eq!(got.shared_services_cidr.to_string(), "10.100.0.0/16");
    let owner = got.owner.unwrap();
    assert_eq!((owner.id.as_str(), owner.external_id), ("444444444444", None));
    assert_eq!(owner.role_arn, "arn:aws:iam::444444444444:role/paystack-network");
    assert_eq!(config.environments["dev"].transit_gateway, config.environments["prod"].transit_gateway);

    let own = load_with_shared(&[DEV], "\n[transit_gateway]\nshared_services_cidr = \"10.100.0.0/16\"\n").unwrap();
    assert_eq!(own.environments["dev"].transit_gateway.as_ref().unwrap().owner, None, "the caller's account");
    assert_eq!(load(&[DEV]).unwrap().environments["dev"].transit_gateway, None);
}

#[test]
fn a_wrong_transit_gateway_is_located() {
    let located = |extra: &str| {
        let errors = load_with_shared(&[DEV], extra).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        let e = &errors[0];
        let (line, col) = e.location.as_ref().unwrap().line_col();
        let file = e.location.as_ref().unwrap().file.file_name().unwrap().to_string_lossy().into_owned();
        (format!("{file}:{line}:{col}"), e.message.clone(), e.help.clone().unwrap_or_default())
    };
    let start = SHARED.lines().count() + 2;

    let (at, message, help) = located("\n[transit_gateway]\naccount = \"444444444444\"\n");
    assert_eq!(at, format!("shared.toml:{start}:1"));
    assert!(message.contains("needs `shared_services_cidr`"), "{message}");
    assert!(help.contains("10.100.0.0/16"), "{help}");

    let (at, message, _) =
        located("\n[transit_gateway]\naccount = \"444444444444\"\nshared_services_cidr = \"10.100.0.0/16\"\n");
    assert_eq!(at, format!("shared.toml:{start}:1"));
    assert!(message.contains("both `account` and `role_arn`, or with neither"), "{message}");

    let (at, message, _) = located(
        "\n[transit_gateway]\naccount = \"444444444444\"\nrole_arn = \"arn:aws:iam::333333333333:role/x\"\nshared_services_cidr = \"10.100.0.0/16\"\n",
    );
    assert_eq!(at, format!("shared.toml:{}:12", start + 2));
    assert!(message.contains("but `[transit_gateway] account` is 444444444444"), "{message}");

    let (at, message, _) = located("\n[transit_gateway]\nshared_services_cidr = \"10.100.0.0\"\n");
    assert_eq!(at, format!("shared.toml:{}:24", start + 1));
    assert!(message.contains("is not an IPv4 CIDR block"), "{message}");

    // The shared-services range must be outside every environment's VPC.
    let (at, message, help) = located("\n[transit_gateway]\nshared_services_cidr = \"10.0.128.0/20\"\n");
    assert_eq!(at, format!("shared.toml:{}:24", start + 1));
    assert!(message.contains("overlaps `dev`'s VPC 10.0.0.0/16"), "{message}");
    assert!(help.contains("outside every environment's VPC"), "{help}");

    let (at, message, _) = only_error(&[(
        "dev.toml",
        "[network]\ncidr = \"10.0.0.0/16\"\n[transit_gateway]\nshared_services_cidr = \"10.100.0.0/16\"\n",
    )]);
    assert_eq!(at, "dev.toml:3:1");
    assert!(message.contains("`[transit_gateway]` is set in an environment's file"), "{message}");
}

#[test]
fn the_artifacts_lifecycle_defaults_and_is_overridden_per_environment() {
    let config = load(&[DEV, ("prod.toml", "[network]\ncidr = \"10.2.0.0/16\"\n[artifacts]\ninfrequent_access_days = 90\nglacier_ir_days = 180\nnoncurrent_expiration_days = 365\n")]).unwrap();
    let dev = &config.environments["dev"].artifacts;
    assert_eq!((dev.infrequent_access_days, dev.glacier_ir_days, dev.noncurrent_expiration_days), (30, 90, 30));
    let prod = &config.environments["prod"].artifacts;
    assert_eq!((prod.infrequent_access_days, prod.glacier_ir_days, prod.noncurrent_expiration_days), (90, 180, 365));
}

#[test]
fn lifecycle_days_s3_would_refuse_are_located() {
    let dev = |extra: &str| [("dev.toml", format!("[network]\ncidr = \"10.0.0.0/16\"\n[artifacts]\n{extra}"))];
    let (at, message, help) =
        only_error(&dev("infrequent_access_days = 10\n").each_ref().map(|(f, t)| (*f, t.as_str())));
    assert_eq!(at, "dev.toml:4:26");
    assert!(message.contains("infrequent_access_days` = 10"), "{message}");
    assert!(help.contains("no sooner than 30 days"), "{help}");
    let (at, message, help) = only_error(
        &dev("infrequent_access_days = 60\nglacier_ir_days = 60\n").each_ref().map(|(f, t)| (*f, t.as_str())),
    );
    assert_eq!(at, "dev.toml:5:19");
    assert!(message.contains("is not after `infrequent_access_days` = 60"), "{message}");
    assert!(help.contains("STANDARD_IA first, then to GLACIER_IR"), "{help}");
    let (_, message, _) =
        only_error(&dev("noncurrent_expiration_days = 0\n").each_ref().map(|(f, t)| (*f, t.as_str())));
    assert!(message.contains("noncurrent_expiration_days` = 0 is out of range"), "{message}");
}

#[test]
fn a_service_declares_parameters_that_fit_ssm_and_reach_the_container_once() {
    let config =
        load_with_shared(&[DEV], "parameters = { timeout_ms = \"3000\", \"limits/daily\" = \"10\" }\n").unwrap();
    let api = &config.environments["dev"].services[0];
    assert_eq!(api.parameters.get("timeout_ms").map(String::as_str), Some("3000"));
    assert_eq!(crate::parameter_variable("limits/daily"), "LIMITS_DAILY");

    for (parameters, wanted) in [
        ("{ \"bad name\" = \"1\" }", "cannot name an SSM parameter"),
        ("{ \"/lead\" = \"1\" }", "cannot name an SSM parameter"),
        ("{ \"a/b/c/d/e/f/g/h/i/j/k/l/m/n\" = \"1\" }", "levels deep"),
        ("{ db-port = \"1\" }", "reaches the container as DB_PORT, as `db_port` does"),
        ("{ Timeout = \"1\", timeout = \"2\" }", "reaches the container as TIMEOUT"),
        ("{ empty = \"\" }", "a value of 0 characters"),
    ] {
        let errors = load_with_shared(&[DEV], &format!("parameters = {parameters}\n")).unwrap_err();
        assert_eq!(errors.len(), 1, "{parameters}: {errors:#?}");
        assert!(errors[0].message.contains(wanted), "{parameters}: {}", errors[0].message);
        let (line, _) = errors[0].location.as_ref().unwrap().line_col();
        assert_eq!(line, SHARED.lines().count() + 1, "{parameters}");
    }
}

#[test]
fn a_provisioned_sessions_table_needs_both_capacity_ranges_within_dynamodb_s_limits() {
    use crate::{CapacityRange, SessionsCapacity};
    let dev = |sessions: &str| [("dev.toml", format!("[network]\ncidr = \"10.0.0.0/16\"\n[sessions]\n{sessions}"))];
    let load_dev = |sessions: &str| {
        let files = dev(sessions);
        load(&files.each_ref().map(|(f, t)| (*f, t.as_str())))
    };
    let config = load_dev("").unwrap();
    assert_eq!(config.environments["dev"].sessions.capacity, SessionsCapacity::OnDemand);
    let config = load_dev(
        "billing_mode = \"provisioned\"\nread_capacity = { min = 5, max = 50, target_percent = 70 }\nwrite_capacity = { min = 2, max = 20, target_percent = 60 }\n",
    )
    .unwrap();
    assert_eq!(
        config.environments["dev"].sessions.capacity,
        SessionsCapacity::Provisioned {
            read: CapacityRange { min: 5, max: 50, target_percent: 70.0 },
            write: CapacityRange { min: 2, max: 20, target_percent: 60.0 },
        }
    );
    for (sessions, wanted, line) in [
        ("billing_mode = \"provisioned\"\n", "needs `read_capacity` and `write_capacity`", 4),
        ("billing_mode = \"reserved\"\n", "is not a billing mode", 4),
        ("read_capacity = { min = 5, max = 50, target_percent = 70 }\n", "but the sessions table is on demand", 4),
        (
            "billing_mode = \"provisioned\"\nread_capacity = { min = 50, max = 5, target_percent = 70 }\nwrite_capacity = { min = 1, max = 2, target_percent = 70 }\n",
            "`sessions.read_capacity` = 50..5 is not a capacity range",
            5,
        ),
        (
            "billing_mode = \"provisioned\"\nread_capacity = { min = 1, max = 5, target_percent = 70 }\nwrite_capacity = { min = 1, max = 2, target_percent = 95 }\n",
            "target_percent` = 95 is outside 20 to 90",
            6,
        ),
    ] {
        let errors = load_dev(sessions).unwrap_err();
        assert_eq!(errors.len(), 1, "{sessions}: {errors:#?}");
        assert!(errors[0].message.contains(wanted), "{sessions}: {}", errors[0].message);
        assert_eq!(errors[0].location.as_ref().unwrap().line_col().0, line, "{sessions}");
    }
}

#[test]
fn the_tls_policy_defaults_to_tls_1_2_and_refuses_older_or_unknown_ones() {
    let dev = ("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n");
    let config = load_with_shared(&[dev], "").unwrap();
    assert_eq!(config.environments["dev"].load_balancer.tls_policy, "ELBSecurityPolicy-TLS13-1-2-2021-06");

    let old = (
        "dev.toml",
        "[network]\ncidr = \"10.0.0.0/16\"\n[load_balancer]\ntls_policy = \"ELBSecurityPolicy-2016-08\"\n",
    );
    let (at, message, help) = only_error(&[old]);
    assert_eq!(at, "dev.toml:4:14");
    assert!(message.contains("accepts TLS 1.0"), "{message}");
    assert!(help.contains("ELBSecurityPolicy-TLS13-1-2-2021-06"), "{help}");

    let typo =
        ("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n[load_balancer]\ntls_policy = \"ELBSecurityPolicy-TLS13\"\n");
    let (_, message, _) = only_error(&[typo]);
    assert!(message.contains("is not an Application Load Balancer security policy"), "{message}");

    let chosen = (
        "dev.toml",
        "[network]\ncidr = \"10.0.0.0/16\"\n[load_balancer]\ntls_policy = \"ELBSecurityPolicy-TLS13-1-3-2021-06\"\n",
    );
    let config = load_with_shared(&[chosen], "").unwrap();
    assert_eq!(config.environments["dev"].load_balancer.tls_policy, "ELBSecurityPolicy-TLS13-1-3-2021-06");
}

#[test]
fn prod_watches_itself_by_default_and_a_schedule_is_checked_before_any_call() {
    let config = load(&[("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n"), PROD]).unwrap();
    let (dev, prod) = (&config.environments["dev"], &config.environments["prod"]);
    assert_eq!(dev.drift.schedule, None);
    assert!(!dev.compliance.function && prod.compliance.function);
    let schedule = prod.drift.schedule.as_ref().expect("on in a protected environment");
    assert_eq!((schedule.expression.as_str(), schedule.fix), ("rate(15 minutes)", false));
    assert_eq!(schedule.image, "ghcr.io/acme/paystack:1.0.0", "from shared.toml");

    let on = "[network]\ncidr = \"10.0.0.0/16\"\n[drift.schedule]\nenabled = true\n";
    let (at, message, help) = only_error(&[("dev.toml", &format!("{on}expression = \"rate(15 minute)\"\n"))]);
    assert_eq!(at, "dev.toml:5:14");
    assert!(message.contains("`rate(15 minute)` has the unit `minute`"), "{message}");
    assert!(help.contains("rate(15 minutes)"), "{help}");

    let (at, message, _) = only_error(&[("dev.toml", &format!("{on}image = \"paystack\"\n"))]);
    assert_eq!(at, "dev.toml:5:9");
    assert!(message.contains("`paystack` is not an image reference"), "{message}");

    let (at, message, help) = only_error(&[
        ("dev.toml", "[network]\ncidr = \"10.0.0.0/16\"\n"),
        ("prod.toml", "[network]\ncidr = \"10.2.0.0/16\"\n[drift.schedule]\nfix = true\n"),
    ]);
    assert_eq!(at, "prod.toml:4:7");
    assert!(message.contains("protected"), "{message}");
    assert!(help.contains("drift --fix"), "{help}");
}

#[test]
fn the_firewall_runs_the_configured_managed_groups_and_refuses_what_waf_would() {
    let dev = |extra: &str| [("dev.toml", format!("[network]\ncidr = \"10.0.0.0/16\"\n[waf]\n{extra}"))];
    let config = load(&[DEV]).unwrap();
    let waf = &config.environments["dev"].waf;
    assert!(waf.enabled, "on unless turned off");
    assert_eq!(waf.rule_groups.len(), 4, "the common set, bad inputs, SQL injection, IP reputation");
    let groups = "rule_groups = [{ name = \"AWSManagedRulesSQLiRuleSet\", action = \"count\" }]\n";
    let config = load(&dev(groups).each_ref().map(|(f, t)| (*f, t.as_str()))).unwrap();
    assert_eq!(
        config.environments["dev"].waf.rule_groups,
        [crate::WafRuleGroup { name: "AWSManagedRulesSQLiRuleSet".into(), action: crate::WafAction::Count }]
    );
    for (extra, wanted) in [
        ("rule_groups = [{ name = \"AWSManagedRulesSQLi\" }]\n", "is not an AWS managed rule group"),
        ("rule_groups = [{ name = \"AWSManagedRulesSQLiRuleSet\", action = \"allow\" }]\n", "is not an action"),
        (
            "rule_groups = [{ name = \"AWSManagedRulesSQLiRuleSet\" }, { name = \"AWSManagedRulesSQLiRuleSet\" }]\n",
            "is named twice",
        ),
        ("rule_groups = []\n", "is empty"),
        (
            "rule_groups = [{ name = \"AWSManagedRulesCommonRuleSet\" }, { name = \"AWSManagedRulesLinuxRuleSet\" }, { name = \"AWSManagedRulesSQLiRuleSet\" }, { name = \"AWSManagedRulesKnownBadInputsRuleSet\" }, { name = \"AWSManagedRulesAdminProtectionRuleSet\" }, { name = \"AWSManagedRulesPHPRuleSet\" }, { name = \"AWSManagedRulesUnixRuleSet\" }]\n",
            "more than a web ACL's 1500",
        ),
    ] {
        let (at, message, _) = only_error(&dev(extra).each_ref().map(|(f, t)| (*f, t.as_str())));
        assert!(at.starts_with("dev.toml:4:"), "{extra}: {at}");
        assert!(message.contains(wanted), "{extra}: {message}");
    }
}
