//! Reading, merging and validating the files.
//!
//! Each file is parsed on its own into a partial model whose every value keeps its span, so
//! unknown keys and type errors point into the right file, and after merging every value
//! still knows where it came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use paystack_core::naming;
use serde::Deserialize;
use toml::Spanned;

use crate::cidr::Ipv4Cidr;
use crate::error::{ConfigError, ConfigErrors, Location};
use crate::model::{Config, Environment, Network, Security, Tags};
use regions::{REGIONS, is_region};
use state::{RawState, state_settings};
use waits::{RawWaits, waits};

mod account;
mod app;
mod automation;
mod container;
mod cost;
mod discovery;
mod platform;
mod regions;
mod state;
mod storage;
mod transit;
pub(crate) mod waf;
mod waits;
pub(crate) use platform::SERVERLESS_CLASS;

pub const SHARED_FILE: &str = "shared.toml";
pub use waf::MANAGED_RULE_GROUPS;

/// Names capped at 32 characters (load balancers, target groups) are shortened with a hash;
/// `{env}-{region}` must still fit in front of it for the name to say what it is.
const MAX_ENV_REGION_LEN: usize = 32 - 9;
pub(crate) const MAX_SUFFIX_LEN: usize = 16;
const MAX_ENV_LEN: usize = 12;

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    project: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    replica_region: Option<Spanned<String>>,
    account: Option<Spanned<account::RawAccount>>,
    transit_gateway: Option<Spanned<transit::RawTransitGateway>>,
    suffix: Option<Spanned<String>>,
    protected: Option<Spanned<bool>>,
    tags: Option<RawTags>,
    network: Option<RawNetwork>,
    security: Option<RawSecurity>,
    database: Option<platform::RawDatabase>,
    alerts: Option<platform::RawAlerts>,
    services: Option<app::RawServices>,
    logs: Option<app::RawLogs>,
    load_balancer: Option<app::RawLoadBalancer>,
    dns: Option<app::RawDns>,
    iam: Option<app::RawIam>,
    alarms: Option<app::RawAlarms>,
    drift: Option<app::RawDrift>,
    state: Option<RawState>,
    waits: Option<RawWaits>,
    cost: Option<cost::RawCost>,
    sessions: Option<storage::RawSessions>,
    artifacts: Option<storage::RawArtifacts>,
    access_logs: Option<storage::RawAccessLogs>,
    waf: Option<waf::RawWaf>,
    discovery: Option<discovery::RawDiscovery>,
    compliance: Option<automation::RawCompliance>,
}

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTags {
    application: Option<Spanned<String>>,
    cost_center: Option<Spanned<String>>,
}

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    cidr: Option<Spanned<String>>,
    availability_zones: Option<Spanned<Vec<String>>>,
    nat_gateways: Option<Spanned<i64>>,
    subnet_newbits: Option<Spanned<i64>>,
}

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSecurity {
    alb_ingress_ports: Option<Spanned<Vec<i64>>>,
    app_port: Option<Spanned<i64>>,
    db_port: Option<Spanned<i64>>,
}

struct SourceFile {
    path: PathBuf,
    text: Arc<str>,
}

impl SourceFile {
    fn read(path: PathBuf) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::unlocated(format!("cannot read {}: {e}", path.display()))
                .help("run paystack from the project root, or point --config at the config directory")
        })?;
        Ok(Self { path, text: text.into() })
    }

    fn at(&self, span: std::ops::Range<usize>) -> Location {
        Location { file: self.path.clone(), source: self.text.clone(), span }
    }

    fn parse(&self) -> Result<RawFile, ConfigError> {
        toml::from_str(&self.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let help = if e.message().contains("unknown field") {
                "remove the key or fix its spelling; the accepted keys are listed in docs/configuration.md"
            } else {
                "fix the TOML syntax or the value's type at the marked place"
            };
            ConfigError::at(self.at(span), e.message().trim().to_owned()).help(help)
        })
    }
}

/// A merged value and where it was written.
struct Located<T> {
    value: T,
    at: Location,
}

/// Collects errors while one environment is validated, so all are reported at once.
struct Checker<'a> {
    env: &'a str,
    env_file: &'a SourceFile,
    shared_file: &'a SourceFile,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    /// The environment file's value if it sets one, else the shared one. A missing required
    /// value is reported against the environment file.
    fn pick<T>(&mut self, key: &str, env: Option<Spanned<T>>, shared: Option<Spanned<T>>) -> Option<Located<T>> {
        match self.pick_optional(env, shared) {
            Some(v) => Some(v),
            None => {
                self.errors.push(
                    ConfigError::at(
                        self.env_file.at(0..0),
                        format!("`{key}` is not set for environment `{}`", self.env),
                    )
                    .help(format!(
                        "set `{key}` in {} (or in {} if every environment shares it)",
                        self.env_file.path.display(),
                        self.shared_file.path.display()
                    )),
                );
                None
            }
        }
    }

    /// Like [`Checker::pick`] for a value that may be left unset.
    fn pick_optional<T>(&self, env: Option<Spanned<T>>, shared: Option<Spanned<T>>) -> Option<Located<T>> {
        let (v, file) = match (env, shared) {
            (Some(v), _) => (v, self.env_file),
            (None, Some(v)) => (v, self.shared_file),
            (None, None) => return None,
        };
        let at = file.at(v.span());
        Some(Located { value: v.into_inner(), at })
    }

    fn fail(&mut self, at: &Location, message: impl Into<String>, help: impl Into<String>) {
        self.errors.push(ConfigError::at(at.clone(), message).help(help));
    }

    fn port(&mut self, key: &str, v: i64, at: &Location) -> Option<u16> {
        match u16::try_from(v) {
            Ok(p) if p > 0 => Some(p),
            _ => {
                self.fail(at, format!("`{key}`: {v} is not a TCP port"), "use a port from 1 to 65535");
                None
            }
        }
    }
}

impl Config {
    /// Loads and validates every environment in `dir`, and what holds between them (no two
    /// share address space). Nothing outside `dir` is touched.
    pub fn load(dir: &Path) -> Result<Config, ConfigErrors> {
        let env_paths = environment_files(dir)?;
        Self::load_files(dir, env_paths, true)
    }

    /// Loads and validates `shared.toml` and the one environment `name`, as the commands that
    /// work on one stack without planning it need (`output`, `state`, `unlock`, `drift`): a
    /// mistake in another environment's file does not stand in their way.
    pub fn load_one(dir: &Path, name: &str) -> Result<Config, ConfigErrors> {
        let env_paths = environment_files(dir)?;
        let Some(path) = env_paths.iter().find(|p| p.file_stem().is_some_and(|s| s == name)) else {
            let known: Vec<String> =
                env_paths.iter().filter_map(|p| p.file_stem()?.to_str().map(str::to_owned)).collect();
            return Err(crate::model::unknown_environment(name, &known, dir).into());
        };
        Self::load_files(dir, vec![path.clone()], false)
    }

    fn load_files(dir: &Path, env_paths: Vec<PathBuf>, across: bool) -> Result<Config, ConfigErrors> {
        let shared = SourceFile::read(dir.join(SHARED_FILE))?;
        // Every environment inherits from the shared file: one that does not parse is the
        // one cause, and whatever each environment would then miss follows from it.
        let shared_raw = shared.parse()?;

        let mut errors = Vec::new();
        let mut environments = BTreeMap::new();
        let mut cidrs: Vec<(String, Located<Ipv4Cidr>)> = Vec::new();
        for path in env_paths {
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
            let file = match SourceFile::read(path) {
                Ok(f) => f,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            if !naming::is_portable(&name) || name.len() > MAX_ENV_LEN {
                errors.push(
                    ConfigError::at(file.at(0..0), format!("`{name}` cannot name an environment"))
                        .help(format!("rename the file: environment names use lowercase letters, digits and single hyphens, at most {MAX_ENV_LEN} characters, because they start every AWS resource name")),
                );
                continue;
            }
            let raw = match file.parse() {
                Ok(raw) => raw,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let mut checker = Checker { env: &name, env_file: &file, shared_file: &shared, errors: Vec::new() };
            if let Some((env, cidr)) = build(&mut checker, raw, shared_raw.clone()) {
                cidrs.push((name.clone(), cidr));
                environments.insert(name.clone(), env);
            }
            errors.extend(checker.errors);
        }

        // Environments must never share address space: peering and transit need it, and a
        // mistake here is expensive to undo.
        let pairs = if across { cidrs.as_slice() } else { &[] };
        for (i, (a, ca)) in pairs.iter().enumerate() {
            for (b, cb) in &cidrs[i + 1..] {
                if ca.value.overlaps(cb.value) {
                    errors.push(
                        ConfigError::at(
                            cb.at.clone(),
                            format!("the CIDR {} of `{b}` overlaps {} of `{a}`", cb.value, ca.value),
                        )
                        .help("give each environment its own block, such as 10.0.0.0/16, 10.1.0.0/16, 10.2.0.0/16")
                        .related(format!("`{a}` sets its CIDR"), ca.at.clone()),
                    );
                }
            }
        }

        if errors.is_empty() {
            Ok(Config { dir: dir.to_owned(), environments })
        } else {
            Err(ConfigErrors(once_per_cause(errors)))
        }
    }
}

/// The environment files of `dir`: every `*.toml` but `shared.toml`, by name.
fn environment_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let mut env_paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ConfigError::unlocated(format!("cannot read {}: {e}", dir.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.file_name().is_some_and(|n| n != SHARED_FILE))
        .collect();
    env_paths.sort();
    if env_paths.is_empty() {
        return Err(ConfigError::unlocated(format!("no environment files in {}", dir.display()))
            .help("add one file per environment, such as dev.toml, next to shared.toml"));
    }
    Ok(env_paths)
}

/// A value in `shared.toml` is checked once per environment that inherits it; the same
/// message at the same place is one mistake, reported once.
fn once_per_cause(errors: Vec<ConfigError>) -> Vec<ConfigError> {
    let mut seen = std::collections::BTreeSet::new();
    errors
        .into_iter()
        .filter(|e| {
            let at = e.location.as_ref().map(|l| (l.file.clone(), l.span.start, l.span.end));
            seen.insert((at, e.message.clone()))
        })
        .collect()
}

pub(crate) fn check_suffix(suffix: &str) -> Result<(), (String, String)> {
    if !naming::is_portable(suffix) || suffix.len() > MAX_SUFFIX_LEN {
        return Err((
            format!("a suffix must be 1 to {MAX_SUFFIX_LEN} lowercase letters, digits or inner hyphens"),
            "it is appended to every AWS name, and S3 and RDS names allow only lowercase letters, digits and hyphens"
                .into(),
        ));
    }
    Ok(())
}

fn is_tag_value(s: &str) -> bool {
    s.len() <= 256 && s.chars().all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c))
}

fn build(c: &mut Checker<'_>, env: RawFile, shared: RawFile) -> Option<(Environment, Located<Ipv4Cidr>)> {
    let project = c.pick("project", env.project, shared.project);
    let region = c.pick("region", env.region, shared.region);
    let replica_region = c.pick_optional(env.replica_region, shared.replica_region);
    let account = account::account(c, env.account, shared.account);
    let suffix = c.pick_optional(env.suffix, shared.suffix);
    let protected = c.pick_optional(env.protected, shared.protected).map(|p| p.value);
    let is_protected = protected.unwrap_or(c.env == "prod");
    let (et, st) = (env.tags.unwrap_or_default(), shared.tags.unwrap_or_default());
    let application = c.pick("tags.application", et.application, st.application);
    let cost_center = c.pick("tags.cost_center", et.cost_center, st.cost_center);
    let (en, sn) = (env.network.unwrap_or_default(), shared.network.unwrap_or_default());
    let cidr = c.pick("network.cidr", en.cidr, sn.cidr);
    let azs = c.pick("network.availability_zones", en.availability_zones, sn.availability_zones);
    let nats = c.pick("network.nat_gateways", en.nat_gateways, sn.nat_gateways);
    let newbits = c.pick("network.subnet_newbits", en.subnet_newbits, sn.subnet_newbits);
    let (es, ss) = (env.security.unwrap_or_default(), shared.security.unwrap_or_default());
    let alb_ports = c.pick("security.alb_ingress_ports", es.alb_ingress_ports, ss.alb_ingress_ports);
    let app_port = c.pick("security.app_port", es.app_port, ss.app_port);
    let db_port = c.pick("security.db_port", es.db_port, ss.db_port);
    let (est, sst) = (env.state.unwrap_or_default(), shared.state.unwrap_or_default());
    let backend = c.pick_optional(est.backend, sst.backend);
    let bucket = c.pick_optional(est.bucket, sst.bucket);
    let lock_table = c.pick_optional(est.lock_table, sst.lock_table);
    let lease = c.pick_optional(est.lock_lease_seconds, sst.lock_lease_seconds);

    let name = c.env.to_owned();
    if let Some(p) = &project
        && (!naming::is_portable(&p.value) || p.value.len() > 32)
    {
        c.fail(
            &p.at,
            format!("`{}` cannot name a project", p.value),
            "use lowercase letters, digits and single hyphens, at most 32 characters",
        );
    }
    if let Some(r) = &region {
        if !is_region(&r.value) {
            c.fail(
                &r.at,
                format!("`{}` is not an AWS region", r.value),
                match REGIONS.iter().find(|known| {
                    // The same region with another number: `us-east-9` for `us-east-1`.
                    let stem = |name: &str| name.get(..name.len().saturating_sub(1)).map(str::to_owned);
                    known.len() == r.value.len() && stem(known) == stem(&r.value)
                }) {
                    Some(near) => format!("did you mean `{near}`? AWS has no region `{}`", r.value),
                    None => "use a region code such as us-east-1 or eu-west-1".to_owned(),
                },
            );
        } else if name.len() + 1 + r.value.len() > MAX_ENV_REGION_LEN {
            c.fail(
                &r.at,
                format!("`{name}-{}` is too long to start a resource name", r.value),
                format!("load balancer and target group names are capped at 32 characters; `{{env}}-{{region}}` may use at most {MAX_ENV_REGION_LEN}, so shorten the environment name"),
            );
        }
    }
    if let Some(s) = &suffix
        && let Err((message, help)) = check_suffix(&s.value)
    {
        c.fail(&s.at, format!("suffix `{}`: {message}", s.value), help);
    }
    for tag in [&application, &cost_center].into_iter().flatten() {
        if tag.value.is_empty() || !is_tag_value(&tag.value) {
            c.fail(
                &tag.at,
                format!("`{}` is not a valid AWS tag value", tag.value),
                "use 1 to 256 letters, digits, spaces or _ . : / = + - @",
            );
        }
    }

    let cidr_value = cidr.as_ref().and_then(|l| match l.value.parse::<Ipv4Cidr>() {
        Ok(v) if (16..=24).contains(&v.prefix()) => Some(Located { value: v, at: l.at.clone() }),
        Ok(v) => {
            c.fail(
                &l.at,
                format!("a VPC CIDR of /{} is outside what AWS allows for this layout", v.prefix()),
                "use a prefix from /16 to /24, such as 10.0.0.0/16",
            );
            None
        }
        Err(message) => {
            c.fail(&l.at, message, "write the block as ADDRESS/PREFIX, such as 10.0.0.0/16");
            None
        }
    });

    let zones = azs.as_ref().and_then(|l| {
        let letters = &l.value;
        let unique: std::collections::BTreeSet<&String> = letters.iter().collect();
        if !(2..=6).contains(&letters.len()) || unique.len() != letters.len() {
            c.fail(
                &l.at,
                "`network.availability_zones` needs 2 to 6 distinct zones",
                "list zone letters, such as [\"a\", \"b\", \"c\"]; a load balancer needs at least two",
            );
            return None;
        }
        if let Some(bad) = letters.iter().find(|z| !(z.len() == 1 && z.bytes().all(|b| (b'a'..=b'f').contains(&b)))) {
            c.fail(
                &l.at,
                format!("`{bad}` is not an availability-zone letter"),
                "zones are given by their letter, a to f; the region is prepended",
            );
            return None;
        }
        Some(letters.clone())
    });

    let nat_count = nats.as_ref().and_then(|l| {
        let max = zones.as_ref().map_or(6, Vec::len);
        match usize::try_from(l.value) {
            Ok(n) if (1..=max).contains(&n) => Some(n),
            _ => {
                c.fail(
                    &l.at,
                    format!("`network.nat_gateways` = {} is out of range", l.value),
                    format!("use 1 (shared) up to {max} (one per availability zone)"),
                );
                None
            }
        }
    });

    let newbits_value = newbits.as_ref().and_then(|l| {
        let zones = zones.as_ref().map_or(1, Vec::len) as u32;
        let prefix = cidr_value.as_ref().map_or(16, |v| i64::from(v.value.prefix()));
        // Public subnets use the lower half of the blocks and private ones the upper half.
        let fits = (1..=12).contains(&l.value) && (1u32 << (l.value - 1)) >= zones && prefix + l.value <= 28;
        if fits {
            u8::try_from(l.value).ok()
        } else {
            c.fail(
                &l.at,
                format!("`network.subnet_newbits` = {} cannot lay out {zones} public and {zones} private subnets inside a /{prefix}", l.value),
                "each half of the blocks must hold one subnet per zone, and a subnet can be no smaller than /28",
            );
            None
        }
    });

    let alb_ports_value = alb_ports.as_ref().and_then(|l| {
        let ports: Option<Vec<u16>> = l.value.iter().map(|p| c.port("security.alb_ingress_ports", *p, &l.at)).collect();
        let mut ports = ports?;
        ports.sort_unstable();
        ports.dedup();
        Some(ports)
    });
    let app_port_value = app_port.as_ref().and_then(|l| c.port("security.app_port", l.value, &l.at));
    let db_port_value = db_port.as_ref().and_then(|l| c.port("security.db_port", l.value, &l.at));

    let state = state_settings(c, backend, bucket, lock_table, lease);
    let database = platform::database(c, env.database.unwrap_or_default(), shared.database.unwrap_or_default());
    let alerts = platform::alerts(c, env.alerts.unwrap_or_default(), shared.alerts.unwrap_or_default());
    let services = app::services(c, env.services, shared.services);
    let logs = app::logs(c, env.logs.unwrap_or_default(), shared.logs.unwrap_or_default());
    let load_balancer =
        app::load_balancer(c, env.load_balancer.unwrap_or_default(), shared.load_balancer.unwrap_or_default());
    let dns = app::dns(c, env.dns.unwrap_or_default(), shared.dns.unwrap_or_default(), load_balancer.as_ref());
    let iam = app::iam(c, env.iam.unwrap_or_default(), shared.iam.unwrap_or_default());
    let alarms = app::alarms(c, env.alarms.unwrap_or_default(), shared.alarms.unwrap_or_default());
    let drift = app::drift(c, env.drift.unwrap_or_default(), shared.drift.unwrap_or_default(), is_protected);
    let compliance = automation::compliance(
        c,
        env.compliance.unwrap_or_default(),
        shared.compliance.unwrap_or_default(),
        is_protected,
    );
    let waits = waits(c, env.waits.unwrap_or_default(), shared.waits.unwrap_or_default());
    let cost = cost::cost(c, env.cost.unwrap_or_default(), shared.cost.unwrap_or_default());
    let sessions = storage::sessions(c, env.sessions.unwrap_or_default(), shared.sessions.unwrap_or_default());
    let artifacts = storage::artifacts(c, env.artifacts.unwrap_or_default(), shared.artifacts.unwrap_or_default());
    let access_logs =
        storage::access_logs(c, env.access_logs.unwrap_or_default(), shared.access_logs.unwrap_or_default());
    let waf = waf::waf(c, env.waf.unwrap_or_default(), shared.waf.unwrap_or_default());
    let discovery = discovery::discovery(
        c,
        env.discovery.unwrap_or_default(),
        shared.discovery.unwrap_or_default(),
        &name,
        project.as_ref().map(|p| p.value.as_str()),
    );

    let replica_region = account::replica_region(c, replica_region, region.as_ref());
    let transit_gateway = transit::transit_gateway(c, env.transit_gateway, shared.transit_gateway, cidr_value.as_ref());
    if !c.errors.is_empty() {
        return None;
    }
    let region = region?.value;
    let zones: Vec<String> = zones?.iter().map(|z| format!("{region}{z}")).collect();
    let cidr = cidr_value?;
    let environment = Environment {
        protected: is_protected,
        name,
        project: project?.value,
        region,
        replica_region: replica_region?,
        account: account?,
        transit_gateway: transit_gateway?,
        suffix: suffix.map(|s| s.value),
        tags: Tags { application: application?.value, cost_center: cost_center?.value },
        network: Network {
            cidr: cidr.value,
            availability_zones: zones,
            nat_gateways: nat_count?,
            subnet_newbits: newbits_value?,
        },
        security: Security { alb_ingress_ports: alb_ports_value?, app_port: app_port_value?, db_port: db_port_value? },
        database: database?,
        alerts: alerts?,
        services: services?,
        logs: logs?,
        load_balancer: load_balancer?,
        dns: dns?,
        iam: iam?,
        alarms: alarms?,
        drift: drift?,
        state: state?,
        waits,
        cost,
        sessions: sessions?,
        artifacts: artifacts?,
        access_logs: access_logs?,
        waf: waf?,
        discovery: discovery?,
        compliance: compliance?,
    };
    Some((environment, cidr))
}
