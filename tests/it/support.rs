//! The harness: running the binary, reading the emulator through the SDK.

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

/// One stack under test: its suffix, its state directory, and a copy of the configuration it
/// may change.
pub(crate) struct Stack {
    pub(crate) env: &'static str,
    pub(crate) suffix: String,
    pub(crate) config: tempfile::TempDir,
    pub(crate) state: tempfile::TempDir,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Stack {
    /// A fresh stack of `env` with a suffix no other test uses.
    pub(crate) fn new(env: &'static str, test: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag: String = test.chars().filter(char::is_ascii_alphanumeric).take(8).collect::<String>().to_lowercase();
        let suffix = format!("{tag}{}{n}", std::process::id() % 10_000);
        let config = tempfile::tempdir().expect("tempdir");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        for entry in std::fs::read_dir(&source).expect("config dir") {
            let entry = entry.expect("config entry");
            std::fs::copy(entry.path(), config.path().join(entry.file_name())).expect("copy config");
        }
        Self { env, suffix, config, state: tempfile::tempdir().expect("tempdir") }
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
        let mut cmd = Command::new(binary());
        cmd.arg("--config").arg(self.config.path()).arg("--state-dir").arg(self.state.path());
        cmd.args(args).args(["--env", self.env, "--suffix", &self.suffix]);
        cmd.env("AWS_ENDPOINT_URL", endpoint()).env("NO_COLOR", "1").env_remove("PAYSTACK_LOG");
        cmd
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

    pub(crate) fn state_file(&self) -> PathBuf {
        self.state.path().join(format!("{}.json", self.key()))
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

pub(crate) async fn ec2() -> ec2::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(endpoint()).load().await;
    ec2::Client::new(&config)
}

/// Tag key → value.
pub(crate) fn tags(tags: &[ec2::types::Tag]) -> std::collections::BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned()))).collect()
}

/// Counts, by kind, every live EC2 resource tagged with the stack: what a user would find
/// in the console. Deleted NAT gateways and endpoints linger in AWS and are not counted.
pub(crate) async fn live_counts(
    client: &ec2::Client,
    stack: &Stack,
) -> std::collections::BTreeMap<&'static str, usize> {
    let f = stack.filter();
    let mut counts = std::collections::BTreeMap::new();
    counts.insert("vpc", client.describe_vpcs().filters(f.clone()).send().await.unwrap().vpcs().len());
    counts.insert("subnet", client.describe_subnets().filters(f.clone()).send().await.unwrap().subnets().len());
    counts.insert(
        "internet_gateway",
        client.describe_internet_gateways().filters(f.clone()).send().await.unwrap().internet_gateways().len(),
    );
    counts.insert("eip", client.describe_addresses().filters(f.clone()).send().await.unwrap().addresses().len());
    // The emulator ignores this call's tag filter, so the stack tag is checked here too.
    let nats = client.describe_nat_gateways().filter(f.clone()).send().await.unwrap();
    counts.insert(
        "nat_gateway",
        nats.nat_gateways()
            .iter()
            .filter(|n| tags(n.tags()).get("paystack:stack") == Some(&stack.key()))
            .filter(|n| n.state().is_some_and(|s| s.as_str() != "deleted" && s.as_str() != "deleting"))
            .count(),
    );
    counts.insert(
        "route_table",
        client.describe_route_tables().filters(f.clone()).send().await.unwrap().route_tables().len(),
    );
    counts.insert(
        "security_group",
        client.describe_security_groups().filters(f.clone()).send().await.unwrap().security_groups().len(),
    );
    let endpoints = client.describe_vpc_endpoints().filters(f).send().await.unwrap();
    counts.insert(
        "vpc_endpoint",
        endpoints
            .vpc_endpoints()
            .iter()
            .filter(|e| e.state().is_some_and(|s| !s.as_str().eq_ignore_ascii_case("deleted")))
            .count(),
    );
    counts
}

pub(crate) fn expected_counts(nat_gateways: usize) -> std::collections::BTreeMap<&'static str, usize> {
    [
        ("vpc", 1),
        ("subnet", 6),
        ("internet_gateway", 1),
        ("eip", nat_gateways),
        ("nat_gateway", nat_gateways),
        ("route_table", 4),
        ("security_group", 3),
        ("vpc_endpoint", 1),
    ]
    .into_iter()
    .collect()
}
