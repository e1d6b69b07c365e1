//! The estimate of the shipped configuration, and the price table's validation.

use std::path::Path;

use paystack_config::{Assumption, Config, DbCapacity, Environment};
use paystack_core::{Action, Change, Kind, Placement, Plan, ResourceId, StateDocument};
use paystack_platform::{Lookups, blueprint, kinds};

use crate::{Day, Estimate, PriceTable, Resource, Status, delta, estimate_specs};

pub(crate) fn shipped(env: &str) -> Environment {
    let config = Config::load(Path::new("../../config")).expect("the shipped configuration is valid");
    config.environment(env, None).expect("the environment is shipped")
}

fn prices() -> PriceTable {
    PriceTable::shipped().expect("the shipped price table is valid")
}

fn specs(env: &Environment) -> Vec<paystack_core::Spec> {
    blueprint(env, &Lookups::default()).expect("the shipped environment lays out").specs
}

fn cost(env: &Environment) -> Estimate {
    estimate_specs(env, &specs(env), &prices()).expect("every price is in the table")
}

const TODAY: Day = Day { year: 2026, month: 12, day: 3 };

#[test]
fn the_shipped_price_table_is_valid_and_prices_both_regions() {
    let table = prices();
    assert!(table.regions().contains("us-east-1") && table.regions().contains("eu-west-1"));
    let (oldest, newest) = table.effective().expect("rows");
    assert!(oldest <= newest && newest <= Day::today());
    // The file round-trips: what --refresh-prices writes is what is read.
    assert_eq!(
        PriceTable::parse("again", &table.to_csv(), TODAY).expect("re-read").rows().count(),
        table.rows().count()
    );
}

#[test]
fn a_price_file_is_refused_line_by_line() {
    let text = "# comment\n\
        region,service,dimension,unit,usd,effective\n\
        us-east-1,kms,key,month,1.00,2025-06-01\n\
        us-east-1,kms,key,month,1.10,2025-06-01\n\
        us-east-1,kms,key,hour,1.00,2025-06-01\n\
        us-east-1,ec2,nat-gateway,hour,-1,2025-06-01\n\
        us-east-1,ec2,nat-gateway-data,GB,0.045,2025-02-30\n\
        us-east-1,ec2,public-ipv4,hour,0.005,2027-01-01\n\
        us-east-1,ec2,elastic-ip,hour,0.005,2025-06-01\n\
        us-east-1,ec2,public-ipv4\n\
        mars,ec2,public-ipv4,hour,0.005,2025-06-01\n\
        us-east-1,rds,aurora-postgresql:db.r5.large,hour,0.29,2025-06-01\n";
    let errors = PriceTable::parse("prices.csv", text, TODAY).expect_err("the table has mistakes").errors;
    let lines: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.message.as_str())).collect();
    let at = |line: usize| lines.iter().find(|(l, _)| *l == line).map(|(_, m)| *m).unwrap_or("(no error)");
    assert!(at(4).contains("priced twice (first on line 3)"), "{}", at(4));
    assert!(at(5).contains("priced per `month`, not per `hour`"), "{}", at(5));
    assert!(at(6).contains("not a price"), "{}", at(6));
    assert!(at(7).contains("not a date"), "{}", at(7));
    assert!(at(8).contains("has not come yet"), "{}", at(8));
    assert!(at(9).contains("not a price dimension"), "{}", at(9));
    assert!(at(10).contains("expected 6"), "{}", at(10));
    assert!(at(11).contains("not an AWS region"), "{}", at(11));
    assert_eq!(errors.len(), 8, "the good rows are not errors: {lines:?}");

    let headless = PriceTable::parse("p.csv", "us-east-1,kms,key,month,1,2025-06-01\n", TODAY).expect_err("no header");
    assert_eq!(headless.errors[0].line, 1);
    assert!(PriceTable::parse("p.csv", "# nothing\n", TODAY).expect_err("empty").errors[0].message.contains("empty"));
}

#[test]
fn dev_costs_less_than_staging_which_costs_no_more_than_prod() {
    let (dev, staging, prod) = (cost(&shipped("dev")), cost(&shipped("staging")), cost(&shipped("prod")));
    assert!(dev.total() > 0.0);
    assert!(dev.total() < staging.total(), "dev {} < staging {}", dev.total(), staging.total());
    assert!(staging.total() <= prod.total(), "staging {} <= prod {}", staging.total(), prod.total());
    for e in [&dev, &staging, &prod] {
        let (low, high) = e.range();
        assert!(low <= e.total() && e.total() <= high, "{}: {low} <= {} <= {high}", e.environment, e.total());
        let layers: f64 = e.layers().iter().map(|(_, t)| t).sum();
        assert!((layers - e.total()).abs() < 1e-6, "the layers add up to the total");
    }
    // A layer of free resources costs 0, never -0 (an empty sum's sign, which JSON keeps).
    let security = prod.layers().into_iter().find(|(l, _)| *l == "security").expect("a security layer").1;
    assert!(security == 0.0 && security.is_sign_positive());
    // Production scales further than it runs: its services' max_count is above desired.
    assert!(prod.range().1 > prod.total());
}

#[test]
fn every_planned_resource_is_priced_or_listed_as_free() {
    for name in ["dev", "staging", "prod"] {
        let env = shipped(name);
        let specs = specs(&env);
        let e = cost(&env);
        assert_eq!(e.lines.len(), specs.len(), "{name}: one line per resource");
        for (spec, line) in specs.iter().zip(&e.lines) {
            assert_eq!(spec.id, line.resource);
            match &line.status {
                Status::Priced => {
                    assert!(line.monthly() > 0.0, "{name}: {} is priced at nothing", spec.id);
                    assert!(!line.item.is_empty() && line.charges.iter().all(|c| c.usd > 0.0), "{}", spec.id);
                }
                Status::Free(why) | Status::NotEstimated(why) => {
                    assert!(!why.is_empty() && line.monthly() == 0.0, "{}", spec.id)
                }
            }
        }
        let status_of = |kind: &Kind| e.lines.iter().filter(|l| &l.kind == kind).map(|l| &l.status).next().cloned();
        for free in [&kinds::SECURITY_GROUP, &kinds::ROUTE_TABLE, &kinds::IAM_ROLE, &kinds::SUBNET] {
            assert!(matches!(status_of(&free.kind()), Some(Status::Free(_))), "{name}: {} is free", free.name);
        }
        for priced in
            [&kinds::DB_INSTANCE, &kinds::NAT_GATEWAY, &kinds::LOAD_BALANCER, &kinds::ECS_SERVICE, &kinds::KMS_KEY]
        {
            assert_eq!(status_of(&priced.kind()), Some(Status::Priced), "{name}: {} is priced", priced.name);
        }
    }
}

#[test]
fn a_changed_instance_class_changes_exactly_the_instances_lines() {
    let prod = shipped("prod");
    let mut bigger = prod.clone();
    bigger.database.capacity = DbCapacity::Provisioned { instance_class: "db.r6g.xlarge".into() };
    let (before, after) = (cost(&prod), cost(&bigger));
    let changed: Vec<&ResourceId> = before
        .lines
        .iter()
        .zip(&after.lines)
        .filter(|(b, a)| b.monthly() != a.monthly() || b.item != a.item)
        .map(|(b, _)| &b.resource)
        .collect();
    let instances: Vec<&ResourceId> =
        before.lines.iter().filter(|l| l.kind == kinds::DB_INSTANCE.kind()).map(|l| &l.resource).collect();
    assert_eq!(changed, instances);
    assert_eq!(instances.len(), 3, "the writer and two readers");
    let writer = after.line(&ResourceId::new("database.instance.writer")).expect("a writer");
    assert_eq!(writer.item, "db.r6g.xlarge instance");
    assert!((writer.monthly() - 0.52 * 730.0).abs() < 0.01, "{}", writer.monthly());
}

#[test]
fn assumptions_drive_their_figures_and_are_named_beside_them() {
    let mut env = shipped("dev");
    let nat = ResourceId::new("network.nat.a");
    let base = cost(&env).line(&nat).expect("a NAT gateway").monthly();
    env.cost.set(Assumption::NatGbPerGateway, 1000.0);
    let line = cost(&env).line(&nat).expect("a NAT gateway").clone();
    let data = line.charges.iter().find(|c| c.dimension == "nat-gateway-data").expect("a data charge");
    assert_eq!(data.assumption, Some(("nat_gb_per_gateway".to_owned(), 1000.0)));
    assert!((line.monthly() - base - (1000.0 - 50.0) * 0.045).abs() < 1e-6);
}

#[test]
fn a_serverless_database_is_priced_at_its_minimum_with_its_maximum_as_ceiling() {
    let mut env = shipped("dev");
    env.database.capacity = DbCapacity::ServerlessV2 { min_acu: 0.5, max_acu: 8.0 };
    let writer = cost(&env).line(&ResourceId::new("database.instance.writer")).expect("a writer").clone();
    assert!((writer.monthly() - 0.5 * 730.0 * 0.12).abs() < 1e-6, "{}", writer.monthly());
    assert!((writer.high - 8.0 * 730.0 * 0.12).abs() < 1e-6, "{}", writer.high);
}

#[test]
fn a_region_the_table_does_not_price_is_named() {
    let mut env = shipped("dev");
    env.region = "ap-south-1".into();
    env.replica_region = None;
    let missing = estimate_specs(&env, &specs(&env), &prices()).expect_err("no prices for ap-south-1");
    assert!(missing.missing.iter().any(|m| m == "ec2 nat-gateway in ap-south-1"), "{:?}", missing.missing);
    assert!(missing.missing.iter().all(|m| m.ends_with("in ap-south-1")));
}

/// State as an apply of `specs` would leave it, references aside.
fn applied(specs: &[paystack_core::Spec]) -> StateDocument {
    let mut state = StateDocument::new("dev".into(), "lineage".into());
    for spec in specs {
        let r = Resource::from_spec(spec);
        let record = paystack_core::ResourceRecord {
            kind: spec.kind.clone(),
            name: spec.name.clone(),
            placement: spec.placement.clone(),
            aws_id: spec.name.clone(),
            attributes: r.fields,
            outputs: Default::default(),
            depends_on: r.depends_on,
        };
        state.resources.insert(spec.id.clone(), record);
    }
    state
}

fn change(id: &str, kind: &Kind, action: Action) -> Change {
    Change {
        id: ResourceId::new(id),
        kind: kind.clone(),
        name: id.into(),
        placement: Placement::default(),
        action,
        reason: None,
        aws_id: None,
        fields: Vec::new(),
    }
}

#[test]
fn a_plan_costs_what_its_changes_add_and_nothing_for_what_it_leaves() {
    let dev = shipped("dev");
    let specs = specs(&dev);
    let first = Plan { changes: specs.iter().map(|s| change(s.id.as_str(), &s.kind, Action::Create)).collect() };
    let everything = delta(&dev, &first, &specs, None, false, &prices()).expect("priced");
    assert!((everything.monthly - cost(&dev).total()).abs() < 1e-6, "a first apply adds the whole estimate");

    // Two readers of a bigger class: the new instances and the writer's new class, nothing else.
    let state = applied(&specs);
    let mut grown = dev.clone();
    grown.database.capacity = DbCapacity::Provisioned { instance_class: "db.r5.large".into() };
    grown.database.readers = 2;
    let grown_specs = self::specs(&grown);
    let mut plan = Plan { changes: grown_specs.iter().map(|s| change(s.id.as_str(), &s.kind, Action::NoOp)).collect() };
    for c in plan.changes.iter_mut().filter(|c| c.kind == kinds::DB_INSTANCE.kind()) {
        c.action = if state.resources.contains_key(&c.id) { Action::Update } else { Action::Create };
    }
    let d = delta(&grown, &plan, &grown_specs, Some(&state), false, &prices()).expect("priced");
    let readers = d.items.iter().find(|i| i.item == "db.r5.large instance").expect("the readers");
    assert_eq!(readers.resources.len(), 2);
    assert!((readers.monthly - 2.0 * 0.29 * 730.0).abs() < 0.01, "{}", readers.monthly);
    let writer = d.items.iter().find(|i| i.item == "db.t3.medium instance → db.r5.large instance").expect("the writer");
    assert!((writer.monthly - (0.29 - 0.082) * 730.0).abs() < 0.01);
    assert_eq!(d.items.len(), 2, "{:?}", d.items);

    // Nothing changed: nothing to add, even where the configuration's figures moved.
    let quiet = Plan { changes: plan.changes.iter().map(|c| Change { action: Action::NoOp, ..c.clone() }).collect() };
    assert!(delta(&grown, &quiet, &grown_specs, Some(&state), false, &prices()).expect("priced").is_zero());

    // Destroy takes the whole estimate away.
    let gone = Plan { changes: specs.iter().map(|s| change(s.id.as_str(), &s.kind, Action::Delete)).collect() };
    let destroyed = delta(&dev, &gone, &specs, Some(&state), true, &prices()).expect("priced");
    assert!((destroyed.monthly + cost(&dev).total()).abs() < 1e-6);
}
