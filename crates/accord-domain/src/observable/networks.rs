//! IP blocks as the index matches them ([`IpBlock`]) and the canonical networks containing an address
//! ([`containing_networks`]).

use std::{fmt, net::IpAddr};

use super::ObservableType;

/// The addresses an IP indicator covers, as the index matches them: one place for both index backends.
///
/// An IPv4-mapped IPv6 value (`::ffff:10.1.2.3`, or a block within `::ffff:0:0/96` such as `::ffff:10.0.0.0/104`)
/// covers IPv4 addresses, so it is the IPv4 address or block it maps (`10.1.2.3`, `10.0.0.0/8`): a lookup of either
/// form finds it, and OpenSearch, which refuses CIDR notation on a mapped address, never sees one. IPv4 and IPv6
/// blocks otherwise never mix: `::/0` contains no IPv4 address. The indicator's canonical value (its identity, the
/// exact match) stays as [`canonicalize`](super::canonicalize) wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpBlock {
    /// The network address, host bits zeroed (IPv4 for a mapped value).
    pub network: IpAddr,
    /// The prefix length (32 or 128 for a single address).
    pub prefix: u8,
}

impl IpBlock {
    /// Returns the block of an `ipv4-addr` or `ipv6-addr` value (address or CIDR), or `None` for another type or a
    /// value that is not an address or block.
    pub fn of(kind: ObservableType, value: &str) -> Option<Self> {
        if !matches!(kind, ObservableType::Ipv4Addr | ObservableType::Ipv6Addr) {
            return None;
        }
        let (address, prefix) = match value.split_once('/') {
            Some((address, prefix)) => (address.parse::<IpAddr>().ok()?, prefix.parse().ok()?),
            None => {
                let address = value.parse::<IpAddr>().ok()?;
                (address, if address.is_ipv4() { 32 } else { 128 })
            }
        };
        let net = ipnet::IpNet::new(address, prefix).ok()?.trunc();
        let (network, prefix) = match net.addr() {
            IpAddr::V6(v6) if net.prefix_len() >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), net.prefix_len() - 96),
                None => (IpAddr::V6(v6), net.prefix_len()),
            },
            other => (other, net.prefix_len()),
        };
        Some(Self { network, prefix })
    }

    /// Returns whether the block is a single address.
    pub fn is_address(&self) -> bool {
        self.prefix == if self.network.is_ipv4() { 32 } else { 128 }
    }

    /// Returns whether the block holds IPv4 addresses.
    pub fn is_ipv4(&self) -> bool {
        self.network.is_ipv4()
    }
}

impl fmt::Display for IpBlock {
    /// The canonical form: the plain address for a single address, else `network/prefix`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_address() {
            write!(f, "{}", self.network)
        } else {
            write!(f, "{}/{}", self.network, self.prefix)
        }
    }
}

/// Returns every canonical CIDR block that contains `ip`, from the host itself (`/32` or `/128`, written as the plain
/// address) to `/0`: the index matches an IP lookup against stored CIDR indicators ([`IpBlock`]) with these terms. An
/// IPv4-mapped address is the IPv4 address it maps.
pub fn containing_networks(ip: IpAddr) -> Vec<String> {
    let ip = ip.to_canonical();
    let max_prefix: u8 = if ip.is_ipv4() { 32 } else { 128 };
    let mut networks = Vec::with_capacity(usize::from(max_prefix) + 1);
    networks.push(ip.to_string());
    for prefix in (0..max_prefix).rev() {
        // `new` only fails for a prefix longer than the address, which the range excludes.
        if let Ok(net) = ipnet::IpNet::new(ip, prefix) {
            networks.push(net.trunc().to_string());
        }
    }
    networks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containing_networks_lists_every_prefix_in_canonical_form() {
        let networks = containing_networks("10.1.2.3".parse().unwrap());
        assert_eq!(networks.len(), 33);
        assert_eq!(networks[0], "10.1.2.3");
        assert_eq!(networks[1], "10.1.2.2/31");
        assert!(networks.contains(&"10.0.0.0/8".to_owned()));
        assert_eq!(networks[32], "0.0.0.0/0");
        let v6 = containing_networks("2001:db8::1".parse().unwrap());
        assert_eq!(v6.len(), 129);
        assert!(v6.contains(&"2001:db8::/32".to_owned()));
    }

    #[test]
    fn mapped_ipv4_blocks_are_ipv4_blocks() {
        use ObservableType::{Ipv4Addr as V4, Ipv6Addr as V6};
        let block = |kind, value| IpBlock::of(kind, value).map(|block| block.to_string());
        assert_eq!(
            block(V6, "::ffff:10.0.0.0/104").as_deref(),
            Some("10.0.0.0/8")
        );
        assert_eq!(block(V6, "::ffff:10.1.2.3").as_deref(), Some("10.1.2.3"));
        assert_eq!(block(V6, "::ffff:0:0/96").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(block(V6, "::ffff:0:0/95").as_deref(), Some("::fffe:0:0/95"));
        assert_eq!(block(V6, "::/0").as_deref(), Some("::/0"));
        assert_eq!(block(V4, "10.0.0.0/8").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(block(V4, "10.0.0.0/33"), None);
        assert_eq!(block(ObservableType::DomainName, "10.0.0.1"), None);
        assert!(IpBlock::of(V4, "10.1.2.3").unwrap().is_address());
        let mapped = containing_networks("::ffff:10.1.2.3".parse().unwrap());
        assert_eq!(mapped, containing_networks("10.1.2.3".parse().unwrap()));
    }
}
