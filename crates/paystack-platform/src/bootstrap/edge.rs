//! The deploy role's statements for the web application firewall: its web ACL, held to the
//! environment's names; the load balancer it guards; and the log delivery WAF sets up.

use serde_json::Value;

use super::Scope;

impl Scope<'_> {
    pub(super) fn firewall_statements(&self) -> Vec<Value> {
        let named = self.named();
        vec![
            self.allow(
                &[
                    "wafv2:CreateWebACL",
                    "wafv2:GetWebACL",
                    "wafv2:UpdateWebACL",
                    "wafv2:DeleteWebACL",
                    "wafv2:AssociateWebACL",
                    "wafv2:DisassociateWebACL",
                    "wafv2:ListResourcesForWebACL",
                    "wafv2:PutLoggingConfiguration",
                    "wafv2:GetLoggingConfiguration",
                    "wafv2:DeleteLoggingConfiguration",
                    "wafv2:ListTagsForResource",
                    "wafv2:TagResource",
                    "wafv2:UntagResource",
                ],
                // The managed rule groups the ACL runs are named in its create and update.
                [
                    self.arns("wafv2", &format!("regional/webacl/{named}/*")),
                    self.arns("wafv2", "regional/managedruleset/*/*"),
                ]
                .concat(),
                false,
            ),
            // Associating an ACL sets it on the load balancer.
            self.allow(
                &["elasticloadbalancing:SetWebAcl"],
                self.arns("elasticloadbalancing", &format!("loadbalancer/app/{named}/*")),
                false,
            ),
            // What WAF's logging to CloudWatch Logs asks of its caller; none of these takes a
            // resource.
            self.allow(
                &[
                    "wafv2:ListWebACLs",
                    "logs:CreateLogDelivery",
                    "logs:DeleteLogDelivery",
                    "logs:PutResourcePolicy",
                    "logs:DescribeResourcePolicies",
                ],
                vec!["*".into()],
                false,
            ),
        ]
    }
}
