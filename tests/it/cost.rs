//! `cost`: the estimate of the shipped environments as the CLI prints it, the price table's
//! refusal of its own mistakes, and the monthly difference a plan carries.

use serde_json::Value;

use crate::support::Stack;

fn estimate(env: &'static str) -> Value {
    Stack::uninitialised(env, "cost").run(&["cost", "--json"]).success().json()
}

fn monthly(v: &Value) -> f64 {
    v["monthly"].as_f64().unwrap()
}

#[test]
fn the_shipped_environments_cost_more_as_they_near_production() {
    let (dev, staging, prod) = (estimate("dev"), estimate("staging"), estimate("prod"));
    assert!(monthly(&dev) < monthly(&staging), "dev {} < staging {}", monthly(&dev), monthly(&staging));
    assert!(monthly(&staging) <= monthly(&prod), "staging {} <= prod {}", monthly(&staging), monthly(&prod));
    for e in [&dev, &staging, &prod] {
        assert_eq!(e["estimate"], true);
        assert_eq!(e["currency"], "USD");
        let lines = e["lines"].as_array().unwrap();
        let sum: f64 = lines.iter().map(|l| l["monthly"].as_f64().unwrap()).sum();
        assert!((sum - monthly(e)).abs() < 1e-6, "the lines add up to the total");
        let layers: f64 = e["layers"].as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum();
        assert!((layers - monthly(e)).abs() < 1e-6, "and so do the layers");
        for line in lines {
            let status = line["status"].as_str().unwrap();
            assert!(["priced", "free", "not-estimated"].contains(&status), "{line}");
            if status != "priced" {
                assert!(!line["why"].as_str().unwrap().is_empty(), "{line}");
            }
        }
        assert!(e["prices_effective"]["to"].as_str().unwrap().len() == 10, "{}", e["prices_effective"]);
    }
    // Production's own usage, from prod.toml's [cost], is what its figures assume.
    assert_eq!(prod["assumptions"]["nat_gb_per_gateway"], 200.0);
    assert_eq!(dev["assumptions"]["nat_gb_per_gateway"], 50.0);

    let text = Stack::uninitialised("prod", "costtext").run(&["cost"]).success().stdout;
    assert!(text.starts_with("Estimated monthly cost of `prod-"), "{text}");
    assert!(text.contains("not a bill"), "{text}");
    assert!(text.contains("[cost.nat_gb_per_gateway = 200]"), "the assumption is printed beside its figure: {text}");
    assert!(text.contains("db.r5.large instance"), "{text}");
}

#[test]
fn an_assumption_set_in_the_configuration_moves_only_its_figures() {
    let stack = Stack::uninitialised("dev", "costknob");
    let before = stack.run(&["cost", "--json"]).success().json();
    stack.edit_config("dev.toml", |t| format!("{t}\n[cost]\nnat_gb_per_gateway = 1050\n"));
    let after = stack.run(&["cost", "--json"]).success().json();
    let moved: Vec<&str> = before["lines"]
        .as_array()
        .unwrap()
        .iter()
        .zip(after["lines"].as_array().unwrap())
        .filter(|(b, a)| b["monthly"] != a["monthly"])
        .map(|(b, _)| b["resource"].as_str().unwrap())
        .collect();
    assert_eq!(moved, ["network.nat.a"]);
    assert!((monthly(&after) - monthly(&before) - 1000.0 * 0.045).abs() < 1e-6);

    stack.edit_config("dev.toml", |t| format!("{t}\nnat_gb = -1\n"));
    let refused = stack.run(&["cost"]).code(1);
    assert!(refused.stderr.contains("`cost.nat_gb` is not an assumption"), "{}", refused.stderr);
}

#[test]
fn a_price_table_with_mistakes_is_refused_line_by_line_before_anything_is_read() {
    let stack = Stack::uninitialised("dev", "costfile");
    let file = stack.config.path().join("prices.csv");
    std::fs::write(
        &file,
        "region,service,dimension,unit,usd,effective\n\
         us-east-1,kms,key,month,1.00,2025-06-01\n\
         us-east-1,kms,key,month,1.00,2025-06-01\n\
         us-east-1,ec2,nat-gateway,GB,0.045,2025-06-01\n\
         us-east-1,ec2,public-ipv4,hour,0.005,2025-13-01\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let refused = stack.run(&["cost", "--prices", path]).code(1);
    for expected in [
        ":3: kms key in us-east-1 is priced twice (first on line 2)",
        ":4: ec2 nat-gateway is priced per `hour`, not per `GB`",
        ":5: `2025-13-01` is not a date",
    ] {
        assert!(refused.stderr.contains(expected), "{expected}\n{}", refused.stderr);
    }
    // plan reads the table before AWS: the stack has no state bucket, and that is not what
    // stops it.
    let plan = stack.run(&["plan", "--prices", path]).code(1);
    assert!(plan.stderr.contains("priced twice"), "{}", plan.stderr);

    // A table that is valid but lacks the stack's region names what it lacks.
    std::fs::write(&file, "region,service,dimension,unit,usd,effective\neu-west-1,kms,key,month,1,2025-06-01\n")
        .unwrap();
    let lacking = stack.run(&["cost", "--prices", path]).code(1);
    assert!(lacking.stderr.contains("has no price for"), "{}", lacking.stderr);
    assert!(lacking.stderr.contains("ec2 nat-gateway in us-east-1"), "{}", lacking.stderr);
}

#[test]
fn a_plan_carries_what_its_changes_add_to_the_month() {
    let stack = Stack::new("dev", "costplan");
    let estimate = stack.run(&["cost", "--json"]).success().json();
    let plan = stack.run(&["plan", "--json"]).success().json();
    let delta = &plan["cost"];
    assert_eq!(delta["estimate"], true);
    assert!(
        (delta["monthly_delta"].as_f64().unwrap() - monthly(&estimate)).abs() < 1e-6,
        "a first apply adds the whole estimate: {delta}"
    );
    let items = delta["items"].as_array().unwrap();
    assert_eq!(items[0]["item"], "db.t3.medium instance", "the largest first: {delta}");
    assert_eq!(items[0]["resources"], serde_json::json!(["database.instance.writer"]));

    let text = stack.run(&["plan"]).success().stdout;
    let foot = text.lines().find(|l| l.starts_with("Monthly cost (estimate")).unwrap_or_else(|| panic!("{text}"));
    assert_eq!(foot, format!("Monthly cost (estimate, prices/aws.csv): +${:.2} a month", monthly(&estimate)));

    // Applied, the next plan changes nothing and costs nothing more.
    stack.run(&["apply", "--yes", "--target", "network.igw"]).success();
    let targeted = stack.run(&["plan", "--json", "--target", "network.igw"]).success().json();
    assert_eq!(targeted["cost"]["monthly_delta"], 0.0, "{}", targeted["cost"]);
    stack.run(&["destroy", "--yes"]).success();
}

/// The emulator has no Price List API: a refresh says the API did not answer and leaves the
/// table as it was, byte for byte. (What a refresh makes of the API's answers is unit-tested
/// in `paystack-cost`'s `refresh` module.)
#[test]
fn a_refresh_without_a_price_list_to_read_leaves_the_table_as_it_was() {
    let stack = Stack::uninitialised("dev", "costrefresh");
    let file = stack.config.path().join("prices.csv");
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../prices/aws.csv")).unwrap();
    std::fs::write(&file, &shipped).unwrap();
    let refused = stack.run(&["cost", "--refresh-prices", "--prices", file.to_str().unwrap()]).code(1);
    assert!(refused.stderr.contains("the AWS Price List API did not answer"), "{}", refused.stderr);
    assert!(refused.stderr.contains("is unchanged"), "{}", refused.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), shipped);
    assert!(refused.stdout.is_empty(), "no estimate from a refresh that failed: {}", refused.stdout);
}
