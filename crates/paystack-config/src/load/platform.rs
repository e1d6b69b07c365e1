//! The platform's sections: `[database]` and `[alerts]`. AWS validates little of this before
//! it has spent minutes creating something (and the emulator validates none of it), so every
//! value AWS would refuse is refused here, at its place in the file.

use serde::Deserialize;
use toml::Spanned;

use super::{Checker, Located};
use crate::model::{Alerts, Database, DbCapacity, Rotation};

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatabase {
    engine_version: Option<Spanned<String>>,
    instance_class: Option<Spanned<String>>,
    serverless_min_acu: Option<Spanned<f64>>,
    serverless_max_acu: Option<Spanned<f64>>,
    readers: Option<Spanned<i64>>,
    backup_retention_days: Option<Spanned<i64>>,
    backup_window: Option<Spanned<String>>,
    master_username: Option<Spanned<String>>,
    database_name: Option<Spanned<String>>,
    final_snapshot: Option<Spanned<bool>>,
    performance_insights: Option<Spanned<bool>>,
    rotation: Option<Spanned<bool>>,
    rotation_days: Option<Spanned<i64>>,
    rotation_lambda_arn: Option<Spanned<String>>,
}

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    emails: Option<Spanned<Vec<String>>>,
}

/// Aurora PostgreSQL versions AWS offers, by major version. The cluster parameter group's
/// family follows the major version.
const ENGINE_VERSIONS: &[(u8, &[&str])] = &[
    (13, &["13.12", "13.13", "13.14", "13.15", "13.16", "13.18", "13.20"]),
    (14, &["14.9", "14.10", "14.11", "14.12", "14.13", "14.15", "14.17"]),
    (15, &["15.4", "15.5", "15.6", "15.7", "15.8", "15.10", "15.12"]),
    (16, &["16.1", "16.2", "16.3", "16.4", "16.6", "16.8"]),
    (17, &["17.4", "17.5"]),
];

/// Instance classes Aurora PostgreSQL runs on, by family and the sizes each family offers.
const INSTANCE_CLASSES: &[(&str, &[&str])] = &[
    ("t3", &["medium", "large"]),
    ("t4g", &["medium", "large"]),
    ("r5", &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge"]),
    ("r6g", &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"]),
    ("r6i", &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"]),
    ("r7g", &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"]),
];

pub(crate) const SERVERLESS_CLASS: &str = "db.serverless";

/// Names PostgreSQL or RDS reserve for themselves.
const RESERVED_USERS: &[&str] = &["postgres", "rdsadmin", "rds_superuser", "admin", "public"];

fn is_pg_identifier(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `HH:MM-HH:MM` in UTC, at least 30 minutes long.
fn window_minutes(s: &str) -> Option<u32> {
    let minutes = |t: &str| -> Option<u32> {
        let (h, m) = t.split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60 && t.len() == 5).then_some(h * 60 + m)
    };
    let (start, end) = s.split_once('-')?;
    let (start, end) = (minutes(start)?, minutes(end)?);
    Some((end + 24 * 60 - start) % (24 * 60))
}

fn is_lambda_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 7
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "lambda"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5] == "function"
        && !parts[6].is_empty()
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c == ',' || c == ';')
}

pub(super) fn database(c: &mut Checker<'_>, env: RawDatabase, shared: RawDatabase) -> Option<Database> {
    let version = c.pick("database.engine_version", env.engine_version, shared.engine_version);
    let class = c.pick("database.instance_class", env.instance_class, shared.instance_class);
    let min_acu = c.pick_optional(env.serverless_min_acu, shared.serverless_min_acu);
    let max_acu = c.pick_optional(env.serverless_max_acu, shared.serverless_max_acu);
    let readers = c.pick_optional(env.readers, shared.readers);
    let retention = c.pick("database.backup_retention_days", env.backup_retention_days, shared.backup_retention_days);
    let window = c.pick("database.backup_window", env.backup_window, shared.backup_window);
    let username = c.pick("database.master_username", env.master_username, shared.master_username);
    let db_name = c.pick("database.database_name", env.database_name, shared.database_name);
    let final_snapshot = c.pick_optional(env.final_snapshot, shared.final_snapshot);
    let performance_insights = c.pick_optional(env.performance_insights, shared.performance_insights);
    let rotation = c.pick_optional(env.rotation, shared.rotation);
    let rotation_days = c.pick_optional(env.rotation_days, shared.rotation_days);
    let rotation_lambda = c.pick_optional(env.rotation_lambda_arn, shared.rotation_lambda_arn);

    let major = version.as_ref().and_then(|v| {
        let found = ENGINE_VERSIONS.iter().find(|(_, versions)| versions.contains(&v.value.as_str()));
        if found.is_none() {
            let known: Vec<&str> = ENGINE_VERSIONS.iter().flat_map(|(_, v)| v.iter().copied()).collect();
            c.fail(
                &v.at,
                format!("`{}` is not an Aurora PostgreSQL engine version", v.value),
                format!("use one of {}", known.join(", ")),
            );
        }
        found.map(|(major, _)| *major)
    });

    let capacity = class.as_ref().and_then(|cl| capacity(c, cl, min_acu, max_acu));

    let readers = match readers {
        None => Some(0),
        Some(r) => match usize::try_from(r.value) {
            Ok(n @ 0..=15) => Some(n),
            _ => {
                c.fail(
                    &r.at,
                    format!("`database.readers` = {} is out of range", r.value),
                    "Aurora allows 0 to 15 readers",
                );
                None
            }
        },
    };

    let retention = retention.and_then(|r| match u16::try_from(r.value) {
        Ok(d @ 1..=35) => Some(d),
        _ => {
            c.fail(
                &r.at,
                format!("`database.backup_retention_days` = {} is out of range", r.value),
                "Aurora keeps automated backups (and so point-in-time recovery) for 1 to 35 days",
            );
            None
        }
    });

    let window = window.and_then(|w| match window_minutes(&w.value) {
        Some(m) if m >= 30 => Some(w.value),
        _ => {
            c.fail(
                &w.at,
                format!("`{}` is not a backup window AWS accepts", w.value),
                "write it as HH:MM-HH:MM in UTC, at least 30 minutes long, such as \"03:00-04:00\"",
            );
            None
        }
    });

    let username = username.and_then(|u| {
        if !is_pg_identifier(&u.value) || RESERVED_USERS.contains(&u.value.to_ascii_lowercase().as_str()) {
            c.fail(
                &u.at,
                format!("`{}` cannot be the master user name", u.value),
                format!(
                    "use 1 to 63 letters, digits or underscores, starting with a letter, and none of {}",
                    RESERVED_USERS.join(", ")
                ),
            );
            return None;
        }
        Some(u.value)
    });
    let db_name = db_name.and_then(|d| {
        if !is_pg_identifier(&d.value) {
            c.fail(
                &d.at,
                format!("`{}` cannot name a database", d.value),
                "use 1 to 63 letters, digits or underscores, starting with a letter",
            );
            return None;
        }
        Some(d.value)
    });

    let rotation = self::rotation(c, rotation, rotation_days, rotation_lambda);

    Some(Database {
        engine_version: version?.value,
        family: format!("aurora-postgresql{}", major?),
        capacity: capacity?,
        readers: readers?,
        backup_retention_days: retention?,
        backup_window: window?,
        master_username: username?,
        database_name: db_name?,
        final_snapshot: final_snapshot.is_some_and(|f| f.value),
        performance_insights: performance_insights.is_some_and(|p| p.value),
        rotation: rotation?,
    })
}

fn capacity(
    c: &mut Checker<'_>,
    class: &Located<String>,
    min_acu: Option<Located<f64>>,
    max_acu: Option<Located<f64>>,
) -> Option<DbCapacity> {
    if class.value != SERVERLESS_CLASS {
        let valid =
            class.value.strip_prefix("db.").and_then(|rest| rest.split_once('.')).is_some_and(|(family, size)| {
                INSTANCE_CLASSES.iter().any(|(f, sizes)| *f == family && sizes.contains(&size))
            });
        if !valid {
            c.fail(
                &class.at,
                format!("`{}` is not an instance class Aurora PostgreSQL runs on", class.value),
                format!("use db.t3.medium, db.t4g.medium, db.r5.large, db.r6g.large and the like, or \"{SERVERLESS_CLASS}\" for Serverless v2"),
            );
            return None;
        }
        for acu in [&min_acu, &max_acu].into_iter().flatten() {
            c.fail(
                &acu.at,
                "Serverless v2 capacity is set, but the instance class is not serverless",
                format!("set `database.instance_class = \"{SERVERLESS_CLASS}\"`, or remove the serverless_*_acu keys"),
            );
        }
        return (min_acu.is_none() && max_acu.is_none())
            .then(|| DbCapacity::Provisioned { instance_class: class.value.clone() });
    }
    let (Some(min), Some(max)) = (&min_acu, &max_acu) else {
        c.fail(
            &class.at,
            "Serverless v2 needs both `database.serverless_min_acu` and `database.serverless_max_acu`",
            "set them next to the instance class, such as 0.5 and 8",
        );
        return None;
    };
    let valid_acu = |v: f64| (0.0..=256.0).contains(&v) && (v * 2.0).fract() == 0.0;
    let mut ok = true;
    for acu in [min, max] {
        if !valid_acu(acu.value) {
            c.fail(
                &acu.at,
                format!("{} is not a Serverless v2 capacity", acu.value),
                "use 0 to 256 ACUs in steps of 0.5",
            );
            ok = false;
        }
    }
    if ok && min.value > max.value {
        c.fail(
            &max.at,
            format!("`database.serverless_max_acu` = {} is below the minimum {}", max.value, min.value),
            "the maximum capacity must be at least the minimum",
        );
        ok = false;
    }
    ok.then_some(DbCapacity::ServerlessV2 { min_acu: min.value, max_acu: max.value })
}

fn rotation(
    c: &mut Checker<'_>,
    enabled: Option<Located<bool>>,
    days: Option<Located<i64>>,
    lambda: Option<Located<String>>,
) -> Option<Option<Rotation>> {
    let Some(enabled) = enabled.filter(|e| e.value) else {
        return Some(None);
    };
    let days = match &days {
        None => 30,
        Some(d) => match u16::try_from(d.value) {
            Ok(n @ 1..=1000) => n,
            _ => {
                c.fail(
                    &d.at,
                    format!("`database.rotation_days` = {} is out of range", d.value),
                    "rotate every 1 to 1000 days",
                );
                return None;
            }
        },
    };
    let Some(lambda) = lambda else {
        c.fail(
            &enabled.at,
            "rotation is on, but no rotation function is named",
            "set `database.rotation_lambda_arn` to the ARN of a Lambda that rotates Aurora PostgreSQL secrets (such as the one AWS publishes as SecretsManagerRDSPostgreSQLRotationSingleUser); paystack references it and never creates it",
        );
        return None;
    };
    if !is_lambda_arn(&lambda.value) {
        c.fail(
            &lambda.at,
            format!("`{}` is not a Lambda function ARN", lambda.value),
            "write it as arn:aws:lambda:REGION:ACCOUNT:function:NAME",
        );
        return None;
    }
    Some(Some(Rotation { lambda_arn: lambda.value, days }))
}

pub(super) fn alerts(c: &mut Checker<'_>, env: RawAlerts, shared: RawAlerts) -> Option<Alerts> {
    let Some(emails) = c.pick_optional(env.emails, shared.emails) else {
        return Some(Alerts { emails: Vec::new() });
    };
    if let Some(bad) = emails.value.iter().find(|e| !is_email(e)) {
        c.fail(&emails.at, format!("`{bad}` is not an email address"), "list addresses such as \"oncall@example.com\"");
        return None;
    }
    let mut list = emails.value;
    list.sort();
    list.dedup();
    Some(Alerts { emails: list })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_windows() {
        assert_eq!(window_minutes("03:00-04:00"), Some(60));
        assert_eq!(window_minutes("23:45-00:15"), Some(30));
        assert_eq!(window_minutes("3:00-04:00"), None);
        assert_eq!(window_minutes("03:00-24:00"), None);
    }

    #[test]
    fn lambda_arns_and_emails() {
        assert!(is_lambda_arn("arn:aws:lambda:us-east-1:123456789012:function:rotate"));
        assert!(!is_lambda_arn("arn:aws:lambda:us-east-1:123:function:rotate"));
        assert!(is_email("oncall@example.com"));
        assert!(!is_email("oncall@example"));
        assert!(!is_email("a b@example.com"));
    }
}
