//! The harness: running the binary, reading the emulator through the SDK.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_ec2 as ec2;
use ec2::types::Filter;
use serde_json::Value;

pub(crate) fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL is not set: run the integration tests through scripts/test, which starts the AWS emulator"
        )
    })
}

/// The compliance function's package, as `scripts/package-function --profile dev` (run by
/// scripts/test) leaves it beside the binaries.
pub(crate) fn function_package() -> PathBuf {
    binary().parent().and_then(Path::parent).expect("target directory").join("lambda/paystack-compliance.zip")
}

/// The `paystack` binary built alongside this test binary.
pub(crate) fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target directory");
    let bin = dir.join("paystack");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p paystack-cli` (scripts/test does)",
        bin.display()
    );
    bin
}

/// One stack under test: its suffix, its own state bucket and lock table, and a copy of the
/// configuration it may change.
pub(crate) struct Stack {
    pub(crate) env: &'static str,
    pub(crate) suffix: String,
    pub(crate) config: tempfile::TempDir,
    pub(crate) state: tempfile::TempDir,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Stack {
    /// A fresh stack of `env` with a suffix no other test uses, its state backend created
    /// with `paystack init`.
    pub(crate) fn new(env: &'static str, test: &str) -> Self {
        let stack = Self::uninitialised(env, test);
        stack.run(&["init"]).success();
        stack
    }

    /// Like [`Stack::new`], with no state bucket or lock table yet.
    pub(crate) fn uninitialised(env: &'static str, test: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag: String = test.chars().filter(char::is_ascii_alphanumeric).take(8).collect::<String>().to_lowercase();
        let suffix = format!("{tag}{}{n}", std::process::id() % 10_000);
        let config = tempfile::tempdir().expect("tempdir");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        for entry in std::fs::read_dir(&source).expect("config dir") {
            let entry = entry.expect("config entry");
            std::fs::copy(entry.path(), config.path().join(entry.file_name())).expect("copy config");
        }
        let stack = Self { env, suffix, config, state: tempfile::tempdir().expect("tempdir") };
        let (bucket, table) = (stack.bucket(), stack.lock_table());
        stack.edit_config("shared.toml", |t| {
            let backend = "backend = \"s3\"\n";
            assert!(t.contains(backend), "shared.toml selects the s3 backend");
            t.replace(backend, &format!("{backend}bucket = \"{bucket}\"\nlock_table = \"{table}\"\n"))
        });
        stack
    }

    pub(crate) fn bucket(&self) -> String {
        format!("it-{}-{}", self.env, self.suffix)
    }

    pub(crate) fn lock_table(&self) -> String {
        format!("it-{}-{}-locks", self.env, self.suffix)
    }

    fn state_key(&self) -> String {
        format!("{}/state.json", self.key())
    }

    /// The stored state document, read straight from S3.
    pub(crate) async fn state(&self) -> Option<Value> {
        let out = s3().await.get_object().bucket(self.bucket()).key(self.state_key()).send().await.ok()?;
        let bytes = out.body.collect().await.expect("state body").into_bytes();
        Some(serde_json::from_slice(&bytes).expect("state is JSON"))
    }

    /// The AWS name state recorded for the resource `id`.
    pub(crate) async fn name_of(&self, id: &str) -> String {
        let state = self.state().await.expect("state exists");
        state["resources"][id]["name"].as_str().unwrap_or_else(|| panic!("{id} is not recorded")).to_owned()
    }

    pub(crate) async fn serial(&self) -> u64 {
        self.state().await.and_then(|v| v["serial"].as_u64()).unwrap_or(0)
    }

    /// How many versions of the state document S3 keeps: one per write, none overwritten.
    pub(crate) async fn state_versions(&self) -> Vec<u64> {
        let mut serials: Vec<u64> =
            self.state_documents().await.iter().map(|doc| doc["serial"].as_u64().expect("a serial")).collect();
        serials.sort_unstable();
        serials
    }

    /// Every version of the state document S3 keeps, as stored, through every listing page.
    pub(crate) async fn state_documents(&self) -> Vec<Value> {
        let client = s3().await;
        let mut documents = Vec::new();
        // ListObjectVersions has no paginator in the SDK: it pages by key and version markers.
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = client
                .list_object_versions()
                .bucket(self.bucket())
                .prefix(self.state_key())
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .unwrap();
            for v in page.versions() {
                let out = client
                    .get_object()
                    .bucket(self.bucket())
                    .key(self.state_key())
                    .version_id(v.version_id().unwrap())
                    .send()
                    .await
                    .unwrap();
                documents.push(serde_json::from_slice(&out.body.collect().await.unwrap().into_bytes()).unwrap());
            }
            if page.is_truncated() != Some(true) {
                return documents;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
        }
    }

    /// Loses the stack's state, as a deleted object would.
    pub(crate) async fn delete_state(&self) {
        s3().await.delete_object().bucket(self.bucket()).key(self.state_key()).send().await.unwrap();
    }

    /// The stack's state backend, opened as a second process would.
    pub(crate) async fn backend(&self) -> std::sync::Arc<dyn paystack_state::StateBackend> {
        let pool = paystack_aws::ClientPool::from_env("us-east-1").await;
        let clients = pool.clients(&paystack_aws::Target { region: "us-east-1".into(), role: None }).await.unwrap();
        let at = paystack_aws::StateLocation { bucket: self.bucket(), lock_table: self.lock_table() };
        std::sync::Arc::new(paystack_aws::RemoteBackend::new(&clients, &at, &self.key()))
    }

    pub(crate) fn key(&self) -> String {
        format!("{}-{}", self.env, self.suffix)
    }

    /// Runs `paystack ARGS --env ENV --suffix SUFFIX` against the emulator.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        let mut cmd = self.command(args);
        Run::from(cmd.output().expect("run paystack"))
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.command_for_every_env(args);
        cmd.args(["--env", self.env]);
        cmd
    }

    /// Like [`Stack::command`] without `--env`: for commands over every environment, with
    /// this stack's suffix.
    pub(crate) fn command_for_every_env(&self, args: &[&str]) -> Command {
        self.command_as(&self.suffix, args)
    }

    /// Like [`Stack::command_for_every_env`] for a sibling stack: this stack's configuration
    /// and state backend, another suffix.
    pub(crate) fn command_as(&self, suffix: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.arg("--config").arg(self.config.path()).arg("--state-dir").arg(self.state.path());
        cmd.args(args).args(["--suffix", suffix]);
        cmd.env("AWS_ENDPOINT_URL", endpoint()).env("NO_COLOR", "1").env_remove("PAYSTACK_LOG");
        cmd.env("PAYSTACK_FUNCTION_PACKAGE", function_package());
        cmd
    }

    /// The flags a command this stack's runs suggest must repeat, in the order paystack
    /// writes them: the environment, the tests' own configuration and state directories, and
    /// the suffix.
    pub(crate) fn typed(&self) -> String {
        format!(
            "--env {} --config {} --state-dir {} --suffix {}",
            self.env,
            self.config.path().display(),
            self.state.path().display(),
            self.suffix
        )
    }

    pub(crate) fn apply(&self) -> Run {
        self.run(&["apply", "--yes"]).success()
    }

    /// Rewrites one configuration file of this stack's copy.
    pub(crate) fn edit_config(&self, file: &str, edit: impl FnOnce(String) -> String) {
        let path = self.config.path().join(file);
        let text = std::fs::read_to_string(&path).expect("read config");
        std::fs::write(&path, edit(text)).expect("write config");
    }

    pub(crate) fn filter(&self) -> Filter {
        Filter::builder().name("tag:paystack:stack").values(self.key()).build()
    }
}

pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into(),
            stderr: String::from_utf8_lossy(&o.stderr).into(),
        }
    }
}

impl Run {
    #[track_caller]
    pub(crate) fn success(self) -> Self {
        assert_eq!(self.code, 0, "paystack failed\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    pub(crate) fn code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

tokio::task_local! {
    /// The account the helpers here act in, inside [`in_account`]; outside it, the
    /// emulator's default account (that of the static keys).
    static ACCOUNT: &'static str;
}

/// Runs `f` with every helper here acting in `account`, through the role the emulator
/// creates in each account it makes (any role assumed there acts in it).
/// A plan's changes other than no-ops, as (id, action), sorted.
pub(crate) fn changes(plan: &Value) -> Vec<(String, String)> {
    let mut changes: Vec<(String, String)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no-op")
        .map(|c| (c["id"].as_str().unwrap().to_owned(), c["action"].as_str().unwrap().to_owned()))
        .collect();
    changes.sort();
    changes
}

pub(crate) async fn in_account<F: std::future::Future>(account: &'static str, f: F) -> F::Output {
    ACCOUNT.scope(account, f).await
}

pub(crate) async fn sdk_config() -> aws_config::SdkConfig {
    let base = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(endpoint()).load().await;
    let Ok(account) = ACCOUNT.try_with(|a| *a) else { return base };
    let role = format!("arn:aws:iam::{account}:role/OrganizationAccountAccessRole");
    let provider = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name("paystack-tests")
        .configure(&base)
        .build()
        .await;
    base.to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider))
        .build()
}

/// The environment's region and its replica region, as the shipped configuration has them.
pub(crate) const REGION: &str = "us-east-1";
pub(crate) const REPLICA_REGION: &str = "eu-west-1";

pub(crate) async fn kms_in(region: &'static str) -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::config::Builder::from(&sdk_config().await).region(aws_config::Region::new(region));
    aws_sdk_kms::Client::from_conf(config.build())
}

pub(crate) async fn dynamodb_in(region: &'static str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await).region(aws_config::Region::new(region));
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

pub(crate) async fn ec2() -> ec2::Client {
    ec2::Client::new(&sdk_config().await)
}

pub(crate) async fn s3() -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&sdk_config().await).force_path_style(true).build();
    aws_sdk_s3::Client::from_conf(config)
}

pub(crate) async fn s3_in(region: &'static str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&sdk_config().await)
        .force_path_style(true)
        .region(aws_config::Region::new(region))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

pub(crate) async fn autoscaling() -> aws_sdk_applicationautoscaling::Client {
    aws_sdk_applicationautoscaling::Client::new(&sdk_config().await)
}

/// Opens `port` of `group` to the whole internet, as someone in the console would.
pub(crate) async fn open_to_the_internet(group: &str, port: i32) {
    let rule = ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .ip_ranges(ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build();
    ec2().await.authorize_security_group_ingress().group_id(group).ip_permissions(rule).send().await.unwrap();
}

pub(crate) async fn servicediscovery() -> aws_sdk_servicediscovery::Client {
    aws_sdk_servicediscovery::Client::new(&sdk_config().await)
}

pub(crate) async fn ssm() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&sdk_config().await)
}

pub(crate) async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config().await)
}

pub(crate) async fn rds() -> aws_sdk_rds::Client {
    aws_sdk_rds::Client::new(&sdk_config().await)
}

pub(crate) async fn secretsmanager() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&sdk_config().await)
}

pub(crate) async fn sns() -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(&sdk_config().await)
}

pub(crate) async fn logs() -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::new(&sdk_config().await)
}

pub(crate) async fn iam() -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&sdk_config().await)
}

pub(crate) async fn ecs() -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::new(&sdk_config().await)
}

pub(crate) async fn cloudwatch() -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(&sdk_config().await)
}

pub(crate) async fn elbv2() -> aws_sdk_elasticloadbalancingv2::Client {
    aws_sdk_elasticloadbalancingv2::Client::new(&sdk_config().await)
}

pub(crate) async fn wafv2() -> aws_sdk_wafv2::Client {
    aws_sdk_wafv2::Client::new(&sdk_config().await)
}

/// Tag key → value.
pub(crate) async fn route53() -> aws_sdk_route53::Client {
    aws_sdk_route53::Client::new(&sdk_config().await)
}

/// The hosted zone `scripts/seed.py` made, which the shipped configuration names.
pub(crate) const ZONE: &str = "payments.example.com";

/// The id of [`ZONE`].
pub(crate) async fn zone_id() -> String {
    let zones = route53().await.list_hosted_zones_by_name().dns_name(format!("{ZONE}.")).send().await.unwrap();
    let zone = zones.hosted_zones().iter().find(|z| z.name() == format!("{ZONE}.")).expect("the seeded zone");
    zone.id().trim_start_matches("/hostedzone/").to_owned()
}

/// Every record of [`ZONE`] (the emulator's zones are small: one page).
pub(crate) async fn zone_records() -> Vec<aws_sdk_route53::types::ResourceRecordSet> {
    let listed = route53()
        .await
        .list_resource_record_sets()
        .hosted_zone_id(zone_id().await)
        .max_items(300)
        .send()
        .await
        .unwrap();
    assert!(!listed.is_truncated(), "more records than one page");
    listed.resource_record_sets().to_vec()
}

pub(crate) fn tags(tags: &[ec2::types::Tag]) -> BTreeMap<String, String> {
    tag_pairs(tags.iter().map(|t| (t.key(), t.value())))
}

/// A live resource tagged with a stack, in any service.
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) kind: &'static str,
    pub(crate) aws_id: String,
    pub(crate) tags: BTreeMap<String, String>,
}

fn tag_pairs<'a>(pairs: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>) -> BTreeMap<String, String> {
    pairs.into_iter().filter_map(|(k, v)| Some((k?.to_owned(), v.unwrap_or_default().to_owned()))).collect()
}

/// Every item of every page a listing request answers with, through the SDK's paginator: a
/// helper that read one page would miss what lies past it, and "nothing left" could pass
/// with orphans.
macro_rules! all {
    ($request:expr) => {
        $request.into_paginator().items().send().collect::<Result<Vec<_>, _>>().await.unwrap()
    };
}

/// Every live resource tagged with the stack, in every service paystack manages: what a user
/// would find in the console. Deleted NAT gateways and endpoints linger in AWS and are left
/// out.
/// The data layer's live resources: keys, tables, buckets and parameters. Apart from
/// [`live_resources`], whose future would outgrow a debug build's stack.
async fn data_layer(stack: &Stack) -> Vec<Live> {
    let mut live = Vec::new();
    let mut add = |kind: &'static str, id: Option<&str>, tags: BTreeMap<String, String>| {
        live.push(Live { kind, aws_id: id.unwrap_or_default().to_owned(), tags });
    };
    // Keys in the environment's region and the replica region, however they were left (an
    // alias or none); a key whose deletion is scheduled is gone.
    for region in [REGION, REPLICA_REGION] {
        let kms = kms_in(region).await;
        for k in &all!(kms.list_keys()) {
            let id = k.key_id().unwrap();
            let described = kms.describe_key().key_id(id).send().await.unwrap();
            let meta = described.key_metadata().unwrap();
            if meta.key_state().is_some_and(|s| s.as_str().starts_with("Pending")) {
                continue;
            }
            let listed = kms.list_resource_tags().key_id(id).send().await.unwrap();
            add("kms_key", Some(id), tag_pairs(listed.tags().iter().map(|t| (Some(t.tag_key()), Some(t.tag_value())))));
        }
    }
    let dynamodb = dynamodb().await;
    for name in &all!(dynamodb.list_tables()) {
        let Ok(described) = dynamodb.describe_table().table_name(name).send().await else { continue };
        let Some(arn) = described.table().and_then(|t| t.table_arn()) else { continue };
        let Ok(listed) = dynamodb.list_tags_of_resource().resource_arn(arn).send().await else { continue };
        add("dynamodb_table", Some(name), tag_pairs(listed.tags().iter().map(|t| (Some(t.key()), Some(t.value())))));
    }
    // Buckets of every region (S3 lists them all at once); one another test deleted since
    // the listing has no tags to read.
    let s3 = s3().await;
    for b in s3.list_buckets().send().await.unwrap().buckets() {
        let Ok(tagging) = s3.get_bucket_tagging().bucket(b.name().unwrap()).send().await else { continue };
        add("s3_bucket", b.name(), tag_pairs(tagging.tag_set().iter().map(|t| (Some(t.key()), Some(t.value())))));
    }
    let ssm = ssm().await;
    // The stack's own path only: a listing of the whole account pages by position, and
    // another test's parameters made meanwhile would shift this one's past a page boundary.
    let path = aws_sdk_ssm::types::ParameterStringFilter::builder()
        .key("Name")
        .option("BeginsWith")
        .values(format!("/{}/", stack.key()))
        .build()
        .unwrap();
    let mut parameters = ssm.describe_parameters().parameter_filters(path).into_paginator().send();
    while let Some(page) = parameters.next().await {
        for p in page.unwrap().parameters() {
            let listed = ssm
                .list_tags_for_resource()
                .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
                .resource_id(p.name().unwrap())
                .send()
                .await;
            let Ok(listed) = listed else { continue };
            add(
                "ssm_parameter",
                p.name(),
                tag_pairs(listed.tag_list().iter().map(|t| (Some(t.key()), Some(t.value())))),
            );
        }
    }
    live
}

/// The Cloud Map namespaces and discovery services, with their tags.
async fn discovery_layer() -> Vec<Live> {
    let client = servicediscovery().await;
    let mut live = Vec::new();
    let tags_of = async |arn: &str| {
        let listed = client.list_tags_for_resource().resource_arn(arn).send().await.ok()?;
        Some(tag_pairs(listed.tags().iter().map(|t| (Some(t.key()), Some(t.value())))))
    };
    let mut pages = client.list_namespaces().into_paginator().send();
    while let Some(page) = pages.next().await {
        for n in page.unwrap().namespaces() {
            let Some(tags) = tags_of(n.arn().unwrap()).await else { continue };
            live.push(Live { kind: "discovery_namespace", aws_id: n.id().unwrap().to_owned(), tags });
        }
    }
    let mut pages = client.list_services().into_paginator().send();
    while let Some(page) = pages.next().await {
        for s in page.unwrap().services() {
            let Some(tags) = tags_of(s.arn().unwrap()).await else { continue };
            live.push(Live { kind: "discovery_service", aws_id: s.id().unwrap().to_owned(), tags });
        }
    }
    live
}

pub(crate) async fn live_resources(stack: &Stack) -> Vec<Live> {
    // On the heap: its future holds every listing's, and would grow each test's stack.
    Box::pin(listed_resources(stack)).await
}

async fn listed_resources(stack: &Stack) -> Vec<Live> {
    let client = ec2().await;
    let f = stack.filter();
    let mut live = Vec::new();
    let mut add = |kind: &'static str, id: Option<&str>, tags: BTreeMap<String, String>| {
        live.push(Live { kind, aws_id: id.unwrap_or_default().to_owned(), tags });
    };
    let t = |t: &[ec2::types::Tag]| tags(t);
    for v in &all!(client.describe_vpcs().filters(f.clone())) {
        add("vpc", v.vpc_id(), t(v.tags()));
    }
    for x in &all!(client.describe_subnets().filters(f.clone())) {
        add("subnet", x.subnet_id(), t(x.tags()));
    }
    for x in &all!(client.describe_internet_gateways().filters(f.clone())) {
        add("internet_gateway", x.internet_gateway_id(), t(x.tags()));
    }
    // DescribeAddresses has no pages: it answers with every address at once.
    for x in client.describe_addresses().filters(f.clone()).send().await.unwrap().addresses() {
        add("eip", x.allocation_id(), t(x.tags()));
    }
    // The emulator ignores this call's tag filter, so the stack tag is checked below too.
    for x in &all!(client.describe_nat_gateways().filter(f.clone())) {
        if x.state().is_some_and(|s| s.as_str() != "deleted" && s.as_str() != "deleting") {
            add("nat_gateway", x.nat_gateway_id(), t(x.tags()));
        }
    }
    for x in &all!(client.describe_route_tables().filters(f.clone())) {
        add("route_table", x.route_table_id(), t(x.tags()));
    }
    // The VPC's default ACL and group, adopted, are kinds of their own.
    for x in &all!(client.describe_network_acls().filters(f.clone())) {
        let kind = if x.is_default() == Some(true) { "default_network_acl" } else { "network_acl" };
        add(kind, x.network_acl_id(), t(x.tags()));
    }
    let groups = all!(client.describe_security_groups().filters(f.clone()));
    let mut group_ids = Vec::new();
    for x in &groups {
        let kind = if x.group_name() == Some("default") { "default_security_group" } else { "security_group" };
        add(kind, x.group_id(), t(x.tags()));
        group_ids.extend(x.group_id().map(str::to_owned));
    }
    if !group_ids.is_empty() {
        let by_group = ec2::types::Filter::builder().name("group-id").set_values(Some(group_ids)).build();
        let rules = all!(client.describe_security_group_rules().filters(by_group));
        // Rules of the stack's own groups that carry ownership tags: AWS's defaults carry none.
        for x in rules.iter().filter(|r| !r.tags().is_empty()) {
            add("security_group_rule", x.security_group_rule_id(), t(x.tags()));
        }
    }
    for x in &all!(client.describe_vpc_endpoints().filters(f.clone())) {
        if x.state().is_some_and(|s| !s.as_str().eq_ignore_ascii_case("deleted")) {
            add("vpc_endpoint", x.vpc_endpoint_id(), t(x.tags()));
        }
    }
    for x in &all!(client.describe_flow_logs().filter(f.clone())) {
        add("flow_log", x.flow_log_id(), t(x.tags()));
    }
    // Deleted attachments and route tables linger in AWS for a while. The emulator ignores
    // the attachments' tag filter; the stack's tag is checked below.
    let going = |state: &str| matches!(state, "deleting" | "deleted");
    for x in &all!(client.describe_transit_gateway_vpc_attachments().filters(f.clone())) {
        if !x.state().is_some_and(|s| going(s.as_str())) {
            add("transit_gateway_attachment", x.transit_gateway_attachment_id(), t(x.tags()));
        }
    }
    for x in &all!(client.describe_transit_gateway_route_tables().filters(f)) {
        if !x.state().is_some_and(|s| going(s.as_str())) {
            add("transit_gateway_route_table", x.transit_gateway_route_table_id(), t(x.tags()));
        }
    }

    let rds = rds().await;
    let rds_tags = |t: &[aws_sdk_rds::types::Tag]| tag_pairs(t.iter().map(|t| (t.key(), t.value())));
    for c in &all!(rds.describe_db_clusters()) {
        add("db_cluster", c.db_cluster_identifier(), rds_tags(c.tag_list()));
    }
    for i in &all!(rds.describe_db_instances()) {
        add("db_instance", i.db_instance_identifier(), rds_tags(i.tag_list()));
    }
    // A group another test deleted since the listing has no tags to list.
    for g in &all!(rds.describe_db_subnet_groups()) {
        let arn = g.db_subnet_group_arn().unwrap();
        let Ok(listed) = rds.list_tags_for_resource().resource_name(arn).send().await else { continue };
        add("db_subnet_group", g.db_subnet_group_name(), rds_tags(listed.tag_list()));
    }
    for g in &all!(rds.describe_db_cluster_parameter_groups()) {
        let arn = g.db_cluster_parameter_group_arn().unwrap();
        let Ok(listed) = rds.list_tags_for_resource().resource_name(arn).send().await else { continue };
        add("db_cluster_parameter_group", g.db_cluster_parameter_group_name(), rds_tags(listed.tag_list()));
    }
    let mut secrets = Vec::new();
    let mut pages = secretsmanager().await.list_secrets().into_paginator().send();
    while let Some(page) = pages.next().await {
        secrets.extend(page.unwrap().secret_list().iter().cloned());
    }
    for s in &secrets {
        add("secret", s.arn(), tag_pairs(s.tags().iter().map(|t| (t.key(), t.value()))));
    }
    for (arn, tags) in web_acls().await {
        add("web_acl", Some(&arn), tags);
    }
    let sns = sns().await;
    for topic in &all!(sns.list_topics()) {
        let arn = topic.topic_arn().unwrap();
        // A topic another test deleted since the listing is not there.
        let Ok(listed) = sns.list_tags_for_resource().resource_arn(arn).send().await else { continue };
        add("sns_topic", Some(arn), tag_pairs(listed.tags().iter().map(|t| (Some(t.key()), Some(t.value())))));
    }

    let logs = logs().await;
    for g in &all!(logs.describe_log_groups()) {
        let arn =
            g.log_group_arn().map(str::to_owned).unwrap_or_else(|| g.arn().unwrap().trim_end_matches(":*").to_owned());
        let Ok(listed) = logs.list_tags_for_resource().resource_arn(arn).send().await else { continue };
        let tags = listed.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
        add("log_group", g.log_group_name(), tags);
    }
    for l in Box::pin(data_layer(stack)).await {
        add(l.kind, Some(&l.aws_id), l.tags);
    }
    for l in Box::pin(discovery_layer()).await {
        add(l.kind, Some(&l.aws_id), l.tags);
    }
    for l in Box::pin(automation_layer(stack)).await {
        add(l.kind, Some(&l.aws_id), l.tags);
    }
    let iam = iam().await;
    for r in &all!(iam.list_roles().path_prefix(format!("/paystack/{}/", stack.key()))) {
        let Ok(got) = iam.get_role().role_name(r.role_name()).send().await else { continue };
        let tags = got.role().unwrap().tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
        add("iam_role", Some(r.role_name()), tags);
    }
    let ecs = ecs().await;
    let ecs_tags = |t: &[aws_sdk_ecs::types::Tag]| tag_pairs(t.iter().map(|t| (t.key(), t.value())));
    // DescribeClusters takes at most 100 clusters, DescribeServices at most 10 services.
    for clusters in all!(ecs.list_clusters()).chunks(100) {
        let described = ecs
            .describe_clusters()
            .set_clusters(Some(clusters.to_vec()))
            .include(aws_sdk_ecs::types::ClusterField::Tags)
            .send()
            .await
            .unwrap();
        for c in described.clusters().iter().filter(|c| c.status() == Some("ACTIVE")) {
            add("ecs_cluster", c.cluster_name(), ecs_tags(c.tags()));
            for services in all!(ecs.list_services().cluster(c.cluster_arn().unwrap())).chunks(10) {
                let described = ecs
                    .describe_services()
                    .cluster(c.cluster_arn().unwrap())
                    .set_services(Some(services.to_vec()))
                    .include(aws_sdk_ecs::types::ServiceField::Tags)
                    .send()
                    .await
                    .unwrap();
                for svc in described.services().iter().filter(|s| s.status() == Some("ACTIVE")) {
                    add("ecs_service", svc.service_name(), ecs_tags(svc.tags()));
                }
            }
        }
    }
    // Deregistered revisions stay listed as INACTIVE; only active ones are live.
    for arn in &all!(ecs.list_task_definitions().status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)) {
        let described = ecs
            .describe_task_definition()
            .task_definition(arn)
            .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
            .send()
            .await
            .unwrap();
        add("task_definition", Some(arn), ecs_tags(described.tags()));
    }
    let elbv2 = elbv2().await;
    let lbs = all!(elbv2.describe_load_balancers());
    let tgs = all!(elbv2.describe_target_groups());
    let mut arns: Vec<(&'static str, String)> = Vec::new();
    for lb in &lbs {
        let lb_arn = lb.load_balancer_arn().unwrap();
        arns.push(("load_balancer", lb_arn.to_owned()));
        // A load balancer another test deleted since the listing has no listeners to list.
        let listeners: Result<Vec<_>, _> =
            elbv2.describe_listeners().load_balancer_arn(lb_arn).into_paginator().items().send().collect().await;
        arns.extend(listeners.unwrap_or_default().iter().map(|l| ("listener", l.listener_arn().unwrap().to_owned())));
    }
    arns.extend(tgs.iter().map(|g| ("target_group", g.target_group_arn().unwrap().to_owned())));
    for chunk in arns.chunks(20) {
        let Ok(described) =
            elbv2.describe_tags().set_resource_arns(Some(chunk.iter().map(|(_, a)| a.clone()).collect())).send().await
        else {
            continue;
        };
        for d in described.tag_descriptions() {
            let Some((kind, arn)) = chunk.iter().find(|(_, a)| Some(a.as_str()) == d.resource_arn()) else { continue };
            add(kind, Some(arn), tag_pairs(d.tags().iter().map(|t| (t.key(), t.value()))));
        }
    }

    let cloudwatch = cloudwatch().await;
    let mut alarms = Vec::new();
    let mut pages = cloudwatch.describe_alarms().into_paginator().send();
    while let Some(page) = pages.next().await {
        alarms.extend(page.unwrap().metric_alarms().iter().cloned());
    }
    for a in &alarms {
        let Ok(listed) = cloudwatch.list_tags_for_resource().resource_arn(a.alarm_arn().unwrap()).send().await else {
            continue;
        };
        add("alarm", a.alarm_name(), tag_pairs(listed.tags().iter().map(|t| (t.key(), t.value()))));
    }

    // Records take no tags: an owner TXT record under `{stack}._paystack.{zone}` names the
    // resource and the alias record it owns.
    let records = zone_records().await;
    let owners = format!(".{}._paystack.{ZONE}.", stack.key());
    for owner in records.iter().filter(|r| r.r#type().as_str() == "TXT" && r.name().ends_with(&owners)) {
        let value = owner.resource_records()[0].value().trim_matches('"').to_owned();
        let words: BTreeMap<&str, &str> = value.split(',').filter_map(|w| w.split_once('=')).collect();
        let owned = records.iter().find(|r| {
            r.r#type().as_str() == "A"
                && r.name().trim_end_matches('.') == words["record"]
                && r.set_identifier() == words.get("set").copied()
        });
        if let Some(record) = owned {
            // Named as paystack shows it: weighted records by name and set identifier.
            let name = words["record"].to_owned();
            let shown = record.set_identifier().map_or_else(|| name.clone(), |set| format!("{name}/{set}"));
            let tags = BTreeMap::from([
                ("paystack:stack".to_owned(), stack.key()),
                ("paystack:resource".to_owned(), words["resource"].to_owned()),
                ("Name".to_owned(), shown),
            ]);
            let zone = zone_id().await;
            let aws_id = format!("{zone}/{name}/A/{}", record.set_identifier().unwrap_or("-"));
            add("dns_record", Some(&aws_id), tags);
        }
    }

    live.retain(|l| l.tags.get("paystack:stack") == Some(&stack.key()));
    live
}

/// What the platform runs to watch itself: compliance functions and their rules (tagged),
/// and drift schedules (untagged: named `{stack}.{id}`, shown here with the tags the name
/// stands for).
async fn automation_layer(stack: &Stack) -> Vec<Live> {
    let config = sdk_config().await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let scheduler = aws_sdk_scheduler::Client::new(&config);
    let mut out = Vec::new();
    for f in &all!(lambda.list_functions()) {
        let Ok(listed) = lambda.list_tags().resource(f.function_arn().unwrap()).send().await else { continue };
        let tags = listed.tags().cloned().unwrap_or_default().into_iter().collect();
        out.push(Live { kind: "lambda_function", aws_id: f.function_name().unwrap().to_owned(), tags });
    }
    // ListRules has no paginator: the pages are followed by their token, since a group's
    // prod stacks make more rules than one page holds.
    let mut next = None;
    loop {
        let page = events.list_rules().set_next_token(next.take()).send().await.unwrap();
        for r in page.rules() {
            let Ok(listed) = events.list_tags_for_resource().resource_arn(r.arn().unwrap()).send().await else {
                continue;
            };
            let tags = listed.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
            out.push(Live { kind: "event_rule", aws_id: r.name().unwrap().to_owned(), tags });
        }
        next = page.next_token().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    let prefix = format!("{}.", stack.key());
    for s in &all!(scheduler.list_schedules().name_prefix(&prefix)) {
        let name = s.name().unwrap().to_owned();
        let tags = BTreeMap::from([
            ("paystack:stack".to_owned(), stack.key()),
            ("paystack:resource".to_owned(), name[prefix.len()..].to_owned()),
            ("Name".to_owned(), name.clone()),
        ]);
        out.push(Live { kind: "schedule", aws_id: name, tags });
    }
    out
}

/// The auto-scaling policies of the stack (they take no tags: their names say whose they are).
pub(crate) async fn scaling_policies(stack: &Stack) -> Vec<String> {
    let client = aws_sdk_applicationautoscaling::Client::new(&sdk_config().await);
    let policies = all!(
        client
            .describe_scaling_policies()
            .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
    );
    let prefix = format!("{}.", stack.key());
    policies.iter().map(|p| p.policy_name().to_owned()).filter(|n| n.starts_with(&prefix)).collect()
}

/// Counts [`live_resources`] by kind.
pub(crate) async fn live_counts(stack: &Stack) -> BTreeMap<&'static str, usize> {
    let mut counts: BTreeMap<&'static str, usize> = expected_counts("dev").keys().map(|k| (*k, 0)).collect();
    for l in live_resources(stack).await {
        *counts.entry(l.kind).or_default() += 1;
    }
    counts
}

/// What an apply of each environment's shipped configuration makes, by kind: dev has one
/// NAT gateway and a writer only; staging and prod a NAT gateway per zone and two readers.
pub(crate) fn expected_counts(env: &str) -> BTreeMap<&'static str, usize> {
    let (nat_gateways, db_instances) = if env == "dev" { (1, 1) } else { (3, 3) };
    // Production watches itself: the compliance function, its log group and role, a rule per
    // watched service; the drift schedule, its task, log group and three roles.
    let watched = usize::from(env == "prod");
    [
        ("vpc", 1),
        ("subnet", 6),
        ("internet_gateway", 1),
        ("eip", nat_gateways),
        ("nat_gateway", nat_gateways),
        ("route_table", 4),
        ("network_acl", 2),
        ("security_group", 3),
        // The VPC's own, adopted and emptied.
        ("default_security_group", 1),
        ("default_network_acl", 1),
        ("security_group_rule", 2),
        ("vpc_endpoint", 1),
        ("flow_log", 1),
        // A key in the environment's region and one in the replica region.
        ("kms_key", 2),
        ("dynamodb_table", 1),
        // The artifacts bucket and its replica, and the access-log bucket.
        ("s3_bucket", 3),
        // Ten per service (the platform's), and the one payments-api declares.
        ("ssm_parameter", 21),
        ("db_subnet_group", 1),
        ("db_cluster_parameter_group", 1),
        ("db_cluster", 1),
        ("db_instance", db_instances),
        ("secret", 1),
        ("sns_topic", 1),
        // One per service, the database's PostgreSQL log, the flow log's and the firewall's.
        ("log_group", 5 + 2 * watched),
        // Two per service, the artifacts' replication role, the flow log's delivery role, and
        // production's four watchers'.
        ("iam_role", 6 + 4 * watched),
        ("ecs_cluster", 1),
        ("task_definition", 2 + watched),
        ("ecs_service", 2),
        // The namespace, and a discovery service per service.
        ("discovery_namespace", 1),
        ("discovery_service", 2),
        ("load_balancer", 1),
        ("target_group", 1),
        ("listener", 2),
        // The firewall on the load balancer.
        ("web_acl", 1),
        // The platform's six, and the replication latency of the sessions and the artifacts.
        ("alarm", 8),
        // Production's blue and green weighted records; one plain record elsewhere.
        ("dns_record", if env == "prod" { 2 } else { 1 }),
        ("lambda_function", watched),
        ("event_rule", 11 * watched),
        ("schedule", watched),
    ]
    .into_iter()
    .collect()
}

/// Every web ACL of the region with its tags, through every listing page.
async fn web_acls() -> Vec<(String, BTreeMap<String, String>)> {
    let waf = wafv2().await;
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let scope = aws_sdk_wafv2::types::Scope::Regional;
        let page = waf.list_web_acls().scope(scope).set_next_marker(marker).send().await.unwrap();
        for acl in page.web_acls() {
            let arn = acl.arn().unwrap();
            // An ACL another test deleted since the listing has no tags to list.
            let Ok(listed) = waf.list_tags_for_resource().resource_arn(arn).send().await else { continue };
            let tags = listed.tag_info_for_resource().map(|t| t.tag_list()).unwrap_or_default();
            out.push((arn.to_owned(), tag_pairs(tags.iter().map(|t| (Some(t.key()), Some(t.value()))))));
        }
        marker = page.next_marker().filter(|m| !m.is_empty() && !page.web_acls().is_empty()).map(str::to_owned);
        if marker.is_none() {
            return out;
        }
    }
}

/// How many live resources an apply of the environment makes.
pub(crate) fn expected_total(env: &str) -> usize {
    expected_counts(env).values().sum()
}

/// How many specs an apply of the environment plans and records: the live resources, plus
/// the settings that live on them (each service's auto-scaling, production's rotation).
pub(crate) fn expected_specs(env: &str) -> usize {
    // The database secret's policy, the artifacts bucket's access logging; production's
    // rotation, and the permission of each of its eleven compliance rules.
    expected_total(env) + 4 + 12 * usize::from(env == "prod")
}

/// One request the emulator's recorder saw: the access key that signed it, and its
/// operation (`Action`, `X-Amz-Target`, or the HTTP method of a REST call).
#[derive(Debug)]
pub(crate) struct Recorded {
    pub(crate) access_key: String,
    pub(crate) operation: String,
}

impl Recorded {
    /// Whether the request may change something in AWS.
    pub(crate) fn writes(&self) -> bool {
        let read = ["Describe", "List", "Get", "GET", "HEAD"];
        !read.iter().any(|r| self.operation.starts_with(r))
    }
}

/// Runs `f` with the emulator's request recorder on and returns what it recorded. Other
/// tests' requests are recorded too; tell them apart by the access key. The emulator has one
/// recorder: the tests that use it are one test group (`.config/nextest.toml`), run one at a
/// time.
pub(crate) fn recording<T>(f: impl FnOnce() -> T) -> (T, Vec<Recorded>) {
    recorder("POST", "reset-recording");
    recorder("POST", "start-recording");
    let out = f();
    recorder("POST", "stop-recording");
    let text = recorder("GET", "download-recording");
    // One JSON document per request; concurrent requests may share a line.
    let calls = serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .map(|entry| {
            let entry = entry.expect("recorder entry");
            let header = |name: &str| {
                entry["headers"]
                    .as_object()
                    .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str()))
            };
            let access_key = header("authorization")
                .and_then(|a| a.split("Credential=").nth(1))
                .and_then(|c| c.split('/').next())
                .unwrap_or_default()
                .to_owned();
            let raw = entry["body"].as_str().unwrap_or_default();
            let body = if entry["body_encoded"].as_bool() == Some(true) {
                String::from_utf8_lossy(&aws_smithy_types::base64::decode(raw).unwrap_or_default()).into_owned()
            } else {
                raw.to_owned()
            };
            let action = body
                .split('&')
                .chain(entry["url"].as_str().and_then(|u| u.split_once('?')).map(|(_, q)| q))
                .find_map(|pair| pair.strip_prefix("Action="));
            let operation = match (header("x-amz-target"), action) {
                (Some(target), _) => target.rsplit('.').next().unwrap_or(target).to_owned(),
                (None, Some(action)) => action.to_owned(),
                (None, None) => entry["method"].as_str().unwrap_or("?").to_owned(),
            };
            Recorded { access_key, operation }
        })
        .collect();
    (out, calls)
}

/// One plain HTTP/1.0 request to the emulator's recorder API.
fn recorder(method: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let endpoint = endpoint();
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).expect("connect to the emulator");
    write!(stream, "{method} /moto-api/recorder/{path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read the emulator's answer");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{method} {path}: {head}");
    body.to_owned()
}

/// Every live resource of the stack is in state under its own id and name, exactly once,
/// and every recorded resource is live.
pub(crate) async fn assert_exactly_what_state_records(stack: &Stack, expected: usize, when: &str) {
    let state = stack.state().await.expect("state exists");
    let records = state["resources"].as_object().unwrap();
    // A setting of another resource (a secret's rotation) is recorded but is no resource of
    // its own in AWS.
    let settings = [
        "secretsmanager.rotation",
        "secretsmanager.secret_policy",
        "s3.bucket_logging",
        "autoscaling.service_scaling",
        "lambda.permission",
    ];
    let resources = records.values().filter(|r| !settings.iter().any(|k| r["kind"] == *k)).count();
    assert_eq!(resources, expected, "{when}: state records every resource");
    assert!(state.get("pending").is_none(), "{when}: the journal is settled: {}", state["pending"]);
    let live = live_resources(stack).await;
    assert_eq!(live.len(), expected, "{when}: live resources: {live:#?}");
    let mut by_id = std::collections::BTreeMap::new();
    let mut by_name = std::collections::BTreeMap::new();
    for l in &live {
        let id = l.tags.get("paystack:resource").cloned().unwrap_or_default();
        let name = l.tags.get("Name").cloned().unwrap_or_default();
        *by_id.entry(id.clone()).or_insert(0) += 1;
        *by_name.entry(name.clone()).or_insert(0) += 1;
        let record = records.get(&id).unwrap_or_else(|| panic!("{when}: {} ({id}) is untracked", l.aws_id));
        assert_eq!(record["aws_id"], l.aws_id.as_str(), "{when}: {id} is tracked under another AWS id");
        assert_eq!(record["name"], name.as_str(), "{when}: {id}");
    }
    assert!(by_id.values().all(|n| *n == 1), "{when}: a resource exists twice: {by_id:?}");
    assert!(by_name.values().all(|n| *n == 1), "{when}: a name is used twice: {by_name:?}");
}

/// Makes a security group by hand in the stack's VPC that carries the stack's ownership
/// tags but was never in its configuration: what `drift` reports as unmanaged. Returns its id.
pub(crate) async fn plant_unmanaged_security_group(stack: &Stack) -> String {
    let out = stack.run(&["output", "--json"]).success().json();
    let vpc = out["vpc_id"].as_str().expect("the stack's VPC");
    let tag = |k: &str, v: &str| ec2::types::Tag::builder().key(k).value(v).build();
    let rogue = ec2()
        .await
        .create_security_group()
        .group_name(format!("rogue-{}", stack.suffix))
        .description("made by hand")
        .vpc_id(vpc)
        .tag_specifications(
            ec2::types::TagSpecification::builder()
                .resource_type(ec2::types::ResourceType::SecurityGroup)
                .tags(tag("paystack:stack", &stack.key()))
                .tags(tag("paystack:resource", "security.sg.rogue"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    rogue.group_id().expect("a group id").to_owned()
}

/// The forms a password can take in text: as is, JSON-escaped, URL-encoded and base64.
pub(crate) fn forms(password: &str) -> [(&'static str, String); 4] {
    let json = serde_json::to_string(password).unwrap();
    [
        ("as is", password.to_owned()),
        ("JSON-escaped", json[1..json.len() - 1].to_owned()),
        (
            "URL-encoded",
            percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC).to_string(),
        ),
        ("base64", aws_smithy_types::base64::encode(password)),
    ]
}

/// The form in which `text` holds the password, if it does.
pub(crate) fn leak(text: &str, password: &str) -> Option<&'static str> {
    forms(password).into_iter().find(|(_, form)| text.contains(form.as_str())).map(|(name, _)| name)
}

/// Asserts that no place holds the password in any form. Each place is first searched with
/// the password planted in a copy of it, in each form: a search that cannot find it fails.
pub(crate) fn assert_no_leak(places: &[(String, String)], password: &str) {
    assert!(!places.is_empty());
    for (place, text) in places {
        for (form, planted) in forms(password) {
            let copy = format!("{text}{planted}");
            assert!(leak(&copy, password).is_some(), "the search cannot see the password {form} in {place}");
        }
        assert_eq!(leak(text, password), None, "the database password appears in {place}");
    }
}
