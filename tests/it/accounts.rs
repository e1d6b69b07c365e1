//! Environments in their own AWS accounts (`[account]`): paystack assumes each one's deploy
//! role, and what it makes, its state and its lock live in that account and in no other.
//! The emulator puts whatever a role of an account does in that account (it does not
//! enforce trust policies or external ids: those are checked by paystack's validation).

use aws_sdk_ec2 as ec2;

use crate::support::{Live, Run, Stack, binary, endpoint, expected_total, in_account, live_resources, s3};

const DEV_ACCOUNT: &str = "111111111111";

fn account_section(account: &str) -> String {
    format!(
        "\n[account]\nid = \"{account}\"\nrole_arn = \"arn:aws:iam::{account}:role/paystack-deploy\"\nexternal_id = \"payments-dev\"\n"
    )
}

async fn buckets() -> Vec<String> {
    let out = s3().await.list_buckets().send().await.unwrap();
    out.buckets().iter().filter_map(|b| b.name().map(str::to_owned)).collect()
}

#[tokio::test]
async fn an_environment_in_its_own_account_is_made_there_and_nowhere_else() {
    let stack = Stack::uninitialised("dev", "account");
    stack.edit_config("dev.toml", |t| t + &account_section(DEV_ACCOUNT));
    stack.run(&["init"]).success();
    assert!(in_account(DEV_ACCOUNT, buckets()).await.contains(&stack.bucket()), "the state bucket is in the account");
    assert!(!buckets().await.contains(&stack.bucket()), "and not in the caller's");
    let table = |account: Option<&'static str>| {
        let name = stack.lock_table();
        async move {
            let describe = async { crate::support::dynamodb().await.describe_table().table_name(name).send().await };
            match account {
                Some(a) => in_account(a, describe).await.is_ok(),
                None => describe.await.is_ok(),
            }
        }
    };
    assert!(table(Some(DEV_ACCOUNT)).await && !table(None).await, "the lock table is in the account, only");

    stack.apply();
    let there = in_account(DEV_ACCOUNT, live_resources(&stack)).await;
    assert_eq!(there.len(), expected_total("dev"), "everything is made in the account: {there:#?}");
    let here = live_resources(&stack).await;
    assert!(here.is_empty(), "nothing in the caller's account: {here:#?}");
    let recorded = stack.state().await.expect("state");
    let vpc = &recorded["resources"]["network.vpc"];
    assert_eq!(vpc["placement"]["account"], DEV_ACCOUNT, "state records where each resource lives");

    stack.run(&["plan", "--detailed-exitcode"]).code(0);
    stack.run(&["destroy", "--yes"]).success();
    let left = in_account(DEV_ACCOUNT, live_resources(&stack)).await;
    assert!(left.is_empty(), "destroy leaves nothing in the account: {left:#?}");
}

/// The account is validated with the rest of the configuration, before any AWS call: a role
/// of another account is refused at its line.
#[test]
fn a_role_of_another_account_is_refused_before_anything_is_sent() {
    let stack = Stack::uninitialised("dev", "wrongacct");
    stack.edit_config("dev.toml", |t| {
        t + "\n[account]\nid = \"111111111111\"\nrole_arn = \"arn:aws:iam::222222222222:role/paystack-deploy\"\n"
    });
    let run = Run::from(stack.command(&["plan"]).env("AWS_ENDPOINT_URL", "http://127.0.0.1:9").output().unwrap());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("the role is in account 222222222222, but `[account] id` is 111111111111"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("dev.toml"), "located: {}", run.stderr);
}

/// The three environments and the accounts the tests give them (`scripts/seed.py` seeds each
/// with the zone and certificate the platform looks up).
const ACCOUNTS: [(&str, &str); 3] = [("dev", "111111111111"), ("staging", "222222222222"), ("prod", "333333333333")];

/// A stack whose three environments each live in their own account, with a state bucket and
/// lock table of their own (bucket names are global, so each environment names its own).
fn three_accounts(test: &str, accounts: [(&str, &str); 3]) -> Stack {
    let stack = Stack::uninitialised("dev", test);
    for (env, account) in accounts {
        let state = format!(
            "\n[state]\nbucket = \"it-{env}-{suffix}\"\nlock_table = \"it-{env}-{suffix}-locks\"\n",
            suffix = stack.suffix
        );
        stack.edit_config(&format!("{env}.toml"), |t| t + &account_section(account) + &state);
    }
    for (env, _) in accounts {
        let init = Run::from(stack.command_for_every_env(&["init", "--env", env]).output().unwrap());
        assert_eq!(init.code, 0, "init --env {env}: {}", init.stderr);
    }
    stack
}

/// What is live of `env`'s stack (this stack's suffix), as `account` sees it.
async fn live_of(stack: &mut Stack, env: &'static str, account: &'static str) -> Vec<Live> {
    let home = std::mem::replace(&mut stack.env, env);
    let live = in_account(account, live_resources(stack)).await;
    stack.env = home;
    live
}

fn run(stack: &Stack, args: &[&str]) -> Run {
    Run::from(stack.command_for_every_env(args).output().unwrap())
}

#[tokio::test]
async fn three_environments_in_three_accounts_apply_together_each_in_its_own() {
    let mut stack = three_accounts("threeacct", ACCOUNTS);
    let applied = run(&stack, &["apply", "--all-envs", "--yes", "--max-concurrent", "3"]);
    println!("apply --all-envs --max-concurrent 3:\n{}", applied.stdout);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    for (env, account) in ACCOUNTS {
        let row = applied.stdout.lines().find(|l| l.starts_with(&format!("{env} "))).expect("a row per environment");
        assert!(row.contains(account) && row.contains("us-east-1") && row.contains("succeeded"), "{row}");
        let live = live_of(&mut stack, env, account).await;
        assert_eq!(live.len(), expected_total(env), "{env}: everything made in {account}");
        for (other, elsewhere) in ACCOUNTS.iter().filter(|(e, _)| *e != env) {
            let there = live_of(&mut stack, env, elsewhere).await;
            assert!(there.is_empty(), "{env}'s resources in {other}'s account {elsewhere}: {there:#?}");
        }
        let vpcs = in_account(account, async {
            let f = ec2::types::Filter::builder().name("tag:paystack:stack").values(format!("{env}-{}", stack.suffix));
            crate::support::ec2().await.describe_vpcs().filters(f.build()).send().await.unwrap()
        })
        .await;
        let cidr = match env {
            "dev" => "10.0.0.0/16",
            "staging" => "10.1.0.0/16",
            _ => "10.2.0.0/16",
        };
        assert_eq!(vpcs.vpcs().iter().filter_map(|v| v.cidr_block()).collect::<Vec<_>>(), [cidr], "{env}");
        // Every role paystack made in the account carries the account's boundary.
        let boundary = format!("arn:aws:iam::{account}:policy/paystack/{env}-permissions-boundary");
        let iam = in_account(account, crate::support::iam()).await;
        let path = format!("/paystack/{env}-{}/", stack.suffix);
        let roles = iam.list_roles().path_prefix(&path).send().await.unwrap();
        assert!(roles.roles().len() >= 4, "{env}: the services' roles under {path}");
        for r in roles.roles() {
            let got = iam.get_role().role_name(r.role_name()).send().await.unwrap().role.unwrap();
            let carried = got.permissions_boundary().and_then(|b| b.permissions_boundary_arn());
            assert_eq!(carried, Some(boundary.as_str()), "{env}: {} carries the boundary", r.role_name());
        }
    }

    let again = run(&stack, &["plan", "--all-envs", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "a second plan of every environment is empty:\n{}{}", again.stdout, again.stderr);
    // ...and adds nothing to any environment's month.
    let planned: serde_json::Value =
        serde_json::from_str(&run(&stack, &["plan", "--all-envs", "--json"]).stdout).unwrap();
    for env in planned["environments"].as_array().unwrap() {
        assert_eq!(env["cost"]["monthly_delta"], 0.0, "{}: {}", env["environment"], env["cost"]);
    }

    // The production guard stops the whole run, before anything anywhere is deleted.
    let refused = run(&stack, &["destroy", "--all-envs", "--yes"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("`prod`") && refused.stderr.contains("nothing was changed"), "{}", refused.stderr);
    assert_eq!(live_of(&mut stack, "dev", "111111111111").await.len(), expected_total("dev"), "dev untouched");

    // At most two environments at once: read from the order of the events, not from times.
    let args = ["destroy", "--all-envs", "--yes", "--override-protection", "--max-concurrent", "2", "--json"];
    let destroyed = run(&stack, &args);
    assert_eq!(destroyed.code, 0, "{}", destroyed.stderr);
    let (mut in_flight, mut finished) = (0, 0);
    for line in destroyed.stdout.lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        match e["event"].as_str() {
            Some("environment_started") => in_flight += 1,
            Some("environment_finished") => {
                in_flight -= 1;
                finished += 1;
            }
            _ => {}
        }
        assert!(in_flight <= 2, "three environments in flight at {e}");
    }
    assert_eq!(finished, 3);
    for (env, account) in ACCOUNTS {
        let left = live_of(&mut stack, env, account).await;
        assert!(left.is_empty(), "{env}: destroy leaves nothing in {account}: {left:#?}");
    }
}

/// Staging lives in an account without the zone and certificate it looks up, so it fails.
/// With no failure tolerated, prod never starts; with one, it runs.
#[tokio::test]
async fn a_failure_beyond_the_tolerance_starts_nothing_new() {
    let unseeded = [("dev", "111111111111"), ("staging", "444444444444"), ("prod", "333333333333")];
    let mut stack = three_accounts("tolerance", unseeded);
    let args = ["apply", "--env", "dev,staging,prod", "--yes", "--max-concurrent", "1"];
    let stopped = run(&stack, &[&args[..], &["--failure-tolerance", "0"]].concat());
    println!("failure tolerance 0:\n{}{}", stopped.stdout, stopped.stderr);
    assert_eq!(stopped.code, 1, "{}", stopped.stderr);
    let result = |out: &str, env: &str| {
        let row = out.lines().find(|l| l.starts_with(&format!("{env} "))).unwrap_or_else(|| panic!("no row for {env}"));
        ["succeeded", "failed", "not started"].into_iter().find(|r| row.contains(r)).unwrap_or("?").to_owned()
    };
    assert_eq!(
        [result(&stopped.stdout, "dev"), result(&stopped.stdout, "staging"), result(&stopped.stdout, "prod")],
        ["succeeded", "failed", "not started"]
    );
    assert_eq!(live_of(&mut stack, "dev", "111111111111").await.len(), expected_total("dev"));
    assert!(live_of(&mut stack, "prod", "333333333333").await.is_empty(), "nothing of prod exists");

    let tolerated = run(&stack, &[&args[..], &["--failure-tolerance", "1", "--json"]].concat());
    assert_eq!(tolerated.code, 1, "staging still failed: {}", tolerated.stderr);
    let events: Vec<serde_json::Value> = tolerated.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let results = &events.last().unwrap()["results"];
    let by_env: Vec<(&str, &str)> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["environment"].as_str().unwrap(), r["result"].as_str().unwrap()))
        .collect();
    assert_eq!(by_env, [("dev", "no changes"), ("staging", "failed"), ("prod", "succeeded")]);
    assert_eq!(live_of(&mut stack, "prod", "333333333333").await.len(), expected_total("prod"));
    // Never more environments in flight than allowed: here one at a time.
    let mut in_flight = 0;
    for e in &events {
        match e["event"].as_str() {
            Some("environment_started") => in_flight += 1,
            Some("environment_finished") => in_flight -= 1,
            _ => {}
        }
        assert!(in_flight <= 1, "two environments at once at {e}");
    }

    let destroyed = run(&stack, &["destroy", "--env", "dev,prod", "--yes", "--override-protection"]);
    assert_eq!(destroyed.code, 0, "{}", destroyed.stderr);
}

/// `paystack bootstrap --env dev ARGS`: an account's setup knows no suffix.
fn bootstrap(stack: &Stack, args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new(binary());
    cmd.arg("--config").arg(stack.config.path()).args(["bootstrap", "--env", stack.env]).args(args);
    cmd.env("AWS_ENDPOINT_URL", endpoint()).env("NO_COLOR", "1").env_remove("PAYSTACK_LOG");
    Run::from(cmd.output().unwrap())
}

/// `bootstrap` from the caller's account through the account's admin role: the boundary
/// policy and the deploy role with it, trusting the caller's account with the external id;
/// a second run changes nothing; and every role an apply then makes carries the boundary.
#[tokio::test]
async fn bootstrap_makes_the_deploy_role_and_the_boundary_every_role_carries() {
    let stack = Stack::uninitialised("dev", "bootstrap");
    stack.edit_config("dev.toml", |t| t + &account_section(DEV_ACCOUNT));
    let via = format!("arn:aws:iam::{DEV_ACCOUNT}:role/OrganizationAccountAccessRole");
    let boundary = format!("arn:aws:iam::{DEV_ACCOUNT}:policy/paystack/dev-permissions-boundary");
    let iam = in_account(DEV_ACCOUNT, crate::support::iam()).await;
    // The account as new: a deploy role left by an earlier run against this emulator goes.
    let _ = iam.delete_role_policy().role_name("paystack-deploy").policy_name("paystack-deploy").send().await;
    let _ = iam.delete_role().role_name("paystack-deploy").send().await;
    let _ = iam.delete_policy().policy_arn(&boundary).send().await;
    let first = bootstrap(&stack, &["--via-role", &via]).success();
    println!("bootstrap:\n{}", first.stdout);
    assert!(first.stdout.contains("deploy role /paystack-deploy"), "{}", first.stdout);
    assert_eq!(first.stdout.matches(" created\n").count(), 3, "boundary, role, policy: {}", first.stdout);
    let second = bootstrap(&stack, &["--via-role", &via]).success();
    assert!(second.stdout.contains("nothing needed changing"), "a second run changes nothing: {}", second.stdout);

    // Without --via-role, from an account that is not the environment's, it refuses.
    let refused = bootstrap(&stack, &[]).code(1);
    assert!(refused.stderr.contains("these credentials act in account 123456789012"), "{}", refused.stderr);

    let role = iam.get_role().role_name("paystack-deploy").send().await.unwrap().role.unwrap();
    let decode = |s: &str| -> serde_json::Value {
        serde_json::from_str(&percent_encoding::percent_decode_str(s).decode_utf8_lossy()).unwrap()
    };
    let trust = decode(role.assume_role_policy_document().unwrap());
    assert_eq!(trust["Statement"][0]["Principal"]["AWS"], "arn:aws:iam::123456789012:root");
    assert_eq!(trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"], "payments-dev");
    assert_eq!(role.permissions_boundary().and_then(|b| b.permissions_boundary_arn()), Some(boundary.as_str()));
    let policy =
        iam.get_role_policy().role_name("paystack-deploy").policy_name("paystack-deploy").send().await.unwrap();
    let policy = decode(policy.policy_document());
    for s in policy["Statement"].as_array().unwrap() {
        assert_ne!(s["Action"], "*", "{s}");
        let star = s["Resource"].as_array().is_some_and(|r| r.contains(&serde_json::json!("*")));
        assert!(!star || s["Condition"].is_object(), "an unconditioned `*` resource: {s}");
    }

    stack.run(&["init"]).success();
    stack.apply();
    let roles = iam.list_roles().path_prefix(format!("/paystack/{}/", stack.key())).send().await.unwrap();
    assert!(roles.roles().len() >= 4, "the services' roles: {:?}", roles.roles());
    for r in roles.roles() {
        let got = iam.get_role().role_name(r.role_name()).send().await.unwrap().role.unwrap();
        let carried = got.permissions_boundary().and_then(|b| b.permissions_boundary_arn());
        assert_eq!(carried, Some(boundary.as_str()), "{} carries the boundary", r.role_name());
    }
    stack.run(&["destroy", "--yes"]).success();
}

/// The account that owns the Transit Gateway in the cross-account test. It needs nothing
/// seeded: paystack looks up only the gateway there.
const NETWORK_ACCOUNT: &str = "555555555555";

/// The gateway in a network account of its own, shared through AWS RAM with the three
/// environments' accounts, and each environment's plan placing its attachment in its own
/// account and its gateway route table in the network account. The emulator's RAM does not
/// make a shared gateway usable from another account, so the apply is shown in
/// `transit.rs` with every environment in one account.
#[tokio::test]
async fn a_gateway_in_the_network_account_is_shared_with_every_environment_account() {
    use crate::transit::{attach_shared_services, bootstrap_gateway, gateway_of, with_gateway};
    let stack = three_accounts("tgwshare", ACCOUNTS);
    let owner = format!(
        "account = \"{NETWORK_ACCOUNT}\"\nrole_arn = \"arn:aws:iam::{NETWORK_ACCOUNT}:role/paystack-network\"\n"
    );
    let project = with_gateway(&stack, &owner);

    let made = bootstrap_gateway(&stack).success();
    println!("bootstrap --transit-gateway:\n{}", made.stdout);
    assert!(made.stdout.contains(&format!("of account {NETWORK_ACCOUNT}")), "{}", made.stdout);
    assert_eq!(made.stdout.matches(" created\n").count(), 2, "the gateway and its share: {}", made.stdout);
    let again = bootstrap_gateway(&stack).success();
    assert!(again.stdout.contains("nothing needed changing"), "a second run changes nothing: {}", again.stdout);

    let gateway = in_account(NETWORK_ACCOUNT, gateway_of(&project)).await;
    let (tgw, arn) = (gateway.transit_gateway_id().unwrap().to_owned(), gateway.transit_gateway_arn().unwrap());
    assert!(arn.contains(NETWORK_ACCOUNT), "{arn}");
    let by_project = ec2::types::Filter::builder().name("tag:paystack:transit-gateway").values(&project).build();
    let here = crate::support::ec2().await.describe_transit_gateways().filters(by_project).send().await.unwrap();
    assert!(here.transit_gateways().is_empty(), "no gateway in the caller's account: {here:?}");

    let ram =
        in_account(NETWORK_ACCOUNT, async { aws_sdk_ram::Client::new(&crate::support::sdk_config().await) }).await;
    let name = format!("{project}-transit-gateway");
    let shares = ram
        .get_resource_shares()
        .resource_owner(aws_sdk_ram::types::ResourceOwner::SelfValue)
        .name(&name)
        .send()
        .await
        .unwrap();
    // The emulator ignores the name filter; the name is checked here too.
    let named: Vec<_> = shares.resource_shares().iter().filter(|s| s.name() == Some(name.as_str())).collect();
    let [share] = named.as_slice() else { panic!("one share: {shares:?}") };
    let associated = |kind| {
        ram.get_resource_share_associations()
            .association_type(kind)
            .resource_share_arns(share.resource_share_arn().unwrap())
            .send()
    };
    let principals = associated(aws_sdk_ram::types::ResourceShareAssociationType::Principal).await.unwrap();
    let mut entities: Vec<&str> =
        principals.resource_share_associations().iter().filter_map(|a| a.associated_entity()).collect();
    entities.sort_unstable();
    assert_eq!(entities, ACCOUNTS.map(|(_, account)| account), "shared with each environment's account");
    let resources = associated(aws_sdk_ram::types::ResourceShareAssociationType::Resource).await.unwrap();
    let shared: Vec<&str> =
        resources.resource_share_associations().iter().filter_map(|a| a.associated_entity()).collect();
    assert_eq!(shared, [arn], "the share holds the gateway");

    in_account(NETWORK_ACCOUNT, attach_shared_services(&tgw)).await;
    let planned = run(&stack, &["plan", "--env", "prod", "--json"]);
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    let plan = planned.json();
    let placed = |id: &str| {
        let change =
            plan["changes"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("{id}"));
        change["placement"]["account"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(placed("network.tgw.attachment"), "333333333333", "the attachment is prod's, in prod's account");
    assert_eq!(placed("network.tgw.route_table"), NETWORK_ACCOUNT, "its gateway route table is the gateway's");
    assert_eq!(placed("network.vpc"), "333333333333");
}
