//! SDK clients, one set per (account role, region), all cloned from one loaded configuration.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_ec2 as ec2;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::config_bag::ConfigBag;
use tokio::sync::Mutex;

use crate::wait::WaitClock;

/// Where calls go: a region, and optionally a role to assume first (an environment that
/// lives in its own account).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub region: String,
    pub role: Option<Role>,
}

/// A role to assume, in another account, and how.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Role {
    pub arn: String,
    /// For a trust policy with an `sts:ExternalId` condition.
    pub external_id: Option<String>,
    /// What CloudTrail shows as the session: [`Role::session_name`].
    pub session_name: String,
}

impl Role {
    /// `paystack-{env}-{user}`, in the characters and the 64 that AWS allows a role
    /// session's name, so CloudTrail says which environment and who.
    pub fn session_name(env: &str, user: &str) -> String {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
        let name: String = format!("paystack-{env}-{user}").chars().map(|c| if allowed(c) { c } else { '-' }).collect();
        name.chars().take(64).collect()
    }
}

/// An account's role could not be assumed: the run stops before its first call there.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot assume the role {role}: {reason}. Check that the role exists, that its trust policy \
     trusts the caller's account{external}, and that the caller is allowed sts:AssumeRole on it"
)]
pub struct AssumeRoleError {
    pub role: String,
    pub reason: String,
    external: &'static str,
}

/// The clients for one target. Clients are cheap to clone and share one connection pool.
#[derive(Clone, Debug)]
pub struct Clients {
    pub ec2: ec2::Client,
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub rds: aws_sdk_rds::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    pub sns: aws_sdk_sns::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub iam: aws_sdk_iam::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub acm: aws_sdk_acm::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub route53: aws_sdk_route53::Client,
    pub ram: aws_sdk_ram::Client,
    pub kms: aws_sdk_kms::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub servicediscovery: aws_sdk_servicediscovery::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub wafv2: aws_sdk_wafv2::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    /// The clock the reconcilers' waits keep.
    pub wait_clock: WaitClock,
}

/// A client of one service over `config`, with [`NoBlindRetry`].
macro_rules! client {
    ($sdk:ident, $config:expr) => {
        $sdk::Client::from_conf($sdk::config::Builder::from($config).interceptor(NoBlindRetry).build())
    };
}

impl Clients {
    fn new(config: &SdkConfig, wait_clock: WaitClock) -> Self {
        // An emulator or an S3-compatible endpoint on a plain host name cannot take the
        // bucket as a subdomain; AWS itself gets the default, virtual-hosted style.
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .interceptor(NoBlindRetry)
            .build();
        Self {
            ec2: client!(ec2, config),
            s3: aws_sdk_s3::Client::from_conf(s3),
            dynamodb: client!(aws_sdk_dynamodb, config),
            rds: client!(aws_sdk_rds, config),
            secretsmanager: client!(aws_sdk_secretsmanager, config),
            sns: client!(aws_sdk_sns, config),
            logs: client!(aws_sdk_cloudwatchlogs, config),
            iam: client!(aws_sdk_iam, config),
            ecs: client!(aws_sdk_ecs, config),
            elbv2: client!(aws_sdk_elasticloadbalancingv2, config),
            autoscaling: client!(aws_sdk_applicationautoscaling, config),
            acm: client!(aws_sdk_acm, config),
            cloudwatch: client!(aws_sdk_cloudwatch, config),
            route53: client!(aws_sdk_route53, config),
            ram: client!(aws_sdk_ram, config),
            kms: client!(aws_sdk_kms, config),
            ssm: client!(aws_sdk_ssm, config),
            servicediscovery: client!(aws_sdk_servicediscovery, config),
            lambda: client!(aws_sdk_lambda, config),
            events: client!(aws_sdk_eventbridge, config),
            scheduler: client!(aws_sdk_scheduler, config),
            wafv2: client!(aws_sdk_wafv2, config),
            tagging: client!(aws_sdk_resourcegroupstagging, config),
            wait_clock,
        }
    }
}

/// The header [`NoBlindRetry`] sets on an answer it keeps the SDK from retrying.
pub(crate) const MAY_HAVE_ACTED: &str = "x-paystack-may-have-acted";

/// Keeps the SDK from repeating a call that makes something when AWS answered it with a
/// server error (500, 502, 504): AWS may have acted before it failed to answer, and a blind
/// retry would make a second VPC, or fail on "already exists" for a resource that is this
/// run's own. Such an answer comes back to the reconciler as a retryable error instead, and
/// the engine looks for the resource by its ownership tags before it creates it again.
/// Throttling and 503 are retried by the SDK as ever: AWS did not act on them.
///
/// The answer's status becomes 599, which no retry classifier retries, and it is marked
/// with [`MAY_HAVE_ACTED`] for [`crate::error::classify`].
#[derive(Debug)]
struct NoBlindRetry;

/// Operations that make something each time they are sent, whatever the SDK version: a
/// repeat is a duplicate or an "already exists".
fn makes_something(operation: &str) -> bool {
    const PREFIXES: &[&str] = &["Create", "Allocate", "Run"];
    const OPERATIONS: &[&str] = &["RegisterTaskDefinition", "ChangeResourceRecordSets", "AssociateRouteTable"];
    PREFIXES.iter().any(|p| operation.starts_with(p)) || OPERATIONS.contains(&operation)
}

impl Intercept for NoBlindRetry {
    fn name(&self) -> &'static str {
        "NoBlindRetry"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !cfg.load::<Metadata>().is_some_and(|m| makes_something(m.name())) {
            return Ok(());
        }
        let response = context.response_mut();
        let status = response.status().as_u16();
        if matches!(status, 500 | 502 | 504) {
            response.headers_mut().insert(MAY_HAVE_ACTED, status.to_string());
            *response.status_mut() = StatusCode::try_from(599)?;
        }
        Ok(())
    }
}

/// Loads the base configuration once from the environment (credentials, `AWS_ENDPOINT_URL`)
/// and hands out one [`Clients`] per [`Target`].
pub struct ClientPool {
    base: SdkConfig,
    wait_clock: WaitClock,
    by_target: Mutex<HashMap<Target, Clients>>,
}

/// Set once by `--no-assume-role`: every target is reached with the caller's own
/// credentials, which already act in the environment's account (the scheduled drift task's
/// role). Roles the configuration names are then never assumed.
static AS_CALLER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every pool of this process reach every target as the caller, assuming no role.
pub fn act_as_caller() {
    AS_CALLER.store(true, std::sync::atomic::Ordering::Relaxed);
}

impl ClientPool {
    /// Loads credentials and `AWS_ENDPOINT_URL` from the environment, with `region` (the
    /// configuration's) as the region: the SDK then never asks the instance metadata
    /// service for one. Every target sets its own region anyway. The waits' clock is
    /// [`WaitClock::from_env`]'s, or real time if that is not valid: the CLI checks it first.
    pub async fn from_env(region: &str) -> Self {
        // Throttling is the expected failure of a wide concurrent apply: the adaptive mode
        // adds client-side rate limiting on top of exponential backoff with jitter.
        let retry = RetryConfig::adaptive()
            .with_max_attempts(8)
            .with_initial_backoff(Duration::from_millis(200))
            .with_max_backoff(Duration::from_secs(20));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(30))
            .operation_timeout(Duration::from_secs(180))
            .build();
        let base = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .retry_config(retry)
            .timeout_config(timeouts)
            .load()
            .await;
        Self {
            base,
            wait_clock: WaitClock::from_env().unwrap_or(WaitClock::REAL),
            by_target: Mutex::new(HashMap::new()),
        }
    }

    /// The AWS Price List API's client, with the caller's own credentials. Its endpoint is
    /// in us-east-1, whatever region the prices are for.
    pub fn price_list(&self) -> aws_sdk_pricing::Client {
        aws_sdk_pricing::Client::new(&self.base.to_builder().region(Region::new("us-east-1")).build())
    }

    /// The account the caller's own credentials act in (STS `GetCallerIdentity`).
    pub async fn caller_account(&self) -> Result<String, String> {
        let out = aws_sdk_sts::Client::new(&self.base)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| format!("cannot tell which account these credentials act in: {}", innermost(&e)))?;
        out.account().map(str::to_owned).ok_or_else(|| "STS named no account for these credentials".to_owned())
    }

    /// The clients of `target`. A role is assumed once here, so that a refusal stops the run
    /// with one clear error before anything is read or changed; the SDK's provider then
    /// renews the role's credentials before they expire, however long the run.
    pub async fn clients(&self, target: &Target) -> Result<Clients, AssumeRoleError> {
        let mut by_target = self.by_target.lock().await;
        if let Some(c) = by_target.get(target) {
            return Ok(c.clone());
        }
        let mut config = self.base.to_builder().region(Region::new(target.region.clone()));
        let role = target.role.as_ref().filter(|_| !AS_CALLER.load(std::sync::atomic::Ordering::Relaxed));
        if let Some(role) = role {
            let mut builder = aws_config::sts::AssumeRoleProvider::builder(&role.arn)
                .session_name(&role.session_name)
                .configure(&self.base)
                .region(Region::new(target.region.clone()));
            if let Some(external_id) = &role.external_id {
                builder = builder.external_id(external_id);
            }
            let provider = builder.build().await;
            if let Err(e) = provider.provide_credentials().await {
                return Err(AssumeRoleError {
                    role: role.arn.clone(),
                    reason: innermost(&e),
                    external: if role.external_id.is_some() { " with the configured external id" } else { "" },
                });
            }
            config =
                config.credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider));
        }
        let clients = Clients::new(&config.build(), self.wait_clock);
        by_target.insert(target.clone(), clients.clone());
        Ok(clients)
    }
}

/// The innermost cause of an error, which says what went wrong in AWS's own words (the
/// outer ones say only "failed to load credentials").
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut at = e;
    while let Some(source) = at.source() {
        at = source;
    }
    at.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_named_after_the_environment_and_the_user_in_what_aws_allows() {
        assert_eq!(Role::session_name("prod", "alice"), "paystack-prod-alice");
        assert_eq!(Role::session_name("prod", "uid 1000"), "paystack-prod-uid-1000");
        assert_eq!(Role::session_name("dev", "DOMAIN\\jo"), "paystack-dev-DOMAIN-jo");
        let long = Role::session_name("staging", &"x".repeat(100));
        assert_eq!(long.len(), 64);
        assert!(long.starts_with("paystack-staging-xxx"));
    }
}
