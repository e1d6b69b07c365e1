//! The one-time setup commands: `bootstrap` (an environment's account, or the Transit
//! Gateway's) and `init` (an environment's state backend).

use std::process::ExitCode;

use miette::{Result, miette};
use paystack_aws::{ClientPool, Role, Target};
use paystack_config::Config;

use super::{Aws, Stack, state_location};
use crate::render;

/// `bootstrap`: the deploy role and the boundary in the environment's account.
pub(super) async fn bootstrap(s: &Stack, via_role: Option<&str>) -> Result<ExitCode> {
    let Some(account) = &s.env.account else {
        return Err(miette!(
            help = format!(
                "add `[account]` with the account's `id` and the deploy role's `role_arn` to {}.toml",
                s.env.name
            ),
            "`{}` has no account of its own: it runs with the caller's credentials, and has no deploy role to set up",
            s.env.name
        ));
    };
    let pool = ClientPool::from_env(&s.env.region).await;
    let caller = pool.caller_account().await.map_err(|e| miette!(help = "check the AWS credentials", "{e}"))?;
    let Some(plan) = paystack_platform::bootstrap::bootstrap(&s.env, &caller) else {
        return Err(miette!("`[account] role_arn` of `{}` is not a role's ARN", s.env.name));
    };
    let role = match via_role {
        Some(arn) => Some(Role {
            arn: arn.to_owned(),
            external_id: None,
            session_name: Role::session_name(&s.env.name, &paystack_state::current_user()),
        }),
        None if caller == account.id => None,
        None => {
            return Err(miette!(
                help = format!(
                    "run it with credentials of {0}, or through a role there: --via-role arn:aws:iam::{0}:role/OrganizationAccountAccessRole",
                    account.id
                ),
                "these credentials act in account {caller}, and `{}` lives in {}",
                s.env.name,
                account.id
            ));
        }
    };
    let target = Target { region: s.env.region.clone(), role };
    let clients = pool.clients(&target).await.map_err(|e| miette!(help = "nothing was changed", "{e}"))?;
    let steps = paystack_aws::bootstrap(&clients.iam, &plan).await.map_err(|e| {
        miette!(help = "fix what AWS refused, then run `paystack bootstrap` again; what was made stays", "{e}")
    })?;
    outln!("Account {} of `{}`, deployable from account {caller}:", account.id, s.env.name);
    out!("{}", render::steps_text(&steps, "The account"));
    Ok(ExitCode::SUCCESS)
}

/// `bootstrap --transit-gateway`: the gateway and its share, in the account that owns it.
pub(super) async fn bootstrap_gateway(config: &Config, via_role: Option<&str>) -> Result<ExitCode> {
    let gateway = paystack_platform::gateway(config).map_err(|e| match e {
        paystack_platform::GatewayError::NotConfigured => miette!(
            help = "add `[transit_gateway]` with `shared_services_cidr` (and the owning `account` and `role_arn`) to shared.toml",
            "{e}"
        ),
        paystack_platform::GatewayError::Regions(_) => {
            miette!(help = "give every environment the same `region`, as shared.toml does by default", "{e}")
        }
    })?;
    let pool = ClientPool::from_env(&gateway.region).await;
    let caller = pool.caller_account().await.map_err(|e| miette!(help = "check the AWS credentials", "{e}"))?;
    let session_name = Role::session_name("network", &paystack_state::current_user());
    let role = match (via_role, &gateway.owner) {
        (Some(arn), _) => Some(Role { arn: arn.to_owned(), external_id: None, session_name }),
        (None, Some(owner)) if owner.id != caller => {
            Some(Role { arn: owner.role_arn.clone(), external_id: owner.external_id.clone(), session_name })
        }
        (None, _) => None,
    };
    let target = Target { region: gateway.region.clone(), role };
    let clients = pool.clients(&target).await.map_err(|e| miette!(help = "nothing was changed", "{e}"))?;
    let (id, steps) = paystack_aws::bootstrap_gateway(&clients, &gateway).await.map_err(|e| {
        miette!(
            help = "fix what AWS refused, then run `paystack bootstrap --transit-gateway` again; what was made stays",
            "{e}"
        )
    })?;
    let owner = gateway.owner.as_ref().map_or(caller, |a| a.id.clone());
    outln!("Transit Gateway {id} of account {owner}:");
    out!("{}", render::steps_text(&steps, "The Transit Gateway"));
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn init(s: &Stack) -> Result<ExitCode> {
    let Some(location) = state_location(&s.env) else {
        outln!(
            "`{}` keeps its state in local files under {}; there is nothing to create.",
            s.env.name,
            s.state_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let aws = Aws::connect(s).await?;
    let tags: Vec<(String, String)> =
        paystack_platform::required_tags(&s.env).into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let steps =
        paystack_aws::init(&aws.clients, &s.env.region, &location, &tags).await.map_err(|e| s.state_error(e))?;
    out!("{}", render::steps_text(&steps, "The state backend"));
    Ok(ExitCode::SUCCESS)
}
