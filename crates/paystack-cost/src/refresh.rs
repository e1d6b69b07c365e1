//! What `cost --refresh-prices` asks the AWS Price List API for each row, and how it reads
//! the answer. The calls themselves are `paystack-aws`'s; this side is data and parsing, so
//! it is tested without AWS.
//!
//! A product of the Price List is a JSON document: `product.attributes` (`usagetype`,
//! `regionCode`, ...) and `terms.OnDemand.{offer}.priceDimensions.{rate}` with `unit`,
//! `beginRange` and `pricePerUnit.USD`, and the offer's `effectiveDate`.

use serde_json::Value;

use crate::prices::{Day, Price, PriceKey};

/// One GetProducts query: the products of `service_code` whose attributes match, narrowed to
/// the one whose usage type is `usagetype` (with the region's prefix, as AWS writes it).
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub service_code: &'static str,
    /// Attributes matched exactly (`TERM_MATCH`): the product family, the engine...
    pub attributes: Vec<(&'static str, String)>,
    /// The region, matched on `regionCode`; `None` for a global price (Route 53).
    pub region: Option<String>,
    /// The usage type without its region prefix, matched by `CONTAINS` and then exactly.
    pub usagetype: Option<String>,
    /// The table's unit in the price list's units: a million requests is 1,000,000.
    pub per: f64,
}

/// The query for `key`, or `None` for a row whose price the Price List cannot give
/// unambiguously (inter-region transfer depends on the destination; Cloud Map's registered
/// instances are not listed under one usage type): those rows are kept as they are.
pub fn query(key: &PriceKey) -> Option<Query> {
    let q = |service_code, attributes: &[(&'static str, &str)], usagetype: Option<&str>, per| Query {
        service_code,
        attributes: attributes.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        region: Some(key.region.clone()),
        usagetype: usagetype.map(str::to_owned),
        per,
    };
    let aurora = |family: &'static str| [("productFamily", family), ("databaseEngine", "Aurora PostgreSQL")];
    let dimension = key.dimension.as_str();
    if let Some(class) = dimension.strip_prefix("aurora-postgresql:") {
        let attributes =
            [("productFamily", "Database Instance"), ("databaseEngine", "Aurora PostgreSQL"), ("instanceType", class)];
        return Some(q("AmazonRDS", &attributes, Some(&format!("InstanceUsage:{class}")), 1.0));
    }
    let million = 1_000_000.0;
    Some(match (key.service.as_str(), dimension) {
        ("rds", "aurora-serverless-v2") => {
            q("AmazonRDS", &aurora("ServerlessV2"), Some("Aurora:ServerlessV2Usage"), 1.0)
        }
        ("rds", "aurora-storage") => q("AmazonRDS", &aurora("Database Storage"), Some("Aurora:StorageUsage"), 1.0),
        ("rds", "aurora-io") => q("AmazonRDS", &aurora("System Operation"), Some("Aurora:StorageIOUsage"), million),
        ("ec2", "nat-gateway") => q("AmazonEC2", &[("productFamily", "NAT Gateway")], Some("NatGateway-Hours"), 1.0),
        ("ec2", "nat-gateway-data") => {
            q("AmazonEC2", &[("productFamily", "NAT Gateway")], Some("NatGateway-Bytes"), 1.0)
        }
        ("ec2", "public-ipv4") => q("AmazonVPC", &[], Some("PublicIPv4:InUseAddress"), 1.0),
        ("ec2", "transit-gateway-attachment") => {
            q("AmazonVPC", &[("operation", "TransitGatewayVPC")], Some("TransitGateway-Hours"), 1.0)
        }
        ("ec2", "transit-gateway-data") => {
            q("AmazonVPC", &[("operation", "TransitGatewayVPC")], Some("TransitGateway-Bytes"), 1.0)
        }
        ("elasticloadbalancing", "alb") => {
            q("AWSELB", &[("productFamily", "Load Balancer-Application")], Some("LoadBalancerUsage"), 1.0)
        }
        ("elasticloadbalancing", "alb-lcu") => {
            q("AWSELB", &[("productFamily", "Load Balancer-Application")], Some("LCUUsage"), 1.0)
        }
        ("ecs", "fargate-vcpu") => {
            q("AmazonECS", &[("productFamily", "Compute")], Some("Fargate-vCPU-Hours:perCPU"), 1.0)
        }
        ("ecs", "fargate-memory") => q("AmazonECS", &[("productFamily", "Compute")], Some("Fargate-GB-Hours"), 1.0),
        ("logs", "ingestion") => {
            q("AmazonCloudWatch", &[("productFamily", "Data Payload")], Some("DataProcessing-Bytes"), 1.0)
        }
        ("logs", "storage") => {
            q("AmazonCloudWatch", &[("productFamily", "Storage Snapshot")], Some("TimedStorage-ByteHrs"), 1.0)
        }
        ("cloudwatch", "alarm") => q(
            "AmazonCloudWatch",
            &[("productFamily", "Alarm"), ("alarmType", "Standard")],
            Some("CW:AlarmMonitorUsage"),
            1.0,
        ),
        ("secretsmanager", "secret") => q("AWSSecretsManager", &[("productFamily", "Secret")], None, 1.0),
        ("kms", "key") => q("awskms", &[("productFamily", "Encryption Key")], Some("KMS-Keys"), 1.0),
        ("dynamodb", request @ ("write-request" | "read-request" | "replicated-write-request")) => {
            let group = match request {
                "write-request" => "DDB-WriteUnits",
                "read-request" => "DDB-ReadUnits",
                _ => "DDB-ReplicatedWriteUnits",
            };
            let family = ("productFamily", "Amazon DynamoDB PayPerRequest Throughput");
            q("AmazonDynamoDB", &[family, ("group", group)], None, million)
        }
        ("dynamodb", "storage") => {
            q("AmazonDynamoDB", &[("productFamily", "Database Storage")], Some("TimedStorage-ByteHrs"), 1.0)
        }
        ("dynamodb", "provisioned-write") => {
            q("AmazonDynamoDB", &[("productFamily", "Provisioned IOPS"), ("group", "DDB-WriteUnits")], None, 1.0)
        }
        ("dynamodb", "provisioned-read") => {
            q("AmazonDynamoDB", &[("productFamily", "Provisioned IOPS"), ("group", "DDB-ReadUnits")], None, 1.0)
        }
        ("s3", "standard-storage") => q(
            "AmazonS3",
            &[("productFamily", "Storage"), ("storageClass", "General Purpose"), ("volumeType", "Standard")],
            Some("TimedStorage-ByteHrs"),
            1.0,
        ),
        ("wafv2", "web-acl") => q("awswaf", &[("productFamily", "Web Application Firewall")], Some("WebACLV2"), 1.0),
        ("wafv2", "rule") => q("awswaf", &[("productFamily", "Web Application Firewall")], Some("RuleV2"), 1.0),
        ("wafv2", "request") => {
            q("awswaf", &[("productFamily", "Web Application Firewall")], Some("RequestV2-Tier1"), million)
        }
        ("route53", "hosted-zone") => {
            Query { region: None, ..q("AmazonRoute53", &[("productFamily", "DNS Zone")], Some("HostedZone"), 1.0) }
        }
        _ => return None,
    })
}

/// The prefix AWS puts before a usage type in `region` (`EU-` in eu-west-1; none, or
/// `USE1-`, in us-east-1). A usage type with any other prefix is another product
/// (`IA-TimedStorage-ByteHrs` is infrequent-access storage).
fn usage_prefixes(region: &str) -> &'static [&'static str] {
    match region {
        "us-east-1" => &["", "USE1-"],
        "us-east-2" => &["USE2-"],
        "us-west-1" => &["USW1-"],
        "us-west-2" => &["USW2-"],
        "ca-central-1" => &["CAN1-"],
        "eu-west-1" => &["EU-", "EUW1-"],
        "eu-west-2" => &["EUW2-"],
        "eu-west-3" => &["EUW3-"],
        "eu-central-1" => &["EUC1-"],
        "eu-north-1" => &["EUN1-"],
        "ap-northeast-1" => &["APN1-"],
        "ap-northeast-2" => &["APN2-"],
        "ap-southeast-1" => &["APS1-"],
        "ap-southeast-2" => &["APS2-"],
        "ap-south-1" => &["APS3-"],
        "sa-east-1" => &["SAE1-"],
        _ => &[],
    }
}

/// Whether `usagetype` is `wanted` as AWS writes it in `region`.
fn is_usage(usagetype: &str, wanted: &str, region: Option<&str>) -> bool {
    let Some(prefix) = usagetype.strip_suffix(wanted) else { return false };
    match region.map(usage_prefixes) {
        Some(known) if !known.is_empty() => known.contains(&prefix),
        // A region this table does not know: one token of capitals and digits, or none.
        _ => {
            prefix.is_empty()
                || prefix
                    .strip_suffix('-')
                    .is_some_and(|p| p.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
        }
    }
}

/// The on-demand price of the one product among `documents` that answers `query`, in the
/// table's unit. Several answering products with different prices, or none, is an error
/// that says so: a guess would be a wrong price.
pub fn price_of(query: &Query, unit: &str, documents: &[String]) -> Result<Price, String> {
    let mut found: Vec<(f64, Day)> = Vec::new();
    for text in documents {
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| format!("the Price List answered a product that is not JSON: {e}"))?;
        let usagetype = doc["product"]["attributes"]["usagetype"].as_str().unwrap_or_default();
        if let Some(wanted) = &query.usagetype
            && !is_usage(usagetype, wanted, query.region.as_deref())
        {
            continue;
        }
        if let Some(price) = on_demand(&doc) {
            found.push(price);
        }
    }
    found.sort_by(|a, b| a.0.total_cmp(&b.0));
    found.dedup_by(|a, b| a.0 == b.0);
    match found.as_slice() {
        [(usd, effective)] => Ok(Price { unit: unit.to_owned(), usd: usd * query.per, effective: *effective }),
        [] => Err(format!("no on-demand product of {} matches", query.service_code)),
        many => Err(format!(
            "{} products of {} match, at {}",
            many.len(),
            query.service_code,
            many.iter().map(|(usd, _)| format!("${usd}")).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// A product's on-demand price: its first tier (the one that begins at 0), and the day its
/// offer took effect.
fn on_demand(doc: &Value) -> Option<(f64, Day)> {
    let offers = doc["terms"]["OnDemand"].as_object()?;
    let offer = offers.values().next()?;
    let effective = Day::parse(offer["effectiveDate"].as_str()?.get(..10)?)?;
    let tiers = offer["priceDimensions"].as_object()?;
    let first = tiers.values().find(|d| d["beginRange"].as_str().is_none_or(|b| b == "0"))?;
    let usd: f64 = first["pricePerUnit"]["USD"].as_str()?.parse().ok()?;
    Some((usd, effective))
}

/// The rows a refresh asks for: every row of `table`, and for each region in `regions` it
/// lacks, the rows the table has for its first region.
pub fn wanted(table: &crate::PriceTable, regions: &[&str]) -> Vec<PriceKey> {
    let mut keys: Vec<PriceKey> = table.rows().map(|(k, _)| k.clone()).collect();
    let known = table.regions();
    let Some(model) = known.iter().next().map(|r| (*r).to_owned()) else { return keys };
    for region in regions.iter().filter(|r| !known.contains(**r)) {
        let rows: Vec<PriceKey> = table
            .rows()
            .filter(|(k, _)| k.region == model)
            .map(|(k, _)| PriceKey { region: (*region).to_owned(), ..k.clone() })
            .collect();
        keys.extend(rows);
    }
    keys.sort();
    keys.dedup();
    keys
}

/// What a refresh did to the table, row by row.
#[derive(Debug)]
pub struct Refreshed {
    pub table: crate::PriceTable,
    /// Rows whose price moved: the old and the new.
    pub changed: Vec<(PriceKey, f64, f64)>,
    /// Rows the Price List answered with the price they had.
    pub confirmed: usize,
    /// Rows of a region the table lacked.
    pub added: usize,
    /// Rows left as they were, and why.
    pub kept: Vec<(PriceKey, String)>,
    /// Rows of a new region the Price List could not answer: not in the table.
    pub missing: Vec<(PriceKey, String)>,
}

/// `old` with each answered row replaced by its answer. A row the Price List did not
/// answer keeps its price and date, so the table never loses a row it had.
pub fn merge(
    old: &crate::PriceTable,
    answers: Vec<(PriceKey, Result<Price, String>)>,
) -> Result<Refreshed, crate::PriceErrors> {
    let mut rows: std::collections::BTreeMap<PriceKey, Price> =
        old.rows().map(|(k, p)| (k.clone(), p.clone())).collect();
    let mut report = (Vec::new(), 0, 0, Vec::new(), Vec::new());
    let answered: std::collections::BTreeSet<PriceKey> = answers.iter().map(|(k, _)| k.clone()).collect();
    for (key, answer) in answers {
        match (answer, old.price(&key.region, &key.service, &key.dimension)) {
            (Ok(new), Some(was)) if new.usd == was.usd => {
                report.1 += 1;
                rows.insert(key, new);
            }
            (Ok(new), Some(was)) => {
                report.0.push((key.clone(), was.usd, new.usd));
                rows.insert(key, new);
            }
            (Ok(new), None) => {
                report.2 += 1;
                rows.insert(key, new);
            }
            (Err(why), Some(_)) => report.3.push((key, why)),
            (Err(why), None) => report.4.push((key, why)),
        }
    }
    for (key, _) in old.rows().filter(|(k, _)| !answered.contains(*k)) {
        report.3.push((key.clone(), "the Price List has no one product for it; kept as it was".to_owned()));
    }
    let table = crate::PriceTable::from_rows(&old.source, rows)?;
    let (changed, confirmed, added, kept, missing) = report;
    Ok(Refreshed { table, changed, confirmed, added, kept, missing })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_replaces_what_was_answered_and_keeps_the_rest() {
        let old = crate::PriceTable::parse(
            "t.csv",
            "region,service,dimension,unit,usd,effective\nus-east-1,kms,key,month,1,2025-01-01\nus-east-1,ec2,nat-gateway,hour,0.045,2025-01-01\nus-east-1,s3,inter-region-transfer,GB,0.02,2025-01-01\n",
            Day { year: 2026, month: 1, day: 1 },
        )
        .expect("valid");
        let day = Day { year: 2025, month: 6, day: 1 };
        let price = |usd| Ok(Price { unit: "hour".into(), usd, effective: day });
        let answers = vec![
            (key("us-east-1", "ec2", "nat-gateway"), price(0.05)),
            (key("us-east-1", "kms", "key"), Err("no on-demand product of awskms matches".into())),
            (key("eu-west-1", "ec2", "nat-gateway"), price(0.048)),
            (key("eu-west-1", "kms", "key"), Err("no on-demand product of awskms matches".into())),
        ];
        let r = merge(&old, answers).expect("valid");
        assert_eq!(r.changed, [(key("us-east-1", "ec2", "nat-gateway"), 0.045, 0.05)]);
        assert_eq!((r.confirmed, r.added), (0, 1));
        let kept: Vec<&str> = r.kept.iter().map(|(k, _)| k.service.as_str()).collect();
        assert_eq!(kept, ["kms", "s3"], "unanswered rows keep their price");
        assert_eq!(r.missing.len(), 1);
        assert_eq!(r.table.price("us-east-1", "kms", "key").expect("kept").usd, 1.0);
        assert_eq!(r.table.price("eu-west-1", "ec2", "nat-gateway").expect("added").effective, day);
        assert_eq!(r.table.rows().count(), 4);
    }

    fn product(usagetype: &str, usd: &str) -> String {
        serde_json::json!({
            "product": { "productFamily": "NAT Gateway", "attributes": { "usagetype": usagetype, "regionCode": "eu-west-1" } },
            "terms": { "OnDemand": { "SKU.JRTCKXETXF": {
                "effectiveDate": "2025-05-01T00:00:00Z",
                "priceDimensions": { "SKU.JRTCKXETXF.6YS6EN2CT7": {
                    "unit": "Hrs", "beginRange": "0", "endRange": "Inf", "pricePerUnit": { "USD": usd }
                } }
            } } }
        })
        .to_string()
    }

    fn key(region: &str, service: &str, dimension: &str) -> PriceKey {
        PriceKey { region: region.into(), service: service.into(), dimension: dimension.into() }
    }

    #[test]
    fn the_product_with_the_region_s_own_usage_type_is_the_price() {
        let q = query(&key("eu-west-1", "ec2", "nat-gateway")).expect("a query");
        let docs = [product("EU-NatGateway-Hours", "0.0480000000"), product("EU-NatGateway-Bytes", "0.048")];
        let price = price_of(&q, "hour", &docs).expect("one product");
        assert_eq!((price.usd, price.unit.as_str(), price.effective.to_string()), (0.048, "hour", "2025-05-01".into()));

        // Another prefix is another product: infrequent-access storage is not storage.
        let q = query(&key("us-east-1", "dynamodb", "storage")).expect("a query");
        let docs = [product("TimedStorage-ByteHrs", "0.25"), product("IA-TimedStorage-ByteHrs", "0.10")];
        assert_eq!(price_of(&q, "GB-month", &docs).expect("one").usd, 0.25);
    }

    #[test]
    fn a_price_per_request_becomes_a_price_per_million() {
        let q = query(&key("us-east-1", "dynamodb", "write-request")).expect("a query");
        let price = price_of(&q, "million requests", &[product("WriteRequestUnits", "0.000000625")]).expect("one");
        assert!((price.usd - 0.625).abs() < 1e-9, "{}", price.usd);
    }

    #[test]
    fn no_product_or_several_prices_is_said_not_guessed() {
        let q = query(&key("us-east-1", "ec2", "nat-gateway")).expect("a query");
        assert!(price_of(&q, "hour", &[]).expect_err("none").contains("no on-demand product"));
        let two = [product("NatGateway-Hours", "0.045"), product("USE1-NatGateway-Hours", "0.05")];
        assert!(price_of(&q, "hour", &two).expect_err("two").contains("2 products"));
        let same = [product("NatGateway-Hours", "0.045"), product("USE1-NatGateway-Hours", "0.045")];
        assert_eq!(price_of(&q, "hour", &same).expect("the same price twice is one").usd, 0.045);
    }

    #[test]
    fn every_shipped_row_has_a_query_but_those_the_price_list_cannot_answer() {
        let table = crate::PriceTable::shipped().expect("valid");
        let unanswered: std::collections::BTreeSet<String> = table
            .rows()
            .filter(|(k, _)| query(k).is_none())
            .map(|(k, _)| format!("{} {}", k.service, k.dimension))
            .collect();
        assert_eq!(
            unanswered.into_iter().collect::<Vec<_>>(),
            ["s3 inter-region-transfer", "servicediscovery registered-instance"]
        );
        let regions = wanted(&table, &["us-east-1", "ap-south-1"]);
        assert_eq!(
            regions.iter().filter(|k| k.region == "us-east-1").count(),
            table.rows().filter(|(k, _)| k.region == "us-east-1").count()
        );
        assert_eq!(
            regions.iter().filter(|k| k.region == "ap-south-1").count(),
            table.rows().filter(|(k, _)| k.region == "eu-west-1").count()
        );
    }
}
