//! Expected operation durations, from the table every kind refers to by key.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use paystack_core::spec::ExpectedDurations;

type Table = BTreeMap<String, BTreeMap<String, f64>>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    // The table is compiled in and checked by a test; a parse failure is a build defect.
    TABLE.get_or_init(|| toml::from_str(include_str!("../aws-latency.toml")).unwrap_or_default())
}

/// Whether the table has a row for `key`; every kind's key must (a test checks them all).
#[cfg(test)]
pub(crate) fn has_row(key: &str) -> bool {
    table().contains_key(key)
}

/// Durations for `key`; one second for an operation its row does not list (most rows give
/// no `update`).
pub fn expected(key: &str) -> ExpectedDurations {
    let row = table().get(key);
    let get = |op: &str| Duration::from_secs_f64(row.and_then(|r| r.get(op)).copied().unwrap_or(1.0));
    ExpectedDurations { create: get("create"), update: get("update"), delete: get("delete") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_table_parses() {
        assert!(table().len() > 20);
        assert_eq!(expected("nat_gateway").create, Duration::from_secs(120));
        assert_eq!(expected("not-listed").delete, Duration::from_secs(1));
    }
}
