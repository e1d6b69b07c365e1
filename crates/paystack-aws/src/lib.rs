//! The AWS side: one reconciler module per resource kind, over one shared SDK configuration.
//!
//! This is the only crate (with the test crate) that depends on `aws-*`. No SDK type leaves
//! it: reconcilers speak the engine's vocabulary, and SDK errors become classified
//! [`paystack_engine::ReconcileError`]s at the call site. The remote state backend (S3 and
//! DynamoDB) lives here too, behind `paystack-state`'s traits.

mod autoscaling;
mod clients;
mod cloudwatch;
mod ec2;
mod ecs;
mod elbv2;
mod error;
mod iam;
mod logs;
mod lookups;
mod notify;
mod owned;
mod rds;
mod route53;
mod secretsmanager;
mod sns;
mod state;
mod tagging;

use std::sync::Arc;

use paystack_engine::Registry;

pub use clients::{ClientPool, Clients, Target};
pub use lookups::{LookupError, Wanted, look_up};
pub use notify::{Attribute, publish};
pub use state::{InitStep, Outcome, RemoteBackend, StateLocation, init};

/// Every reconciler, over the given clients. Adding a kind is one line here, or in its
/// service's `register` where the service has one.
pub fn registry(clients: &Clients) -> Registry {
    let mut r = Registry::default();
    ec2::register(&mut r, &clients.ec2);
    r.register(Arc::new(rds::subnet_group::DbSubnetGroups::new(&clients.rds)));
    r.register(Arc::new(rds::cluster_parameter_group::DbClusterParameterGroups::new(&clients.rds)));
    r.register(Arc::new(rds::cluster::DbClusters::new(&clients.rds, &clients.secretsmanager)));
    r.register(Arc::new(rds::instance::DbInstances::new(&clients.rds)));
    r.register(Arc::new(secretsmanager::secret::Secrets::new(&clients.secretsmanager)));
    r.register(Arc::new(secretsmanager::rotation::Rotations::new(&clients.secretsmanager)));
    r.register(Arc::new(sns::topic::Topics::new(&clients.sns)));
    r.register(Arc::new(logs::log_group::LogGroups::new(&clients.logs)));
    r.register(Arc::new(iam::role::Roles::new(&clients.iam)));
    r.register(Arc::new(ecs::cluster::Clusters::new(&clients.ecs)));
    r.register(Arc::new(ecs::task_definition::TaskDefinitions::new(&clients.ecs)));
    r.register(Arc::new(ecs::service::Services::new(&clients.ecs)));
    r.register(Arc::new(elbv2::load_balancer::LoadBalancers::new(&clients.elbv2)));
    r.register(Arc::new(elbv2::target_group::TargetGroups::new(&clients.elbv2)));
    r.register(Arc::new(elbv2::listener::Listeners::new(&clients.elbv2)));
    r.register(Arc::new(autoscaling::service_scaling::ServiceScalings::new(&clients.autoscaling)));
    r.register(Arc::new(cloudwatch::alarm::Alarms::new(&clients.cloudwatch)));
    r.register(Arc::new(route53::record::Records::new(&clients.route53)));
    r
}
