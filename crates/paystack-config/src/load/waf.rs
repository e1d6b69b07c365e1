//! `[waf]`: the web application firewall in front of the load balancer, and the AWS
//! managed rule groups it runs.

use serde::Deserialize;
use toml::Spanned;

use super::Checker;
use crate::model::{Waf, WafAction, WafRuleGroup};

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWaf {
    enabled: Option<Spanned<bool>>,
    rule_groups: Option<Spanned<Vec<RawRuleGroup>>>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuleGroup {
    name: String,
    action: Option<String>,
}

/// The AWS managed rule groups a regional web ACL may run, with the capacity (WCUs) each
/// takes of the 1,500 a web ACL has.
pub const MANAGED_RULE_GROUPS: &[(&str, u32)] = &[
    ("AWSManagedRulesCommonRuleSet", 700),
    ("AWSManagedRulesKnownBadInputsRuleSet", 200),
    ("AWSManagedRulesSQLiRuleSet", 200),
    ("AWSManagedRulesAmazonIpReputationList", 25),
    ("AWSManagedRulesAnonymousIpList", 50),
    ("AWSManagedRulesAdminProtectionRuleSet", 100),
    ("AWSManagedRulesLinuxRuleSet", 200),
    ("AWSManagedRulesUnixRuleSet", 100),
    ("AWSManagedRulesPHPRuleSet", 100),
];
/// The capacity of one web ACL, in WCUs.
const WEB_ACL_CAPACITY: u32 = 1500;

/// What runs when nothing is configured: the common rule set, known bad inputs, SQL
/// injection and Amazon's IP reputation list, each blocking.
const DEFAULT_RULE_GROUPS: &[&str] = &[
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
];

/// The firewall: on unless `enabled = false`, running the configured rule groups in order,
/// else the four defaults. Each group is one AWS offers, named once, with `block` (its own
/// rules' actions) or `count` (only counted, to try a group before it blocks); together
/// they fit a web ACL's capacity.
pub(super) fn waf(c: &mut Checker<'_>, env: RawWaf, shared: RawWaf) -> Option<Waf> {
    let enabled = c.pick_optional(env.enabled, shared.enabled).is_none_or(|e| e.value);
    let Some(groups) = c.pick_optional(env.rule_groups, shared.rule_groups) else {
        let rule_groups = DEFAULT_RULE_GROUPS
            .iter()
            .map(|n| WafRuleGroup { name: (*n).to_owned(), action: WafAction::Block })
            .collect();
        return Some(Waf { enabled, rule_groups });
    };
    let mut out: Vec<WafRuleGroup> = Vec::new();
    let mut failed = false;
    for raw in groups.value {
        let action = match raw.action.as_deref() {
            None | Some("block") => WafAction::Block,
            Some("count") => WafAction::Count,
            Some(other) => {
                c.fail(
                    &groups.at,
                    format!("`waf.rule_groups`: `{other}` is not an action of `{}`", raw.name),
                    "use `block` (the group's own actions) or `count` (count matches, block nothing)",
                );
                failed = true;
                continue;
            }
        };
        if !MANAGED_RULE_GROUPS.iter().any(|(n, _)| *n == raw.name) {
            let known: Vec<&str> = MANAGED_RULE_GROUPS.iter().map(|(n, _)| *n).collect();
            c.fail(
                &groups.at,
                format!("`waf.rule_groups`: `{}` is not an AWS managed rule group paystack knows", raw.name),
                format!("use one of {}", known.join(", ")),
            );
            failed = true;
        } else if out.iter().any(|g| g.name == raw.name) {
            c.fail(&groups.at, format!("`waf.rule_groups`: `{}` is named twice", raw.name), "name each group once");
            failed = true;
        } else {
            out.push(WafRuleGroup { name: raw.name, action });
        }
    }
    if failed {
        return None;
    }
    let capacity: u32 =
        out.iter().filter_map(|g| MANAGED_RULE_GROUPS.iter().find(|(n, _)| *n == g.name)).map(|(_, w)| w).sum();
    if out.is_empty() && enabled {
        c.fail(&groups.at, "`waf.rule_groups` is empty", "name at least one group, or set `waf.enabled = false`");
        return None;
    }
    if capacity > WEB_ACL_CAPACITY {
        c.fail(
            &groups.at,
            format!("`waf.rule_groups` take {capacity} WCUs, more than a web ACL's {WEB_ACL_CAPACITY}"),
            "run fewer groups",
        );
        return None;
    }
    Some(Waf { enabled, rule_groups: out })
}
