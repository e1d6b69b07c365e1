//! The deploy role's statements for service discovery: the Cloud Map namespace, which makes a
//! private hosted zone in the VPC, and the services' discovery services.

use serde_json::Value;

use super::Scope;

impl Scope<'_> {
    /// Cloud Map names namespaces and services by generated ids, so their statements are held
    /// to the environment's regions and account; the hosted zone Cloud Map makes on the
    /// role's behalf is a private one (`route53:CreateHostedZone` with a VPC).
    pub(super) fn discovery_statements(&self) -> Vec<Value> {
        let ids = [self.arns("servicediscovery", "namespace/*"), self.arns("servicediscovery", "service/*")].concat();
        vec![
            self.allow(
                &[
                    "servicediscovery:CreatePrivateDnsNamespace",
                    "servicediscovery:CreateService",
                    "servicediscovery:ListNamespaces",
                    "servicediscovery:ListServices",
                    "servicediscovery:GetOperation",
                ],
                vec!["*".into()],
                false,
            ),
            self.allow(
                &[
                    "servicediscovery:GetNamespace",
                    "servicediscovery:DeleteNamespace",
                    "servicediscovery:UpdatePrivateDnsNamespace",
                    "servicediscovery:GetService",
                    "servicediscovery:UpdateService",
                    "servicediscovery:DeleteService",
                    "servicediscovery:ListTagsForResource",
                    "servicediscovery:TagResource",
                    "servicediscovery:UntagResource",
                ],
                ids,
                false,
            ),
            // CreateHostedZone takes no resource: the zone has no id before it exists.
            self.allow(&["route53:CreateHostedZone"], vec!["*".into()], true),
            self.allow(
                &["route53:GetHostedZone", "route53:DeleteHostedZone"],
                vec!["arn:aws:route53:::hostedzone/*".into()],
                true,
            ),
        ]
    }
}
