//! The open connections of the HTTP server, and who gets in when a limit is reached (see [`super::server`]).
//!
//! Connections are kept in the order they were admitted. At a limit (all connections, or those of one client
//! address), the oldest connection of that scope with no request in progress is closed to make room; when every one
//! of them is serving a request, the newcomer is refused. Clients are counted by address, an IPv6 client by its /64
//! (one host usually holds a whole /64) and an IPv4-mapped IPv6 address as the IPv4 address it maps. A trusted
//! reverse proxy (`http.trusted_proxies`) is held to the total only: it carries many clients' connections.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio_util::sync::CancellationToken;

use super::forwarded::TrustedProxies;
use crate::metrics as names;

/// Returns the address a client is counted by: IPv4 as is, IPv6 by its /64.
pub(crate) fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1_u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
        },
    }
}

/// The open connections.
#[derive(Debug)]
pub(crate) struct Connections {
    max_total: usize,
    max_per_address: usize,
    /// Held to `max_total` only: a reverse proxy carries many clients' requests.
    proxies: TrustedProxies,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    /// By admission order (ids grow).
    open: BTreeMap<u64, Entry>,
    per_address: HashMap<IpAddr, usize>,
}

#[derive(Debug)]
struct Entry {
    address: IpAddr,
    /// Requests in progress on the connection.
    busy: Arc<AtomicUsize>,
    /// Cancelled to close the connection.
    evict: CancellationToken,
}

impl Connections {
    pub(crate) fn new(max_total: usize, max_per_address: usize, proxies: TrustedProxies) -> Self {
        Self {
            max_total,
            max_per_address,
            proxies,
            state: Mutex::default(),
        }
    }

    /// Admits a connection from `address`, closing an older idle one when a limit is reached; `None` when there is
    /// no room (every connection of the full scope is serving a request).
    pub(crate) fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Admitted> {
        let proxy = self.proxies.contains(address);
        let address = client_key(address);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let from_address = state.per_address.get(&address).copied().unwrap_or(0);
        if !proxy
            && from_address >= self.max_per_address
            && !state.evict_oldest_idle(|entry| entry.address == address)
        {
            return None;
        }
        if state.open.len() >= self.max_total && !state.evict_oldest_idle(|_| true) {
            return None;
        }
        let id = state.next_id;
        state.next_id += 1;
        let entry = Entry {
            address,
            busy: Arc::new(AtomicUsize::new(0)),
            evict: CancellationToken::new(),
        };
        let admitted = Admitted {
            id,
            busy: Arc::clone(&entry.busy),
            evict: entry.evict.clone(),
            connections: Arc::clone(self),
        };
        state.open.insert(id, entry);
        *state.per_address.entry(address).or_default() += 1;
        metrics::gauge!(names::HTTP_CONNECTIONS_OPEN).set(state.open.len() as f64);
        Some(admitted)
    }

    fn release(&self, id: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.remove(id);
        metrics::gauge!(names::HTTP_CONNECTIONS_OPEN).set(state.open.len() as f64);
    }
}

impl State {
    /// Closes the oldest connection matching `scope` that has no request in progress; `false` when there is none.
    fn evict_oldest_idle(&mut self, scope: impl Fn(&Entry) -> bool) -> bool {
        let oldest = self
            .open
            .iter()
            .find(|(_, entry)| scope(entry) && entry.busy.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        let Some(id) = oldest else {
            return false;
        };
        if let Some(entry) = self.remove(id) {
            entry.evict.cancel();
            metrics::counter!(names::HTTP_CONNECTIONS_EVICTED).increment(1);
        }
        true
    }

    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.open.remove(&id)?;
        if let Some(count) = self.per_address.get_mut(&entry.address) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&entry.address);
            }
        }
        Some(entry)
    }
}

/// An admitted connection: counted until dropped.
#[derive(Debug)]
pub(crate) struct Admitted {
    id: u64,
    busy: Arc<AtomicUsize>,
    evict: CancellationToken,
    connections: Arc<Connections>,
}

impl Admitted {
    /// The counter of requests in progress on this connection.
    pub(crate) fn busy(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.busy)
    }

    /// Whether a request is in progress.
    pub(crate) fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire) > 0
    }

    /// Cancelled when the connection is closed to admit a newer one.
    pub(crate) fn evicted(&self) -> CancellationToken {
        self.evict.clone()
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.connections.release(self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn a_full_address_makes_room_by_closing_its_oldest_idle_connection() {
        let connections = Arc::new(Connections::new(10, 2, TrustedProxies::default()));
        let first = connections.admit(v4(1)).unwrap();
        let second = connections.admit(v4(1)).unwrap();
        first.busy.fetch_add(1, Ordering::AcqRel);
        // The first is serving a request: the second, idle, goes.
        let third = connections.admit(v4(1)).unwrap();
        assert!(!first.evicted().is_cancelled());
        assert!(second.evicted().is_cancelled());
        // Both left are busy now: a newcomer from that address is refused, one from another address is not.
        third.busy.fetch_add(1, Ordering::AcqRel);
        assert!(connections.admit(v4(1)).is_none());
        assert!(connections.admit(v4(2)).is_some());
    }

    #[test]
    fn a_full_server_closes_the_oldest_idle_connection_of_any_address() {
        let connections = Arc::new(Connections::new(2, 2, TrustedProxies::default()));
        let first = connections.admit(v4(1)).unwrap();
        let second = connections.admit(v4(2)).unwrap();
        let _third = connections.admit(v4(3)).unwrap();
        assert!(first.evicted().is_cancelled());
        assert!(!second.evicted().is_cancelled());
        // Dropping an evicted connection frees nothing twice.
        drop(first);
        let state = connections.state.lock().unwrap();
        assert_eq!(state.open.len(), 2);
        assert_eq!(state.per_address.get(&v4(1)), None);
    }

    #[test]
    fn a_closed_connection_frees_its_place() {
        let connections = Arc::new(Connections::new(1, 1, TrustedProxies::default()));
        let only = connections.admit(v4(1)).unwrap();
        only.busy.fetch_add(1, Ordering::AcqRel);
        assert!(connections.admit(v4(1)).is_none());
        drop(only);
        assert!(connections.admit(v4(1)).is_some());
    }

    #[test]
    fn a_trusted_proxy_is_held_to_the_total_only() {
        let proxies = TrustedProxies::new(&["10.0.0.9/32".parse().unwrap()]);
        let connections = Arc::new(Connections::new(3, 1, proxies));
        let held: Vec<Admitted> = (0..3).map(|_| connections.admit(v4(9)).unwrap()).collect();
        for connection in &held {
            connection.busy.fetch_add(1, Ordering::AcqRel);
        }
        assert!(
            held.iter().all(|c| !c.evicted().is_cancelled()),
            "three from the proxy"
        );
        assert!(connections.admit(v4(9)).is_none(), "but not past the total");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse::<Ipv6Addr>().unwrap().into();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse::<Ipv6Addr>().unwrap().into();
        let other: IpAddr = "2001:db8:1:3::1".parse::<Ipv6Addr>().unwrap().into();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(other));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse::<Ipv6Addr>().unwrap().into();
        assert_eq!(client_key(mapped), v4(1));
    }
}
