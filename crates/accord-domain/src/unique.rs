//! Order-preserving deduplication in linear time.
//!
//! Lists built from partner input — indicators, pattern observables, TTPs — keep the first occurrence of each key and
//! drop later equal ones. Checking each new item against the whole list (`Vec::contains`) is quadratic, and a
//! submission of a few megabytes holds hundreds of thousands of items: [`dedup_by_key`] does the same in one pass with
//! a hash set, so the work is linear in the number of items whatever the input.

use std::{collections::HashSet, hash::Hash};

/// Removes from `items` every item whose key equals the key of an earlier item, keeping the order of the rest.
/// Each item's key is computed once and hashed once: time and memory are linear in `items.len()`.
pub fn dedup_by_key<T, K: Hash + Eq>(items: &mut Vec<T>, mut key: impl FnMut(&T) -> K) {
    let mut seen = HashSet::with_capacity(items.len());
    items.retain(|item| seen.insert(key(item)));
}

#[cfg(test)]
mod tests {
    use std::{
        cell::Cell,
        hash::{Hash, Hasher},
    };

    use super::*;

    thread_local! {
        static COMPARISONS: Cell<usize> = const { Cell::new(0) };
    }

    /// A key that counts how often it is compared.
    #[derive(Debug)]
    struct Counted(u32);

    impl PartialEq for Counted {
        fn eq(&self, other: &Self) -> bool {
            COMPARISONS.with(|count| count.set(count.get() + 1));
            self.0 == other.0
        }
    }

    impl Eq for Counted {}

    impl Hash for Counted {
        fn hash<H: Hasher>(&self, state: &mut H) {
            self.0.hash(state);
        }
    }

    /// `n` distinct values, each twice, interleaved: returns the kept values and the comparisons made.
    fn run(n: u32) -> (Vec<u32>, usize) {
        let mut items: Vec<u32> = (0..n).chain(0..n).collect();
        COMPARISONS.with(|count| count.set(0));
        dedup_by_key(&mut items, |item| Counted(*item));
        (items, COMPARISONS.with(Cell::get))
    }

    #[test]
    fn keeps_the_first_occurrence_in_order() {
        let mut items = vec!["b", "a", "b", "c", "a"];
        dedup_by_key(&mut items, |item| *item);
        assert_eq!(items, ["b", "a", "c"]);
    }

    #[test]
    fn work_grows_linearly_with_the_number_of_items() {
        // A `Vec::contains` per item would compare about n²/2 times (2 million at n = 2 000); a hash set compares once
        // per duplicate, plus the rare hash collision.
        let (kept, small) = run(2_000);
        assert_eq!(kept, (0..2_000).collect::<Vec<_>>());
        let (_, large) = run(8_000);
        assert!(small <= 2 * 2_000, "{small} comparisons for 2 000 items");
        assert!(
            large <= 4 * small + 100,
            "{small} comparisons at n, {large} at 4n"
        );
    }
}
