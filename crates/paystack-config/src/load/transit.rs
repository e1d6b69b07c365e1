//! `[transit_gateway]` in `shared.toml`: the Transit Gateway every environment attaches to,
//! in the network account that owns it, and the shared-services range each environment may
//! reach through it.

use serde::Deserialize;
use toml::Spanned;

use super::{Checker, Located, account};
use crate::cidr::Ipv4Cidr;
use crate::model::TransitGateway;

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTransitGateway {
    account: Option<Spanned<String>>,
    role_arn: Option<Spanned<String>>,
    external_id: Option<Spanned<String>>,
    shared_services_cidr: Option<Spanned<String>>,
}

/// The Transit Gateway, checked: only in the shared file; an owning account comes with a
/// role of that account; the shared-services range is a CIDR clear of the environment's own.
pub(super) fn transit_gateway(
    c: &mut Checker<'_>,
    env: Option<Spanned<RawTransitGateway>>,
    shared: Option<Spanned<RawTransitGateway>>,
    vpc: Option<&Located<Ipv4Cidr>>,
) -> Option<Option<TransitGateway>> {
    if let Some(env) = env {
        let at = c.env_file.at(env.span());
        c.fail(
            &at,
            "`[transit_gateway]` is set in an environment's file",
            "every environment attaches to the one Transit Gateway: move `[transit_gateway]` into shared.toml",
        );
        return None;
    }
    let Some(raw) = shared else { return Some(None) };
    let table = c.shared_file.at(raw.span());
    let raw = raw.into_inner();
    let located = |c: &Checker<'_>, v: Option<Spanned<String>>| c.pick_optional(None, v);
    let (id, role_arn, external_id) = (located(c, raw.account), located(c, raw.role_arn), located(c, raw.external_id));
    let before = c.errors.len();
    let Some(cidr) = located(c, raw.shared_services_cidr) else {
        c.fail(
            &table,
            "`[transit_gateway]` needs `shared_services_cidr`",
            "set the range of the shared-services VPC the environments reach, such as `shared_services_cidr = \"10.100.0.0/16\"`",
        );
        return None;
    };
    let owner = match (id, role_arn) {
        (None, None) => None,
        (Some(id), Some(role_arn)) => account::checked(c, "`[transit_gateway] account`", id, role_arn, external_id),
        (Some(_), None) | (None, Some(_)) => {
            c.fail(
                &table,
                "`[transit_gateway]` names its account with both `account` and `role_arn`, or with neither",
                "set `account = \"444444444444\"` and `role_arn = \"arn:aws:iam::444444444444:role/paystack-network\"`, or leave both out to keep it in the caller's account",
            );
            None
        }
    };
    let shared_services = match cidr.value.parse::<Ipv4Cidr>() {
        Ok(v) => Some(v),
        Err(e) => {
            c.fail(
                &cidr.at,
                format!("`{}` is not an IPv4 CIDR block: {e}", cidr.value),
                "use a block such as 10.100.0.0/16",
            );
            None
        }
    };
    if let (Some(shared_services), Some(vpc)) = (shared_services, vpc)
        && shared_services.overlaps(vpc.value)
    {
        c.fail(
            &cidr.at,
            format!("`shared_services_cidr` {shared_services} overlaps `{}`'s VPC {}", c.env, vpc.value),
            "the environments reach shared services through the Transit Gateway, so the range must be outside every environment's VPC",
        );
    }
    if c.errors.len() > before {
        return None;
    }
    Some(Some(TransitGateway { owner, shared_services_cidr: shared_services? }))
}
