//! The price table: `prices/aws.csv`, one on-demand list price per region, service and
//! price dimension, with its unit and the date AWS published it. A table is validated whole
//! before any of it is used: every row's unit is the one its dimension is priced in, no row
//! repeats another, and every date is a real day that has come.

use std::collections::BTreeMap;
use std::fmt;

/// The table as the repository ships it, built into paystack.
pub const SHIPPED: &str = include_str!("../../../prices/aws.csv");
/// Where the shipped table lives in the repository, which `--refresh-prices` rewrites.
pub const SHIPPED_PATH: &str = "prices/aws.csv";

const HEADER: &str = "region,service,dimension,unit,usd,effective";

/// The dimensions the estimate prices, with the unit each is priced in. An Aurora instance
/// class is `aurora-postgresql:CLASS`, per hour.
pub const DIMENSIONS: &[(&str, &str, &str)] = &[
    ("rds", "aurora-serverless-v2", "ACU-hour"),
    ("rds", "aurora-storage", "GB-month"),
    ("rds", "aurora-io", "million requests"),
    ("ec2", "nat-gateway", "hour"),
    ("ec2", "nat-gateway-data", "GB"),
    ("ec2", "public-ipv4", "hour"),
    ("ec2", "transit-gateway-attachment", "hour"),
    ("ec2", "transit-gateway-data", "GB"),
    ("elasticloadbalancing", "alb", "hour"),
    ("elasticloadbalancing", "alb-lcu", "LCU-hour"),
    ("ecs", "fargate-vcpu", "vCPU-hour"),
    ("ecs", "fargate-memory", "GB-hour"),
    ("logs", "ingestion", "GB"),
    ("logs", "storage", "GB-month"),
    ("cloudwatch", "alarm", "month"),
    ("secretsmanager", "secret", "month"),
    ("kms", "key", "month"),
    ("dynamodb", "write-request", "million requests"),
    ("dynamodb", "read-request", "million requests"),
    ("dynamodb", "replicated-write-request", "million requests"),
    ("dynamodb", "storage", "GB-month"),
    ("dynamodb", "provisioned-write", "WCU-hour"),
    ("dynamodb", "provisioned-read", "RCU-hour"),
    ("s3", "standard-storage", "GB-month"),
    ("s3", "inter-region-transfer", "GB"),
    ("wafv2", "web-acl", "month"),
    ("wafv2", "rule", "month"),
    ("wafv2", "request", "million requests"),
    ("route53", "hosted-zone", "month"),
    ("servicediscovery", "registered-instance", "month"),
];

/// The dimension of an Aurora PostgreSQL instance of `class`, priced per hour.
pub fn instance_dimension(class: &str) -> String {
    format!("{INSTANCE_PREFIX}{class}")
}

const INSTANCE_PREFIX: &str = "aurora-postgresql:";

/// The unit `dimension` of `service` is priced in, if the estimate knows the dimension.
pub fn unit_of(service: &str, dimension: &str) -> Option<&'static str> {
    if service == "rds"
        && let Some(class) = dimension.strip_prefix(INSTANCE_PREFIX)
    {
        let size = class.strip_prefix("db.").and_then(|rest| rest.split_once('.'));
        return size.is_some_and(|(family, size)| !family.is_empty() && !size.is_empty()).then_some("hour");
    }
    DIMENSIONS.iter().find(|(s, d, _)| *s == service && *d == dimension).map(|(_, _, unit)| *unit)
}

/// A calendar day, as the table writes it: `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Day {
    pub fn parse(text: &str) -> Option<Day> {
        let mut parts = text.split('-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let day = Day { year: y.parse().ok()?, month: m.parse().ok()?, day: d.parse().ok()? };
        let leap = day.year.is_multiple_of(4) && (!day.year.is_multiple_of(100) || day.year.is_multiple_of(400));
        let days_in_month = match day.month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (1..=days_in_month).contains(&day.day).then_some(day)
    }

    /// The day `seconds` after the Unix epoch, in UTC (the civil-from-days algorithm).
    pub fn from_unix(seconds: u64) -> Day {
        let days = (seconds / 86_400) as i64 + 719_468;
        let era = days.div_euclid(146_097);
        let of_era = days.rem_euclid(146_097);
        let year_of_era = (of_era - of_era / 1460 + of_era / 36_524 - of_era / 146_096) / 365;
        let of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * of_year + 2) / 153;
        let day = of_year - (153 * shifted_month + 2) / 5 + 1;
        let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        Day { year: year as u16, month: month as u8, day: day as u8 }
    }

    /// Today, by this machine's clock.
    pub fn today() -> Day {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Day::from_unix(now.as_secs())
    }
}

impl serde::Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// One price: USD per `unit`, as published on `effective`.
#[derive(Clone, Debug, PartialEq)]
pub struct Price {
    pub unit: String,
    pub usd: f64,
    pub effective: Day,
}

/// Where a price is: region, service and dimension.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PriceKey {
    pub region: String,
    pub service: String,
    pub dimension: String,
}

/// A validated price table.
#[derive(Clone, Debug, PartialEq)]
pub struct PriceTable {
    /// Where it was read from, for messages: a path, or the shipped table's.
    pub source: String,
    rows: BTreeMap<PriceKey, Price>,
}

/// A row the table cannot take, by its line (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub line: usize,
    pub message: String,
}

/// Everything wrong with a price table, each at its line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{table}: {}", .errors.iter().map(|e| format!("line {}: {}", e.line, e.message)).collect::<Vec<_>>().join("; "))]
pub struct PriceErrors {
    /// The table, by where it was read from.
    pub table: String,
    pub errors: Vec<RowError>,
}

impl PriceTable {
    /// The table shipped in the repository, as built into paystack.
    pub fn shipped() -> Result<PriceTable, PriceErrors> {
        PriceTable::parse(SHIPPED_PATH, SHIPPED, Day::today())
    }

    /// Parses and validates `text`, read from `source`. Lines that are empty or start with
    /// `#` are comments; the first other line is the header. No date may be after `today`.
    pub fn parse(source: &str, text: &str, today: Day) -> Result<PriceTable, PriceErrors> {
        let mut errors = Vec::new();
        let mut rows: BTreeMap<PriceKey, (usize, Price)> = BTreeMap::new();
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        match lines.next() {
            Some((_, header)) if header == HEADER => {}
            Some((line, _)) => {
                errors.push(RowError {
                    line,
                    message: format!("the first line that is not a comment must be `{HEADER}`"),
                });
            }
            None => {
                errors.push(RowError { line: 1, message: format!("the table is empty: it needs `{HEADER}` and rows") })
            }
        }
        for (line, text) in lines {
            match row(text, today) {
                Ok((key, price)) => {
                    if let Some((first, _)) = rows.get(&key) {
                        errors.push(RowError {
                            line,
                            message: format!(
                                "{} {} in {} is priced twice (first on line {first})",
                                key.service, key.dimension, key.region
                            ),
                        });
                    } else {
                        rows.insert(key, (line, price));
                    }
                }
                Err(message) => errors.push(RowError { line, message }),
            }
        }
        if errors.is_empty() {
            Ok(PriceTable { source: source.to_owned(), rows: rows.into_iter().map(|(k, (_, p))| (k, p)).collect() })
        } else {
            Err(PriceErrors { table: source.to_owned(), errors })
        }
    }

    pub fn price(&self, region: &str, service: &str, dimension: &str) -> Option<&Price> {
        let key = PriceKey { region: region.to_owned(), service: service.to_owned(), dimension: dimension.to_owned() };
        self.rows.get(&key)
    }

    pub fn rows(&self) -> impl Iterator<Item = (&PriceKey, &Price)> {
        self.rows.iter()
    }

    /// The regions the table prices.
    pub fn regions(&self) -> std::collections::BTreeSet<&str> {
        self.rows.keys().map(|k| k.region.as_str()).collect()
    }

    /// The oldest and newest dates of its prices.
    pub fn effective(&self) -> Option<(Day, Day)> {
        let dates = self.rows.values().map(|p| p.effective);
        Some((dates.clone().min()?, dates.max()?))
    }

    /// A table of `rows`, as a refresh builds it; validated as if read from a file.
    pub fn from_rows(
        source: &str,
        rows: impl IntoIterator<Item = (PriceKey, Price)>,
    ) -> Result<PriceTable, PriceErrors> {
        let table = PriceTable { source: source.to_owned(), rows: rows.into_iter().collect() };
        PriceTable::parse(source, &table.to_csv(), Day::today())
    }

    /// The table as the file writes it, with its comment header.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "# On-demand list prices in USD, per region, as AWS published them on the effective date.\n\
             # paystack's cost estimate reads this file (see docs/cost.md); `paystack cost --refresh-prices`\n\
             # rewrites it from the AWS Price List API. One row per region, service and price dimension.\n",
        );
        out.push_str(HEADER);
        out.push('\n');
        for (k, p) in &self.rows {
            out.push_str(&format!("{},{},{},{},{},{}\n", k.region, k.service, k.dimension, p.unit, p.usd, p.effective));
        }
        out
    }
}

/// One row, checked field by field.
fn row(text: &str, today: Day) -> Result<(PriceKey, Price), String> {
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    let [region, service, dimension, unit, usd, effective] = fields[..] else {
        return Err(format!("expected 6 comma-separated fields ({HEADER}), found {}", fields.len()));
    };
    let is_region = region.split('-').count() >= 3
        && region.ends_with(|c: char| c.is_ascii_digit())
        && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !is_region {
        return Err(format!("`{region}` is not an AWS region code such as us-east-1"));
    }
    let Some(expected) = unit_of(service, dimension) else {
        return Err(format!(
            "`{service}` `{dimension}` is not a price dimension the estimate uses; the dimensions are listed in docs/cost.md"
        ));
    };
    if unit != expected {
        return Err(format!("{service} {dimension} is priced per `{expected}`, not per `{unit}`"));
    }
    let usd: f64 = match usd.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => v,
        _ => return Err(format!("`{usd}` is not a price in USD (a number, 0 or more)")),
    };
    let Some(effective) = Day::parse(effective) else {
        return Err(format!("`{effective}` is not a date (YYYY-MM-DD)"));
    };
    if effective > today {
        return Err(format!("the effective date {effective} has not come yet (today is {today})"));
    }
    let key = PriceKey { region: region.to_owned(), service: service.to_owned(), dimension: dimension.to_owned() };
    Ok((key, Price { unit: unit.to_owned(), usd, effective }))
}
