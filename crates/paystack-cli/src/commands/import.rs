//! `import ADDR AWS_ID`: a resource made outside paystack adopted as the configuration's
//! resource ADDR. paystack finds its resources by their ownership tags, so import gives the
//! resource those two tags (the one change it makes in AWS), reads it back as the stack's,
//! and records it. Everything else the configuration wants of it is the next apply's.

use std::process::ExitCode;

use miette::{Result, miette};
use paystack_aws::import::{ImportError, arn_of, owner, tag, untag};
use paystack_core::ResourceId;

use super::converge::{give_back, take_lock};
use super::{Aws, Stack, clients_of, observe};
use crate::args::LockArgs;

pub(super) async fn import(s: &Stack, address: &str, given: &str, lock_args: &LockArgs) -> Result<ExitCode> {
    let id = ResourceId::new(address);
    let Some(spec) = s.graph.spec(&id) else {
        return Err(miette!(
            help =
                format!("an address is one resource's id, such as `network.vpc`; `{}` lists them", s.command("graph")),
            "`{address}` is not a resource of `{}`; nothing was read or changed",
            s.key()
        ));
    };
    let aws = Aws::connect(s).await?;
    let backend = aws.backend(s);
    let lock = take_lock(s, &backend, "import", lock_args).await?;
    let result = async {
        let mut state = match s.read_from(&*backend).await? {
            Some(state) => state,
            None => paystack_state::new_document(&s.key()),
        };
        if let Some(recorded) = state.resources.get(&id) {
            return Err(miette!(
                help = format!(
                    "to manage another resource as `{address}`, forget this one first: `{} {address}`",
                    s.command("state rm")
                ),
                "`{address}` is already managed: state records it as {}",
                recorded.aws_id
            ));
        }
        let placement = spec.placement.clone();
        let clients = clients_of(&aws.pool, &s.env, &placement).await?;
        let region = placement.region.clone().unwrap_or_else(|| s.env.region.clone());
        let account = match placement.account.clone().or_else(|| s.env.account.as_ref().map(|a| a.id.clone())) {
            Some(account) => account,
            None => aws.pool.caller_account().await.map_err(|e| miette!("{e}"))?,
        };
        let partition = match region.as_str() {
            r if r.starts_with("cn-") => "aws-cn",
            r if r.starts_with("us-gov-") => "aws-us-gov",
            _ => "aws",
        };
        let refused = |e: ImportError| {
            miette!(
                help = "nothing was changed; name the resource by its id (EC2), its bucket name (S3) or its ARN",
                "cannot import `{address}` ({}): {e}",
                spec.kind
            )
        };
        let arn = arn_of(spec.kind.as_str(), given, partition, &region, &account).map_err(refused)?;
        match owner(&clients, &arn).await.map_err(refused)? {
            Some((stack, resource)) if stack != s.key() || resource != address => {
                return Err(refused(ImportError::OwnedElsewhere { arn, stack, resource }));
            }
            _ => {}
        }
        tag(&clients, &arn, &s.key(), address).await.map_err(refused)?;
        // Read back as the stack's: this proves it is of the kind, where the configuration
        // places it, and readable as paystack reads it.
        let registries = aws.registries(s, &state).await?.retain(|k| k == &spec.kind);
        let inventory = observe(&registries, &s.scope()).await?;
        let found = inventory.resources.iter().find(|(kind, o)| kind == &spec.kind && o.id == id).map(|(_, o)| o);
        let Some(observed) = found else {
            let undone = match untag(&clients, &arn).await {
                Ok(()) => "the tags were taken off again".to_owned(),
                Err(e) => format!("and the tags could not be taken off again ({e}): remove paystack:stack and paystack:resource by hand"),
            };
            return Err(miette!(
                help = format!(
                    "check that {given} exists in {account} {region} and is of kind {}; a kind whose listing carries no tags is read by name, and then it must be named `{}`",
                    spec.kind, spec.name
                ),
                "{arn} was tagged as `{address}`, but a read of the stack's {} resources does not find it; {undone}",
                spec.kind
            ));
        };
        state.record(&spec.kind, &spec.name, &placement, observed, spec.dependencies());
        lock.write(&mut state).await.map_err(|e| s.state_error(e))?;
        outln!(
            "Imported `{address}` ({}) as {}: it carries `{}`'s ownership tags and state records it.",
            spec.kind,
            observed.aws_id,
            s.key()
        );
        outln!("What the configuration wants changed on it is the next apply's; `{}` shows it.", s.command("plan"));
        Ok(ExitCode::SUCCESS)
    }
    .await;
    give_back(s, lock).await;
    result
}
