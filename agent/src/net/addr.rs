//! Address prefixes (`10.0.2.0/24`, `2600:1f18::/64`, `10.0.2.11/24` as an interface
//! address): parsing, containment and the forms the renderers write.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Serialize, Serializer};

/// A malformed prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not an address prefix: {why}")]
pub struct CidrError {
    pub text: String,
    pub why: &'static str,
}

/// An address with a prefix length. The address need not be the network's first one
/// (`10.0.2.11/24` is an interface address); [`Cidr::network`] gives that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub len: u8,
}

impl Cidr {
    /// Parse `address/length`; a bare address is a host prefix (/32 or /128).
    pub fn parse(text: &str) -> Result<Self, CidrError> {
        let err = |why| CidrError {
            text: text.to_string(),
            why,
        };
        let (a, l) = match text.trim().split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = a.parse().map_err(|_| err("not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| err("the prefix length is not a number in range"))?,
        };
        Ok(Self { addr, len })
    }

    /// A host prefix for one address.
    pub fn host(addr: IpAddr) -> Self {
        Self {
            addr,
            len: if addr.is_ipv4() { 32 } else { 128 },
        }
    }

    /// The same address with another length.
    pub fn with_len(addr: IpAddr, len: u8) -> Self {
        Self { addr, len }
    }

    /// Whether it is IPv4.
    pub fn is_v4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// The network's first address, as a prefix.
    pub fn network(&self) -> Self {
        let addr = match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        };
        Self {
            addr,
            len: self.len,
        }
    }

    /// Whether an address is inside the prefix.
    pub fn contains(&self, addr: &IpAddr) -> bool {
        match (self.addr, addr) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                Cidr::with_len(*addr, self.len).network() == self.network()
            }
            _ => false,
        }
    }

    /// The first host address of an IPv4 network (the VPC router's address on EC2).
    pub fn first_host_v4(&self) -> Option<Ipv4Addr> {
        match self.network().addr {
            IpAddr::V4(n) if self.len < 31 => Some(Ipv4Addr::from(u32::from(n) + 1)),
            _ => None,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_contain_and_give_the_gateway() {
        let s = Cidr::parse("10.0.2.0/24").unwrap();
        assert!(s.contains(&"10.0.2.200".parse().unwrap()));
        assert!(!s.contains(&"10.0.3.1".parse().unwrap()));
        assert!(!s.contains(&"2600::1".parse().unwrap()));
        assert_eq!(s.first_host_v4().unwrap().to_string(), "10.0.2.1");
        assert_eq!(
            Cidr::parse("10.0.2.17/20").unwrap().network().to_string(),
            "10.0.0.0/20"
        );
        assert_eq!(
            Cidr::parse("2600:1f18::10").unwrap().to_string(),
            "2600:1f18::10/128"
        );
        let v6 = Cidr::parse("2600:1f18:0:2::/64").unwrap();
        assert!(v6.contains(&"2600:1f18:0:2::99".parse().unwrap()));
        assert_eq!(
            Cidr::parse("0.0.0.0/0").unwrap().network().to_string(),
            "0.0.0.0/0"
        );
        for bad in ["10.0.2.0/33", "10.0.2/24", "x", "2600::/129", "10.0.0.0/-1"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
