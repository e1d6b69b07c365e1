//! IPv4 CIDR blocks, with the subnet arithmetic the network layout needs.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Cidr {
    network: u32,
    prefix: u8,
}

impl Ipv4Cidr {
    pub fn prefix(self) -> u8 {
        self.prefix
    }

    fn mask(prefix: u8) -> u32 {
        if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) }
    }

    pub fn overlaps(self, other: Ipv4Cidr) -> bool {
        let shorter = self.prefix.min(other.prefix);
        let mask = Self::mask(shorter);
        self.network & mask == other.network & mask
    }

    /// The `index`-th block of `prefix + newbits` bits inside this one, or `None` when it
    /// does not fit.
    pub fn subnet(self, newbits: u8, index: u32) -> Option<Ipv4Cidr> {
        let prefix = self.prefix.checked_add(newbits).filter(|p| *p <= 32)?;
        if newbits < 32 && u64::from(index) >= 1u64 << newbits {
            return None;
        }
        let offset = u32::try_from(u64::from(index) << (32 - prefix)).ok()?;
        Some(Ipv4Cidr { network: self.network | offset, prefix })
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network), self.prefix)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a CIDR block: expected ADDRESS/PREFIX, like 10.0.0.0/16"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| format!("`{addr}` is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("`/{prefix}` is not a prefix length from 0 to 32"))?;
        let network = u32::from(addr);
        if network & !Self::mask(prefix) != 0 {
            let base = Ipv4Addr::from(network & Self::mask(prefix));
            return Err(format!("`{s}` has host bits set; the network address is {base}/{prefix}"));
        }
        Ok(Ipv4Cidr { network, prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!(c("10.0.0.0/16").to_string(), "10.0.0.0/16");
        assert!("10.0.0.1/16".parse::<Ipv4Cidr>().unwrap_err().contains("10.0.0.0/16"));
        assert!("10.0.0.0".parse::<Ipv4Cidr>().is_err());
        assert!("10.0.0.0/33".parse::<Ipv4Cidr>().is_err());
        assert!("10.0.300.0/24".parse::<Ipv4Cidr>().is_err());
    }

    #[test]
    fn overlap() {
        assert!(c("10.0.0.0/16").overlaps(c("10.0.4.0/24")));
        assert!(c("10.0.4.0/24").overlaps(c("10.0.0.0/16")));
        assert!(!c("10.0.0.0/16").overlaps(c("10.1.0.0/16")));
    }

    #[test]
    fn subnets() {
        let vpc = c("10.1.0.0/16");
        assert_eq!(vpc.subnet(4, 0).unwrap().to_string(), "10.1.0.0/20");
        assert_eq!(vpc.subnet(4, 9).unwrap().to_string(), "10.1.144.0/20");
        assert_eq!(vpc.subnet(4, 16), None);
        assert_eq!(vpc.subnet(17, 0), None);
    }
}
