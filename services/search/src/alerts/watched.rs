//! The watched values of every watchlist, indexed for matching a release against them.
//!
//! Matching one released indicator costs a bounded number of hash lookups whatever the size of the watchlists:
//! - exact values (every type): one lookup of (type, canonical value);
//! - a domain watched with its subdomains: one lookup per label suffix of the released domain (at most 127);
//! - an IP address or block released inside a watched block: one lookup per prefix length in use among the watched
//!   blocks of its family (at most 33 or 129);
//! - watched addresses or blocks inside a released block: an ordered range scan over the watched blocks of that
//!   family, whose cost is the number of watched values inside the released block (what it matches, bounded by the
//!   caller's cap on matches per release).
//!
//! An IP address is a block of one address (`/32`, `/128`); IPv4 and IPv6 never match each other.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::IpAddr,
    sync::Arc,
};

use accord_domain::ObservableType;

/// One watched entry of one watchlist, as the matcher reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Slot {
    /// The watchlist's id.
    pub(crate) list: Arc<str>,
    /// The entry's canonical value (`evil.example`, `10.0.0.0/8`).
    pub(crate) entry: Arc<str>,
}

/// An address block: its family, first address and prefix length, as integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Block {
    v6: bool,
    start: u128,
    prefix: u8,
}

impl Block {
    /// The block of an IP value (`10.0.0.1`, `10.0.0.0/8`, `2001:db8::/32`) as the index matches it
    /// ([`accord_domain::observable::IpBlock`]: an IPv4-mapped value is the IPv4 block it maps); `None` when it is
    /// none.
    pub(crate) fn of(kind: ObservableType, value: &str) -> Option<Self> {
        let block = accord_domain::observable::IpBlock::of(kind, value)?;
        let (v6, start) = match block.network {
            IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
            IpAddr::V6(v6) => (true, u128::from(v6)),
        };
        Some(Self {
            v6,
            start,
            prefix: block.prefix,
        })
    }

    fn max(self) -> u8 {
        if self.v6 { 128 } else { 32 }
    }

    /// The last address of the block.
    fn end(self) -> u128 {
        self.start | full(self.max() - self.prefix)
    }

    /// The block of `prefix` that contains this one.
    fn widened(self, prefix: u8) -> Self {
        Self {
            v6: self.v6,
            start: self.start & mask(prefix, self.max()),
            prefix,
        }
    }
}

/// All ones over the low `bits` bits.
fn full(bits: u8) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// The network mask of `prefix` within `max` bits.
fn mask(prefix: u8, max: u8) -> u128 {
    full(max) ^ full(max - prefix)
}

/// The index of watched values.
#[derive(Debug, Default)]
pub(crate) struct Watched {
    exact: HashMap<(ObservableType, Box<str>), BTreeSet<Slot>>,
    subdomains: HashMap<Box<str>, BTreeSet<Slot>>,
    blocks: HashMap<Block, BTreeSet<Slot>>,
    /// Watched blocks by family and first address, for the blocks inside a released one.
    starts: [BTreeMap<u128, BTreeSet<Block>>; 2],
    /// How many watched blocks use each prefix length, per family.
    prefixes: [BTreeMap<u8, usize>; 2],
    len: usize,
}

impl Watched {
    /// Returns how many entries are watched.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds an entry (canonical `value` of `kind`); returns whether it was new.
    pub(crate) fn insert(
        &mut self,
        kind: ObservableType,
        value: &str,
        include_subdomains: bool,
        slot: Slot,
    ) -> bool {
        let added = if let Some(block) = Block::of(kind, value) {
            let added = self.blocks.entry(block).or_default().insert(slot);
            if added {
                let family = usize::from(block.v6);
                self.starts[family]
                    .entry(block.start)
                    .or_default()
                    .insert(block);
                *self.prefixes[family].entry(block.prefix).or_default() += 1;
            }
            added
        } else if kind == ObservableType::DomainName && include_subdomains {
            self.subdomains
                .entry(value.into())
                .or_default()
                .insert(slot)
        } else {
            self.exact
                .entry((kind, value.into()))
                .or_default()
                .insert(slot)
        };
        self.len += usize::from(added);
        added
    }

    /// Removes an entry added with the same arguments; returns whether it was there.
    pub(crate) fn remove(
        &mut self,
        kind: ObservableType,
        value: &str,
        include_subdomains: bool,
        slot: &Slot,
    ) -> bool {
        let removed = if let Some(block) = Block::of(kind, value) {
            let removed = take(&mut self.blocks, &block, slot);
            if removed && !self.blocks.contains_key(&block) {
                let family = usize::from(block.v6);
                if let Some(at) = self.starts[family].get_mut(&block.start) {
                    at.remove(&block);
                    if at.is_empty() {
                        self.starts[family].remove(&block.start);
                    }
                }
                if let Some(count) = self.prefixes[family].get_mut(&block.prefix) {
                    *count -= 1;
                    if *count == 0 {
                        self.prefixes[family].remove(&block.prefix);
                    }
                }
            }
            removed
        } else if kind == ObservableType::DomainName && include_subdomains {
            take(&mut self.subdomains, value, slot)
        } else {
            take(&mut self.exact, &(kind, value.into()), slot)
        };
        self.len -= usize::from(removed);
        removed
    }

    /// Calls `found` with every entry that a released indicator (`kind`, canonical `value`) matches, stopping early
    /// when `found` returns `false`.
    pub(crate) fn matches(
        &self,
        kind: ObservableType,
        value: &str,
        found: &mut dyn FnMut(&Slot) -> bool,
    ) {
        if let Some(block) = Block::of(kind, value) {
            self.block_matches(block, found);
            return;
        }
        if let Some(slots) = self.exact.get(&(kind, value.into()))
            && !slots.iter().all(&mut *found)
        {
            return;
        }
        if kind == ObservableType::DomainName {
            let mut suffix = value;
            loop {
                if let Some(slots) = self.subdomains.get(suffix)
                    && !slots.iter().all(&mut *found)
                {
                    return;
                }
                match suffix.split_once('.') {
                    Some((_, rest)) if !rest.is_empty() => suffix = rest,
                    _ => break,
                }
            }
        }
    }

    /// Watched blocks containing `block` (one lookup per prefix length in use), then watched blocks inside it.
    fn block_matches(&self, block: Block, found: &mut dyn FnMut(&Slot) -> bool) {
        let family = usize::from(block.v6);
        for &prefix in self.prefixes[family].range(..=block.prefix).map(|(p, _)| p) {
            if let Some(slots) = self.blocks.get(&block.widened(prefix))
                && !slots.iter().all(&mut *found)
            {
                return;
            }
        }
        for inner in self.starts[family]
            .range(block.start..=block.end())
            .flat_map(|(_, blocks)| blocks)
            .filter(|inner| inner.prefix > block.prefix)
        {
            if let Some(slots) = self.blocks.get(inner)
                && !slots.iter().all(&mut *found)
            {
                return;
            }
        }
    }
}

/// Removes `slot` under `key`, dropping the key when no slot is left.
fn take<K, Q>(map: &mut HashMap<K, BTreeSet<Slot>>, key: &Q, slot: &Slot) -> bool
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    let Some(slots) = map.get_mut(key) else {
        return false;
    };
    let removed = slots.remove(slot);
    if slots.is_empty() {
        map.remove(key);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(list: &str, entry: &str) -> Slot {
        Slot {
            list: list.into(),
            entry: entry.into(),
        }
    }

    fn matched(watched: &Watched, kind: ObservableType, value: &str) -> Vec<String> {
        let mut out = Vec::new();
        watched.matches(kind, value, &mut |slot| {
            out.push(format!("{}:{}", slot.list, slot.entry));
            true
        });
        out.sort();
        out
    }

    fn add(watched: &mut Watched, kind: ObservableType, value: &str, subdomains: bool) {
        assert!(watched.insert(kind, value, subdomains, slot("w", value)));
    }

    #[test]
    fn exact_values_of_every_type_match_only_themselves() {
        let mut watched = Watched::default();
        let cases = [
            (ObservableType::DomainName, "evil.example", "other.example"),
            (
                ObservableType::Url,
                "http://evil.example/x",
                "http://evil.example/y",
            ),
            (
                ObservableType::EmailAddr,
                "a@evil.example",
                "b@evil.example",
            ),
            (
                ObservableType::File,
                "d41d8cd98f00b204e9800998ecf8427e",
                "e41d8cd98f00b204e9800998ecf8427e",
            ),
            (ObservableType::File, "invoice.exe", "invoice.pdf"),
            (
                ObservableType::Vulnerability,
                "CVE-2024-3094",
                "CVE-2024-3095",
            ),
        ];
        for (kind, value, _) in cases {
            add(&mut watched, kind, value, false);
        }
        for (kind, value, other) in cases {
            assert_eq!(matched(&watched, kind, value), [format!("w:{value}")]);
            assert!(matched(&watched, kind, other).is_empty(), "{other}");
        }
        // The type is part of the value: a URL is not the domain it names.
        assert!(matched(&watched, ObservableType::Url, "evil.example").is_empty());
        // A domain watched without its subdomains does not match them.
        assert!(matched(&watched, ObservableType::DomainName, "a.evil.example").is_empty());
    }

    #[test]
    fn a_domain_watched_with_subdomains_matches_them_and_not_lookalikes() {
        let mut watched = Watched::default();
        add(
            &mut watched,
            ObservableType::DomainName,
            "evil.example",
            true,
        );
        let hit = ["w:evil.example".to_owned()];
        assert_eq!(
            matched(&watched, ObservableType::DomainName, "evil.example"),
            hit
        );
        assert_eq!(
            matched(&watched, ObservableType::DomainName, "a.b.evil.example"),
            hit
        );
        assert!(matched(&watched, ObservableType::DomainName, "notevil.example").is_empty());
        assert!(matched(&watched, ObservableType::DomainName, "example").is_empty());
    }

    #[test]
    fn blocks_match_by_containment_both_ways_and_never_across_families() {
        let mut watched = Watched::default();
        add(&mut watched, ObservableType::Ipv4Addr, "10.0.0.0/8", false);
        add(&mut watched, ObservableType::Ipv4Addr, "192.0.2.7", false);
        add(
            &mut watched,
            ObservableType::Ipv6Addr,
            "2001:db8::/32",
            false,
        );
        add(&mut watched, ObservableType::Ipv6Addr, "::", false);
        // A released address inside a watched block.
        assert_eq!(
            matched(&watched, ObservableType::Ipv4Addr, "10.1.2.3"),
            ["w:10.0.0.0/8"]
        );
        // A released block inside a watched block.
        assert_eq!(
            matched(&watched, ObservableType::Ipv4Addr, "10.9.0.0/16"),
            ["w:10.0.0.0/8"]
        );
        // A watched address inside a released block.
        assert_eq!(
            matched(&watched, ObservableType::Ipv4Addr, "192.0.2.0/24"),
            ["w:192.0.2.7"]
        );
        // A released block containing both.
        assert_eq!(
            matched(&watched, ObservableType::Ipv4Addr, "0.0.0.0/0"),
            ["w:10.0.0.0/8", "w:192.0.2.7"]
        );
        assert!(matched(&watched, ObservableType::Ipv4Addr, "11.0.0.1").is_empty());
        assert_eq!(
            matched(&watched, ObservableType::Ipv6Addr, "2001:db8:1::1"),
            ["w:2001:db8::/32"]
        );
        // `::` (IPv6) is never an IPv4 address, and `0.0.0.0/0` never covers IPv6.
        assert_eq!(
            matched(&watched, ObservableType::Ipv6Addr, "::/0"),
            ["w:2001:db8::/32", "w:::"]
        );
        assert!(matched(&watched, ObservableType::Ipv4Addr, "0.0.0.0").is_empty());
    }

    #[test]
    fn removal_forgets_the_entry_and_keeps_the_others() {
        let mut watched = Watched::default();
        add(&mut watched, ObservableType::Ipv4Addr, "10.0.0.0/8", false);
        assert!(watched.insert(
            ObservableType::Ipv4Addr,
            "10.0.0.0/8",
            false,
            slot("v", "10.0.0.0/8")
        ));
        assert_eq!(watched.len(), 2);
        assert!(watched.remove(
            ObservableType::Ipv4Addr,
            "10.0.0.0/8",
            false,
            &slot("w", "10.0.0.0/8")
        ));
        assert_eq!(
            matched(&watched, ObservableType::Ipv4Addr, "10.1.1.1"),
            ["v:10.0.0.0/8"]
        );
        assert!(watched.remove(
            ObservableType::Ipv4Addr,
            "10.0.0.0/8",
            false,
            &slot("v", "10.0.0.0/8")
        ));
        assert!(matched(&watched, ObservableType::Ipv4Addr, "10.1.1.1").is_empty());
        assert!(matched(&watched, ObservableType::Ipv4Addr, "0.0.0.0/0").is_empty());
        assert_eq!(watched.len(), 0);
    }

    #[test]
    fn masks_are_right_at_the_edges() {
        let all = Block::of(ObservableType::Ipv4Addr, "0.0.0.0/0").unwrap();
        assert_eq!((all.start, all.end()), (0, u128::from(u32::MAX)));
        let one = Block::of(ObservableType::Ipv4Addr, "255.255.255.255").unwrap();
        assert_eq!(
            (one.start, one.end()),
            (u128::from(u32::MAX), u128::from(u32::MAX))
        );
        let v6 = Block::of(ObservableType::Ipv6Addr, "::/0").unwrap();
        assert_eq!((v6.start, v6.end()), (0, u128::MAX));
        let host = Block::of(ObservableType::Ipv6Addr, "2001:db8::1").unwrap();
        assert_eq!(host.start, host.end());
        assert_eq!(
            Block::of(ObservableType::Ipv4Addr, "10.1.2.3/8").unwrap(),
            Block::of(ObservableType::Ipv4Addr, "10.0.0.0/8").unwrap()
        );
        assert!(Block::of(ObservableType::Ipv4Addr, "10.0.0.0/33").is_none());
        // A mapped IPv4 block is the IPv4 block it maps, as the index matches it.
        assert_eq!(
            Block::of(ObservableType::Ipv6Addr, "::ffff:10.0.0.0/104"),
            Block::of(ObservableType::Ipv4Addr, "10.0.0.0/8")
        );
    }
}
