//! SplitMix64, the pseudo-random generator behind the synthetic feeds. It is small, fast and
//! fully determined by its seed, so the same seed always yields the same byte stream on every
//! platform; it is not suitable for anything that needs unpredictability.

/// A SplitMix64 generator (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", OOPSLA 2014).
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// Creates a generator whose output depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// Returns the next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Returns a number in `0..bound` by multiply-shift (Lemire); the bias is below 2^-32 for
    /// the small bounds the generator uses. `bound` must not be zero.
    pub fn below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0, "bound must be positive");
        ((u128::from(self.next_u64() >> 32) * u128::from(bound)) >> 32) as u64
    }

    /// Returns a number in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    /// Returns true with a probability of `percent` in 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Returns one element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut first = SplitMix64::new(42);
        let mut second = SplitMix64::new(42);
        for _ in 0..1000 {
            assert_eq!(first.next_u64(), second.next_u64());
        }
    }

    #[test]
    fn known_first_output() {
        // First output of SplitMix64 seeded with 0, as published with the reference code.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn below_stays_in_bounds_and_covers_them() {
        let mut rng = SplitMix64::new(7);
        let mut seen = [0u32; 6];
        for _ in 0..6000 {
            let value = rng.below(6);
            assert!(value < 6, "{value} out of 0..6");
            seen[value as usize] += 1;
        }
        for (value, count) in seen.iter().enumerate() {
            assert!(
                *count > 800,
                "value {value} drawn only {count} times in 6000"
            );
        }
    }

    #[test]
    fn range_is_inclusive() {
        let mut rng = SplitMix64::new(3);
        let drawn: Vec<u64> = (0..500).map(|_| rng.range(1, 5)).collect();
        assert!(drawn.iter().all(|v| (1..=5).contains(v)));
        assert!(drawn.contains(&1));
        assert!(drawn.contains(&5));
    }
}
