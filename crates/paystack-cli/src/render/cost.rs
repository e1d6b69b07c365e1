//! The cost estimate, the monthly difference of a plan, and the cost side of `parity`.

use std::collections::BTreeMap;

use owo_colors::Style;
use paystack_cost::{Charge, Delta, Estimate, Line, Status};
use serde_json::{Value, json};

use super::plan::paint;

/// `$1,234.56`, with a sign when `signed`.
pub(crate) fn usd(amount: f64, signed: bool) -> String {
    let cents = (amount.abs() * 100.0).round() as u64;
    let dollars = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in dollars.chars().enumerate() {
        if i > 0 && (dollars.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = match (signed, amount < 0.0 && cents > 0) {
        (_, true) => "-",
        (true, false) => "+",
        (false, false) => "",
    };
    format!("{sign}${grouped}.{:02}", cents % 100)
}

/// Where the prices came from and when, and that this is an estimate.
fn provenance(e: &Estimate) -> String {
    let (oldest, newest) = e.effective;
    let dated = if oldest == newest { format!("of {newest}") } else { format!("of {oldest} to {newest}") };
    format!("An estimate at on-demand list prices {dated} ({}), at the usage [cost] assumes: not a bill.", e.prices)
}

/// A charge as a person checks it: `nat-gateway-data: 50 GB × $0.045 = $2.25
/// [cost.nat_gb_per_gateway = 50]`, with the region where it is not the stack's own.
fn charge_text(c: &Charge, home: &str) -> String {
    let quantity = if c.quantity.fract() == 0.0 { format!("{}", c.quantity) } else { format!("{:.2}", c.quantity) };
    let region = if c.region == home { String::new() } else { format!(" in {}", c.region) };
    let assumed = c.assumption.as_ref().map(|(k, v)| format!("  [cost.{k} = {v}]")).unwrap_or_default();
    format!("{}{region}: {quantity} {} × ${} = {}{assumed}", c.dimension, c.unit, c.usd, usd(c.monthly(), false))
}

pub(crate) fn estimate_text(e: &Estimate, stack: &str, home: &str) -> String {
    let (low, high) = e.range();
    let mut out =
        format!("Estimated monthly cost of `{stack}`: {} a month", paint(&usd(e.total(), false), Style::new().bold()));
    if (high - low).abs() >= 0.005 {
        out.push_str(&format!(" ({} to {} as it scales)", usd(low, false), usd(high, false)));
    }
    out.push_str(&format!(".\n{}\n", paint(&provenance(e), Style::new().dimmed())));
    let width = e.lines.iter().map(|l| l.resource.as_str().len()).max().unwrap_or(0);
    for (layer, total) in e.layers() {
        let mut priced: Vec<&Line> =
            e.lines.iter().filter(|l| l.layer == layer && l.status == Status::Priced).collect();
        if priced.is_empty() {
            continue;
        }
        priced.sort_by(|a, b| b.monthly().total_cmp(&a.monthly()));
        out.push_str(&format!(
            "\n{:<w$}  {:>11}\n",
            paint(layer, Style::new().bold()),
            usd(total, false),
            w = width + 36
        ));
        for line in priced {
            let scales = (line.high - line.low).abs() >= 0.005;
            let range = if scales {
                format!("  ({} to {})", usd(line.low, false), usd(line.high, false))
            } else {
                String::new()
            };
            out.push_str(&format!(
                "  {:<width$}  {:<34}  {:>11}{range}\n",
                line.resource.as_str(),
                line.item,
                usd(line.monthly(), false)
            ));
            for charge in &line.charges {
                out.push_str(&format!(
                    "  {:<width$}    {}\n",
                    "",
                    paint(&charge_text(charge, home), Style::new().dimmed())
                ));
            }
        }
    }
    let unmodelled: Vec<&Line> = e.lines.iter().filter(|l| matches!(l.status, Status::NotEstimated(_))).collect();
    if !unmodelled.is_empty() {
        out.push_str("\nCharged by use the estimate does not model:\n");
        for line in unmodelled {
            if let Status::NotEstimated(why) = &line.status {
                out.push_str(&format!("  {:<width$}  {why}\n", line.resource.as_str()));
            }
        }
    }
    let mut free: BTreeMap<&str, usize> = BTreeMap::new();
    for line in e.lines.iter().filter(|l| matches!(l.status, Status::Free(_))) {
        *free.entry(line.kind.as_str()).or_default() += 1;
    }
    if !free.is_empty() {
        out.push_str(&format!("\nFree ({} resources):\n ", free.values().sum::<usize>()));
        let mut column = 1;
        for (i, (kind, n)) in free.iter().enumerate() {
            let item = format!(" {kind} ×{n}{}", if i + 1 < free.len() { "," } else { "\n" });
            if column + item.len() > 100 {
                out.push_str("\n ");
                column = 1;
            }
            column += item.len();
            out.push_str(&item);
        }
    }
    out
}

pub(crate) fn estimate_json(e: &Estimate, stack: &str) -> Value {
    let (low, high) = e.range();
    let layers: serde_json::Map<String, Value> =
        e.layers().into_iter().map(|(l, t)| (l.to_owned(), json!(t))).collect();
    let assumptions: serde_json::Map<String, Value> =
        paystack_config::Assumption::ALL.iter().map(|a| (a.key().to_owned(), json!(e.assumptions.get(*a)))).collect();
    json!({
        "environment": e.environment,
        "stack": stack,
        "estimate": true,
        "currency": "USD",
        "monthly": e.total(),
        "low": low,
        "high": high,
        "layers": layers,
        "prices": e.prices,
        "prices_effective": { "from": e.effective.0, "to": e.effective.1 },
        "assumptions": assumptions,
        "lines": e.lines.iter().map(|l| {
            let mut v = json!(l);
            v["monthly"] = json!(l.monthly());
            v
        }).collect::<Vec<_>>(),
    })
}

/// The monthly difference at the foot of a plan.
pub(crate) fn delta_text(d: &Delta) -> String {
    if d.is_zero() {
        return "Monthly cost (estimate): no change.\n".to_owned();
    }
    let mut out = format!("Monthly cost (estimate, {}): {} a month\n", d.prices, usd(d.monthly, true));
    for item in &d.items {
        let many = match item.resources.len() {
            1 => String::new(),
            n => format!(" ×{n}"),
        };
        out.push_str(&format!("  {:>11}  {}{many}\n", usd(item.monthly, true), item.item));
    }
    out
}

pub(crate) fn delta_json(d: &Delta) -> Value {
    json!({ "estimate": true, "currency": "USD", "monthly_delta": d.monthly, "items": d.items, "prices": d.prices })
}

/// Each environment's total, and the difference by what drives it.
pub(crate) fn parity_cost_text(a: (&str, &Estimate), b: (&str, &Estimate)) -> String {
    let mut out = format!(
        "Monthly cost (estimate): `{}` {}, `{}` {}, a difference of {}.\n",
        a.0,
        usd(a.1.total(), false),
        b.0,
        usd(b.1.total(), false),
        usd(b.1.total() - a.1.total(), true)
    );
    for (knob, (x, y)) in knob_differences(a.1, b.1) {
        out.push_str(&format!("  {:>11}  {knob}  ({} → {})\n", usd(y - x, true), usd(x, false), usd(y, false)));
    }
    out
}

pub(crate) fn parity_cost_json(a: &Estimate, b: &Estimate) -> Value {
    let knobs: Vec<Value> = knob_differences(a, b)
        .into_iter()
        .map(|(knob, (x, y))| json!({ "knob": knob, "a": x, "b": y, "difference": y - x }))
        .collect();
    json!({ "estimate": true, "currency": "USD", "a": a.total(), "b": b.total(), "difference": b.total() - a.total(), "by_knob": knobs })
}

/// The knobs whose lines cost differently in `b` than in `a`, largest difference first.
fn knob_differences(a: &Estimate, b: &Estimate) -> Vec<(String, (f64, f64))> {
    let (ka, kb) = (a.by_knobs(), b.by_knobs());
    let mut knobs: Vec<(String, (f64, f64))> = ka
        .keys()
        .chain(kb.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|k| (k.clone(), (ka.get(k).copied().unwrap_or(0.0), kb.get(k).copied().unwrap_or(0.0))))
        .filter(|(_, (x, y))| (y - x).abs() >= 0.005)
        .collect();
    knobs.sort_by(|(_, (x1, y1)), (_, (x2, y2))| (y2 - x2).abs().total_cmp(&(y1 - x1).abs()));
    knobs
}

#[cfg(test)]
mod tests {
    use super::usd;

    #[test]
    fn dollars_are_grouped_and_signed() {
        assert_eq!(usd(1234.567, false), "$1,234.57");
        assert_eq!(usd(0.0, true), "+$0.00");
        assert_eq!(usd(-412.0, true), "-$412.00");
        assert_eq!(usd(1_000_000.0, false), "$1,000,000.00");
        assert_eq!(usd(-0.001, true), "+$0.00");
    }
}
