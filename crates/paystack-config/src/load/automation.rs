//! What the platform runs on its own: the compliance function (`[compliance]`) and drift on
//! a schedule (`[drift.schedule]`). Both are on by default in a protected environment.

use serde::Deserialize;
use toml::Spanned;

use super::Checker;
use crate::model::{Compliance, DriftSchedule};

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCompliance {
    function: Option<Spanned<bool>>,
    memory_mb: Option<Spanned<i64>>,
    timeout_seconds: Option<Spanned<i64>>,
}

#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    enabled: Option<Spanned<bool>>,
    expression: Option<Spanned<String>>,
    image: Option<Spanned<String>>,
    fix: Option<Spanned<bool>>,
    cpu: Option<Spanned<i64>>,
    memory: Option<Spanned<i64>>,
}

const DEFAULT_EXPRESSION: &str = "rate(15 minutes)";

/// `[compliance]`: the environment's file, else `shared.toml`, else on when `protected`.
pub(super) fn compliance(
    c: &mut Checker<'_>,
    env: RawCompliance,
    shared: RawCompliance,
    protected: bool,
) -> Option<Compliance> {
    let function = c.pick_optional(env.function, shared.function).map_or(protected, |f| f.value);
    let memory = c.pick_optional(env.memory_mb, shared.memory_mb);
    let memory_mb = match memory {
        None => 256,
        Some(m) if (128..=10_240).contains(&m.value) => u32::try_from(m.value).ok()?,
        Some(m) => {
            c.fail(&m.at, format!("`compliance.memory_mb` is {}", m.value), "Lambda takes 128 to 10240 MB");
            return None;
        }
    };
    let timeout = c.pick_optional(env.timeout_seconds, shared.timeout_seconds);
    let timeout_seconds = match timeout {
        None => 60,
        Some(t) if (1..=900).contains(&t.value) => u32::try_from(t.value).ok()?,
        Some(t) => {
            c.fail(&t.at, format!("`compliance.timeout_seconds` is {}", t.value), "Lambda takes 1 to 900 seconds");
            return None;
        }
    };
    Some(Compliance { function, memory_mb, timeout_seconds })
}

/// `[drift.schedule]`: `None` when it is off. A schedule that is on needs the image; `fix`
/// is refused in a protected environment, where only a person may change what drifted.
pub(super) fn schedule(
    c: &mut Checker<'_>,
    env: RawSchedule,
    shared: RawSchedule,
    protected: bool,
) -> Option<Option<DriftSchedule>> {
    let enabled = c.pick_optional(env.enabled, shared.enabled).map_or(protected, |e| e.value);
    let expression = c.pick_optional(env.expression, shared.expression);
    let image = c.pick_optional(env.image, shared.image);
    let fix = c.pick_optional(env.fix, shared.fix);
    let cpu = c.pick_optional(env.cpu, shared.cpu);
    let memory = c.pick_optional(env.memory, shared.memory);
    if !enabled {
        return Some(None);
    }
    let mut ok = true;
    let expression = match expression {
        None => DEFAULT_EXPRESSION.to_owned(),
        Some(e) => {
            if let Err(why) = schedule_expression(&e.value) {
                c.fail(&e.at, format!("`drift.schedule.expression`: `{}` {why}", e.value), EXPRESSION_HELP);
                ok = false;
            }
            e.value
        }
    };
    let image = match image {
        None => {
            c.fail(
                &c.env_file.at(0..0),
                "`drift.schedule` is on but names no `image`",
                "set `image` under [drift.schedule] to the paystack image built from the Dockerfile, \
                 e.g. \"123456789012.dkr.ecr.us-east-1.amazonaws.com/paystack:1.4.0\", or set `enabled = false`",
            );
            return None;
        }
        Some(i) if !is_image_reference(&i.value) => {
            c.fail(
                &i.at,
                format!("`drift.schedule.image`: `{}` is not an image reference", i.value),
                "write REGISTRY/REPOSITORY:TAG or REPOSITORY@sha256:DIGEST, in lowercase, \
                 e.g. \"123456789012.dkr.ecr.us-east-1.amazonaws.com/paystack:1.4.0\"",
            );
            return None;
        }
        Some(i) => i.value,
    };
    let fix = match fix {
        Some(f) if f.value && protected => {
            c.fail(
                &f.at,
                "`drift.schedule.fix` is on in a protected environment",
                "a scheduled run only reports drift here; fix it with `paystack drift --fix` run by a person",
            );
            return None;
        }
        f => f.is_some_and(|f| f.value),
    };
    // Fargate's pairs: 256 CPU units take 512 to 2048 MB, and so on.
    let cpu = cpu.map_or(Some(256), |l| u32::try_from(l.value).ok());
    let memory = memory.map_or(Some(512), |l| u32::try_from(l.value).ok());
    let (Some(cpu), Some(memory)) = (cpu, memory) else {
        c.fail(
            &c.env_file.at(0..0),
            "`drift.schedule` cpu or memory is negative",
            "use Fargate's sizes, e.g. cpu = 256, memory = 512",
        );
        return None;
    };
    ok.then_some(Some(DriftSchedule { expression, image, fix, cpu, memory }))
}

const EXPRESSION_HELP: &str = "write `rate(15 minutes)` (minute, minutes, hour, hours, day or days) or \
    `cron(0/15 * * * ? *)` (six fields: minutes hours day-of-month month day-of-week year, with `?` in \
    one of the two day fields)";

/// EventBridge Scheduler's recurring expressions: `rate(N unit)` or a six-field `cron(…)`.
/// A one-time `at(…)` is refused: drift is checked again and again.
fn schedule_expression(expression: &str) -> Result<(), String> {
    if let Some(rate) = expression.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
        let (value, unit) = rate.split_once(' ').ok_or("needs a number and a unit")?;
        let value: u32 = value.parse().map_err(|_| format!("has `{value}` where a whole number belongs"))?;
        let units: &[&str] = if value == 1 { &["minute", "hour", "day"] } else { &["minutes", "hours", "days"] };
        if value == 0 {
            return Err("runs every 0: the rate must be 1 or more".into());
        }
        if !units.contains(&unit) {
            return Err(format!("has the unit `{unit}`, where {} belongs", units.join(", ")));
        }
        return Ok(());
    }
    if let Some(cron) = expression.strip_prefix("cron(").and_then(|c| c.strip_suffix(')')) {
        let fields: Vec<&str> = cron.split(' ').collect();
        if fields.len() != 6 {
            return Err(format!("has {} fields; cron takes six", fields.len()));
        }
        let allowed = |f: &str| f.bytes().all(|b| b.is_ascii_alphanumeric() || b",-*/?LW#".contains(&b));
        if let Some(bad) = fields.iter().find(|f| f.is_empty() || !allowed(f)) {
            return Err(format!("has the field `{bad}`, with characters cron does not take"));
        }
        if (fields[2] == "?") == (fields[4] == "?") {
            return Err("needs `?` in exactly one of day-of-month and day-of-week".into());
        }
        return Ok(());
    }
    if expression.starts_with("at(") {
        return Err("runs once; drift needs a recurring `rate(…)` or `cron(…)`".into());
    }
    Err("is neither `rate(…)` nor `cron(…)`".into())
}

/// A container image reference as registries take it: an optional registry host (with a
/// port), lowercase path components, then a tag, a digest, or both.
fn is_image_reference(reference: &str) -> bool {
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    if let Some(digest) = digest {
        let hex = digest.strip_prefix("sha256:");
        if !hex.is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))) {
            return false;
        }
    }
    // A tag follows the last `:` that comes after the last `/` (a registry's port does not).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if tag.is_none() && digest.is_none() {
        return false; // `latest` by default: a scheduled job runs what was chosen, not what was pushed last
    }
    if let Some(tag) = tag {
        let first = tag.bytes().next();
        if tag.len() > 128
            || !first.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        {
            return false;
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost") {
        let host = parts.remove(0);
        let (host, port) = host.split_once(':').map_or((host, None), |(h, p)| (h, Some(p)));
        if host.is_empty()
            || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b))
            || port.is_some_and(|p| p.parse::<u16>().is_err())
        {
            return false;
        }
    }
    let component = |c: &str| {
        !c.is_empty()
            && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
    };
    !parts.is_empty() && parts.iter().all(|p| component(p))
}

#[cfg(test)]
mod tests {
    use super::{is_image_reference, schedule_expression};

    #[test]
    fn recurring_expressions_in_scheduler_s_grammar() {
        for good in
            ["rate(15 minutes)", "rate(1 hour)", "rate(2 days)", "cron(0/15 * * * ? *)", "cron(0 8 ? * MON-FRI *)"]
        {
            assert_eq!(schedule_expression(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("rate(15 minute)", "unit"),
            ("rate(1 minutes)", "unit"),
            ("rate(0 minutes)", "1 or more"),
            ("rate(x minutes)", "whole number"),
            ("cron(0 8 * * *)", "six"),
            ("cron(0 8 * * * *)", "exactly one"),
            ("at(2026-12-01T00:00:00)", "runs once"),
            ("every 15 minutes", "neither"),
        ] {
            let got = schedule_expression(bad).unwrap_err();
            assert!(got.contains(why), "{bad}: {got}");
        }
    }

    #[test]
    fn image_references_name_a_tag_or_a_digest() {
        let digest = format!("paystack@sha256:{}", "a".repeat(64));
        for good in [
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/paystack:1.4.0",
            "ghcr.io/acme/paystack:v1",
            "localhost:5000/paystack:dev",
            "paystack:1",
            digest.as_str(),
        ] {
            assert!(is_image_reference(good), "{good}");
        }
        for bad in [
            "paystack",
            "Paystack:1",
            "ghcr.io/acme/paystack:",
            "ghcr.io/acme//paystack:1",
            "paystack:1 ",
            "paystack@sha256:abc",
            "registry:port/paystack:1",
        ] {
            assert!(!is_image_reference(bad), "{bad}");
        }
    }
}
