//! Who the client is behind a reverse proxy: the address the per-address limits count.
//!
//! A service behind the front door (decision 0074) sees every request come from the proxy. When the connection's
//! peer is one of `http.trusted_proxies`, the client is read from `X-Forwarded-For` instead: the entries are read
//! from the right (the last one was added by the nearest proxy), trusted proxies are skipped, and the first address
//! that is not one is the client. A header from anyone else is ignored, so a client cannot choose its own address by
//! sending one; an entry that is not an address ends the walk at the proxy that added it (the request then counts as
//! that proxy's). With no trusted proxy configured (the default), the peer is the client, as before.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Trusts the proxies in `networks`.
    pub fn new(networks: &[IpNet]) -> Self {
        Self(networks.to_vec())
    }

    /// Whether `address` is a trusted proxy.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|network| network.contains(&address))
    }

    /// Returns the client of a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.contains(client) {
            return client;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            let Ok(address) = hop.trim().parse::<IpAddr>() else {
                break;
            };
            client = canonical(address);
            if !self.contains(client) {
                break;
            }
        }
        client
    }
}

/// An IPv4 address mapped into IPv6 is the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(networks: &[&str]) -> TrustedProxies {
        let networks: Vec<IpNet> = networks.iter().map(|n| n.parse().unwrap()).collect();
        TrustedProxies::new(&networks)
    }

    fn headers(forwarded: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_anyone_else_does_not() {
        let trusted = proxies(&["172.28.0.10/32", "10.0.0.0/8"]);
        // Through the proxy: the client it names.
        let through = headers(&["203.0.113.7"]);
        assert_eq!(
            trusted.client(ip("172.28.0.10"), &through),
            ip("203.0.113.7")
        );
        // Straight from a client: its header is ignored.
        assert_eq!(
            trusted.client(ip("198.51.100.1"), &through),
            ip("198.51.100.1")
        );
        // No trusted proxy configured: the peer, whatever the header says.
        assert_eq!(
            proxies(&[]).client(ip("172.28.0.10"), &through),
            ip("172.28.0.10")
        );
        // No header: the proxy itself.
        assert_eq!(
            trusted.client(ip("172.28.0.10"), &HeaderMap::new()),
            ip("172.28.0.10")
        );
    }

    #[test]
    fn the_walk_goes_right_to_left_over_trusted_hops_only() {
        let trusted = proxies(&["172.28.0.10/32", "10.0.0.0/8"]);
        // A client that forged an entry: the address the first proxy saw is the rightmost untrusted one.
        let forged = headers(&["1.2.3.4, 203.0.113.7, 10.1.2.3"]);
        assert_eq!(
            trusted.client(ip("172.28.0.10"), &forged),
            ip("203.0.113.7")
        );
        // Several header lines are one list, in order.
        let lines = headers(&["1.2.3.4", "203.0.113.8", "10.1.2.3"]);
        assert_eq!(trusted.client(ip("172.28.0.10"), &lines), ip("203.0.113.8"));
        // Garbage ends the walk at the proxy that added it.
        let garbage = headers(&["203.0.113.9, not-an-address, 10.1.2.3"]);
        assert_eq!(trusted.client(ip("172.28.0.10"), &garbage), ip("10.1.2.3"));
        // IPv4 mapped into IPv6, on either side.
        assert_eq!(
            trusted.client(ip("::ffff:172.28.0.10"), &headers(&["::ffff:203.0.113.5"])),
            ip("203.0.113.5")
        );
    }
}
