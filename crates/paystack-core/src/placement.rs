//! Where a resource lives: an account, and for a regional kind a region.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The account and region a resource lives in. Every spec, plan change and state record
/// carries one, so clients, rate limits and ownership can be per placement, and a reference
/// may point from one placement to another (a replica in eu-west-1 named by a rule in
/// us-east-1).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Placement {
    /// The AWS account id; `None` for the account the run's credentials act in.
    #[serde(default)]
    pub account: Option<String>,
    /// `None` for a global kind (IAM, Route 53): one per account, whatever the region.
    #[serde(default)]
    pub region: Option<String>,
}

impl Placement {
    /// A regional resource in `region` of `account`.
    pub fn regional(account: Option<&str>, region: &str) -> Self {
        Self { account: account.map(str::to_owned), region: Some(region.to_owned()) }
    }

    /// A resource of a global kind in `account`.
    pub fn global(account: Option<&str>) -> Self {
        Self { account: account.map(str::to_owned), region: None }
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(account) = &self.account {
            write!(f, "{account}/")?;
        }
        f.write_str(self.region.as_deref().unwrap_or("global"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placement_shows_its_account_and_region_or_that_it_is_global() {
        assert_eq!(Placement::regional(None, "us-east-1").to_string(), "us-east-1");
        assert_eq!(Placement::regional(Some("210987654321"), "eu-west-1").to_string(), "210987654321/eu-west-1");
        assert_eq!(Placement::global(None).to_string(), "global");
        assert_eq!(Placement::global(Some("210987654321")).to_string(), "210987654321/global");
    }
}
