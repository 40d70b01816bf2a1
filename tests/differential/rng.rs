//! A tiny deterministic PRNG (SplitMix64): the same seed always generates the same worlds and queries.

pub struct Rng(accord_testkit::SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(accord_testkit::SplitMix64::new(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Returns a value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Returns a value in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    /// Returns true with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Returns a random subset of `items` (each kept with probability one half), in order.
    pub fn subset<T: Clone>(&mut self, items: &[T]) -> Vec<T> {
        items.iter().filter(|_| self.chance(50)).cloned().collect()
    }
}

/// Mixes a seed and a world number into that world's seed, so that one world can be replayed alone.
pub fn world_seed(seed: u64, world: u64) -> u64 {
    let mut rng = Rng::new(seed ^ world.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    rng.next_u64()
}
