//! SDK clients, one set per (account role, region), all cloned from one loaded configuration.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2 as ec2;
use tokio::sync::Mutex;

/// Where calls go: a region, and optionally a role to assume first (an environment that
/// lives in its own account).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub region: String,
    pub role_arn: Option<String>,
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
}

impl Clients {
    fn new(config: &SdkConfig) -> Self {
        // An emulator or an S3-compatible endpoint on a plain host name cannot take the
        // bucket as a subdomain; AWS itself gets the default, virtual-hosted style.
        let s3 = aws_sdk_s3::config::Builder::from(config).force_path_style(config.endpoint_url().is_some()).build();
        Self {
            ec2: ec2::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            rds: aws_sdk_rds::Client::new(config),
            secretsmanager: aws_sdk_secretsmanager::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            ecs: aws_sdk_ecs::Client::new(config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(config),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(config),
            acm: aws_sdk_acm::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            route53: aws_sdk_route53::Client::new(config),
        }
    }
}

/// Loads the base configuration once from the environment (credentials, `AWS_ENDPOINT_URL`)
/// and hands out one [`Clients`] per [`Target`].
pub struct ClientPool {
    base: SdkConfig,
    by_target: Mutex<HashMap<Target, Clients>>,
}

impl ClientPool {
    pub async fn from_env() -> Self {
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
        let base =
            aws_config::defaults(BehaviorVersion::latest()).retry_config(retry).timeout_config(timeouts).load().await;
        Self { base, by_target: Mutex::new(HashMap::new()) }
    }

    pub async fn clients(&self, target: &Target) -> Clients {
        let mut by_target = self.by_target.lock().await;
        if let Some(c) = by_target.get(target) {
            return c.clone();
        }
        let mut config = self.base.to_builder().region(Region::new(target.region.clone()));
        if let Some(role) = &target.role_arn {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("paystack")
                .configure(&self.base)
                .region(Region::new(target.region.clone()))
                .build()
                .await;
            config =
                config.credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider));
        }
        let clients = Clients::new(&config.build());
        by_target.insert(target.clone(), clients.clone());
        clients
    }
}
