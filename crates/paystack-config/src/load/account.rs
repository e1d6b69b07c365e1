//! `[account]`: the AWS account an environment lives in, and the role paystack assumes to
//! reach it; and `replica_region`, the second region of the data layer.

use serde::Deserialize;
use toml::Spanned;

use super::{Checker, Located, is_region};
use crate::model::Account;

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccount {
    id: Option<Spanned<String>>,
    role_arn: Option<Spanned<String>>,
    external_id: Option<Spanned<String>>,
}

/// An environment's `[account]`, checked: only in its own file, a 12-digit id, a role of
/// that account, and an external id AWS accepts.
pub(super) fn account(
    c: &mut Checker<'_>,
    env: Option<Spanned<RawAccount>>,
    shared: Option<Spanned<RawAccount>>,
) -> Option<Option<Account>> {
    if let Some(shared) = shared {
        let at = c.shared_file.at(shared.span());
        c.fail(
            &at,
            "`[account]` is set in the shared file",
            "each environment names its own account: move `[account]` into the environment's file",
        );
        return None;
    }
    let Some(raw) = env else { return Some(None) };
    let table = c.env_file.at(raw.span());
    let raw = raw.into_inner();
    let located = |c: &Checker<'_>, v: Option<Spanned<String>>| c.pick_optional(v, None);
    let (id, role_arn, external_id) = (located(c, raw.id), located(c, raw.role_arn), located(c, raw.external_id));
    let (Some(id), Some(role_arn)) = (id, role_arn) else {
        c.fail(
            &table,
            "`[account]` needs both `id` and `role_arn`",
            "set `id = \"333333333333\"` and `role_arn = \"arn:aws:iam::333333333333:role/paystack-deploy\"`",
        );
        return None;
    };
    checked(c, "`[account] id`", id, role_arn, external_id).map(Some)
}

/// An account and the role paystack assumes there, checked: a 12-digit id, a role of that
/// very account, and an external id AWS accepts.
pub(super) fn checked(
    c: &mut Checker<'_>,
    id_key: &str,
    id: Located<String>,
    role_arn: Located<String>,
    external_id: Option<Located<String>>,
) -> Option<Account> {
    let before = c.errors.len();
    if !is_account_id(&id.value) {
        c.fail(&id.at, format!("`{}` is not an AWS account id", id.value), "an account id is exactly 12 digits");
    }
    match role_account(&role_arn.value) {
        None => c.fail(
            &role_arn.at,
            format!("`{}` is not the ARN of an IAM role", role_arn.value),
            "use arn:aws:iam::ACCOUNT:role/NAME, such as arn:aws:iam::333333333333:role/paystack-deploy",
        ),
        Some(account) if account != id.value && is_account_id(&id.value) => c.fail(
            &role_arn.at,
            format!("the role is in account {account}, but {id_key} is {}", id.value),
            "paystack assumes this role to act in that account: name a role of that account",
        ),
        Some(_) => {}
    }
    if let Some(e) = &external_id
        && !is_external_id(&e.value)
    {
        c.fail(
            &e.at,
            format!("`{}` is not a valid external id", e.value),
            "use 2 to 1224 letters, digits or any of + = , . @ : / -",
        );
    }
    if c.errors.len() > before {
        return None;
    }
    Some(Account { id: id.value, role_arn: role_arn.value, external_id: external_id.map(|e| e.value) })
}

/// `replica_region`, if set: a known region other than the environment's own.
pub(super) fn replica_region(
    c: &mut Checker<'_>,
    replica: Option<Located<String>>,
    region: Option<&Located<String>>,
) -> Option<Option<String>> {
    let Some(replica) = replica else { return Some(None) };
    if !is_region(&replica.value) {
        c.fail(&replica.at, format!("`{}` is not an AWS region", replica.value), "use a region code such as eu-west-1");
        return None;
    }
    if let Some(region) = region
        && region.value == replica.value
    {
        c.fail(
            &replica.at,
            format!("`replica_region` is `{}`, the environment's own region", replica.value),
            "the replicas must survive the loss of the region: choose another one, such as eu-west-1",
        );
        return None;
    }
    Some(Some(replica.value))
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The account of an IAM role's ARN, in any partition: `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`.
fn role_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (arn_, partition, service, region, account, resource) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
    let name_ok =
        (1..=64).contains(&name.len()) && name.chars().all(|ch| ch.is_ascii_alphanumeric() || "+=,.@_-".contains(ch));
    let ok = arn_ == "arn"
        && matches!(partition, "aws" | "aws-cn" | "aws-us-gov")
        && service == "iam"
        && region.is_empty()
        && name_ok;
    ok.then_some(account)
}

/// AWS's rule for `sts:ExternalId`: 2 to 1224 characters of `[\w+=,.@:/-]`.
fn is_external_id(s: &str) -> bool {
    (2..=1224).contains(&s.len()) && s.chars().all(|ch| ch.is_ascii_alphanumeric() || "_+=,.@:/-".contains(ch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_name_their_account() {
        assert_eq!(role_account("arn:aws:iam::333333333333:role/paystack-deploy"), Some("333333333333"));
        assert_eq!(role_account("arn:aws-us-gov:iam::333333333333:role/ops/paystack-deploy"), Some("333333333333"));
        assert_eq!(role_account("arn:aws:iam::333333333333:user/paystack-deploy"), None);
        assert_eq!(role_account("arn:aws:sts::333333333333:role/paystack-deploy"), None);
        assert_eq!(role_account("arn:aws:iam:us-east-1:333333333333:role/x"), None);
        assert_eq!(role_account("arn:aws:iam::333333333333:role/"), None);
        assert_eq!(role_account("paystack-deploy"), None);
    }

    #[test]
    fn account_ids_and_external_ids() {
        assert!(is_account_id("333333333333"));
        assert!(!is_account_id("33333333333"));
        assert!(!is_account_id("33333333333a"));
        assert!(is_external_id("payments-prod"));
        assert!(is_external_id("a:b/c@d=e,f.g+h_i"));
        assert!(!is_external_id("x"));
        assert!(!is_external_id("has space"));
        assert!(!is_external_id(&"x".repeat(1225)));
    }
}
