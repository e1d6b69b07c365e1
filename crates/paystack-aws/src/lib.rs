//! The AWS side: one reconciler module per resource kind, over one shared SDK configuration.
//!
//! This is the only crate (with the test crate) that depends on `aws-*`. No SDK type leaves
//! it: reconcilers speak the engine's vocabulary, and SDK errors become classified
//! [`paystack_engine::ReconcileError`]s at the call site. The remote state backend (S3 and
//! DynamoDB) lives here too, behind `paystack-state`'s traits.

mod autoscaling;
mod bootstrap;
mod clients;
mod cloudwatch;
mod dynamodb;
mod ec2;
mod ecs;
mod elbv2;
mod error;
mod events;
mod iam;
pub mod import;
mod kms;
mod lambda;
mod logs;
mod lookups;
mod notify;
mod owned;
pub mod pricing;
mod rds;
mod route53;
mod s3;
mod scheduler;
mod secretsmanager;
mod servicediscovery;
mod sns;
mod ssm;
mod state;
mod tag_index;
mod tagging;
mod transit;
mod wafv2;
mod wait;

use std::sync::Arc;

use paystack_config::Waits;
use paystack_engine::Registry;
use paystack_platform::kinds;

pub use bootstrap::bootstrap;
pub use clients::{AssumeRoleError, ClientPool, Clients, Role, Target, act_as_caller};
pub use lookups::{LookupError, Wanted, look_up};
pub use notify::{Attribute, publish};
pub use state::{InitStep, Outcome, RemoteBackend, StateLocation, init};
pub use transit::{GatewayLookupError, bootstrap_gateway, look_up_gateway};
pub use wait::{WAIT_CLOCK_SCALE, WaitClock};

use wait::Wait;

/// Every reconciler, over the given clients. Adding a kind is one line here, or in its
/// service's `register` where the service has one.
pub fn registry(clients: &Clients, waits: &Waits) -> Registry {
    let wait = |limit| Wait::new(limit, clients.wait_clock);
    let mut r = Registry::default();
    let ec2_waits = ec2::Waits {
        nat_gateway: wait(waits.nat_gateway),
        vpc_endpoint: wait(waits.vpc_endpoint),
        transit_gateway_attachment: wait(waits.transit_gateway_attachment),
    };
    ec2::register(&mut r, &clients.ec2, ec2_waits);
    r.register(
        kinds::DB_SUBNET_GROUP.schema(),
        Arc::new(rds::subnet_group::DbSubnetGroups::new(&clients.rds, &clients.tagging)),
    );
    r.register(
        kinds::DB_CLUSTER_PARAMETER_GROUP.schema(),
        Arc::new(rds::cluster_parameter_group::DbClusterParameterGroups::new(&clients.rds, &clients.tagging)),
    );
    r.register(
        kinds::DB_CLUSTER.schema(),
        Arc::new(rds::cluster::DbClusters::new(&clients.rds, &clients.secretsmanager, wait(waits.db_cluster))),
    );
    r.register(
        kinds::DB_INSTANCE.schema(),
        Arc::new(rds::instance::DbInstances::new(&clients.rds, wait(waits.db_instance))),
    );
    r.register(kinds::KMS_KEY.schema(), Arc::new(kms::key::Keys::new(&clients.kms, &clients.tagging)));
    r.register(
        kinds::TABLE.schema(),
        Arc::new(dynamodb::table::Tables::new(&clients.dynamodb, &clients.tagging, wait(waits.dynamodb_table))),
    );
    r.register(kinds::BUCKET.schema(), Arc::new(s3::bucket::Buckets::new(&clients.s3, &clients.tagging)));
    r.register(
        kinds::BUCKET_LOGGING.schema(),
        Arc::new(s3::logging::BucketLoggings::new(&clients.s3, &clients.tagging)),
    );
    r.register(kinds::WEB_ACL.schema(), Arc::new(wafv2::web_acl::WebAcls::new(&clients.wafv2)));
    r.register(kinds::PARAMETER.schema(), Arc::new(ssm::parameter::Parameters::new(&clients.ssm, &clients.tagging)));
    r.register(kinds::SECRET.schema(), Arc::new(secretsmanager::secret::Secrets::new(&clients.secretsmanager)));
    r.register(
        kinds::SECRET_ROTATION.schema(),
        Arc::new(secretsmanager::rotation::Rotations::new(&clients.secretsmanager)),
    );
    r.register(
        kinds::SECRET_POLICY.schema(),
        Arc::new(secretsmanager::policy::SecretPolicies::new(&clients.secretsmanager)),
    );
    r.register(kinds::TOPIC.schema(), Arc::new(sns::topic::Topics::new(&clients.sns, &clients.tagging)));
    r.register(
        kinds::NAMESPACE.schema(),
        Arc::new(servicediscovery::namespace::Namespaces::new(
            &clients.servicediscovery,
            &clients.tagging,
            wait(waits.namespace),
        )),
    );
    r.register(
        kinds::DISCOVERY_SERVICE.schema(),
        Arc::new(servicediscovery::service::DiscoveryServices::new(&clients.servicediscovery, &clients.tagging)),
    );
    r.register(kinds::FUNCTION.schema(), Arc::new(lambda::function::Functions::new(&clients.lambda, &clients.tagging)));
    r.register(kinds::FUNCTION_PERMISSION.schema(), Arc::new(lambda::permission::Permissions::new(&clients.lambda)));
    r.register(kinds::EVENT_RULE.schema(), Arc::new(events::rule::Rules::new(&clients.events, &clients.tagging)));
    r.register(kinds::SCHEDULE.schema(), Arc::new(scheduler::schedule::Schedules::new(&clients.scheduler)));
    r.register(kinds::LOG_GROUP.schema(), Arc::new(logs::log_group::LogGroups::new(&clients.logs, &clients.tagging)));
    r.register(kinds::IAM_ROLE.schema(), Arc::new(iam::role::Roles::new(&clients.iam)));
    r.register(kinds::ECS_CLUSTER.schema(), Arc::new(ecs::cluster::Clusters::new(&clients.ecs)));
    r.register(kinds::TASK_DEFINITION.schema(), Arc::new(ecs::task_definition::TaskDefinitions::new(&clients.ecs)));
    r.register(
        kinds::ECS_SERVICE.schema(),
        Arc::new(ecs::service::Services::new(&clients.ecs, wait(waits.ecs_service))),
    );
    r.register(
        kinds::LOAD_BALANCER.schema(),
        Arc::new(elbv2::load_balancer::LoadBalancers::new(&clients.elbv2, wait(waits.load_balancer))),
    );
    r.register(kinds::TARGET_GROUP.schema(), Arc::new(elbv2::target_group::TargetGroups::new(&clients.elbv2)));
    r.register(kinds::LISTENER.schema(), Arc::new(elbv2::listener::Listeners::new(&clients.elbv2)));
    r.register(
        kinds::SERVICE_SCALING.schema(),
        Arc::new(autoscaling::service_scaling::ServiceScalings::new(
            &clients.autoscaling,
            autoscaling::service_scaling::Scaled::EcsService,
        )),
    );
    r.register(
        kinds::TABLE_SCALING.schema(),
        Arc::new(autoscaling::service_scaling::ServiceScalings::new(
            &clients.autoscaling,
            autoscaling::service_scaling::Scaled::DynamoDbTable,
        )),
    );
    r.register(kinds::ALARM.schema(), Arc::new(cloudwatch::alarm::Alarms::new(&clients.cloudwatch, &clients.tagging)));
    r.register(
        kinds::DNS_RECORD.schema(),
        Arc::new(route53::record::Records::new(&clients.route53, wait(waits.dns_change))),
    );
    r
}
