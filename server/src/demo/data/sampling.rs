//! Seeded draws and the fixed dates the demo tables are built around.

use chrono::NaiveDate;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Ages are taken as of this fixed day, not today, so runs on different days give the same bytes.
pub(super) const AS_OF: NaiveDate = ymd(2025, 1, 1);
pub(super) const EPOCH: NaiveDate = ymd(1970, 1, 1);
pub(super) const MAX_AGE: u8 = 98;

/// Builds a constant date; an invalid one fails the build, not the demo.
pub(super) const fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) => date,
        None => panic!("invalid constant date"),
    }
}

/// Arrow's Date32: days since 1970-01-01.
pub(super) fn date32(date: NaiveDate) -> i32 {
    // Dates here lie within a few centuries of 1970, far inside i32.
    date.signed_duration_since(EPOCH).num_days() as i32
}

/// Uniform choice from a non-empty constant table.
pub(super) fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// Weighted choice; `weight` may zero out entries but at least one must stay positive.
pub(super) fn pick_weighted<'t, T>(
    rng: &mut ChaCha8Rng,
    items: &'t [T],
    weight: impl Fn(&T) -> u32,
) -> &'t T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut ticket = rng.random_range(0..total);
    for item in items {
        let w = weight(item);
        if ticket < w {
            return item;
        }
        ticket -= w;
    }
    // Unreachable: the tickets add up to `total`.
    &items[items.len() - 1]
}

/// Log-uniform draw: village incomes spread over orders of magnitude, not evenly.
pub(super) fn log_uniform(rng: &mut ChaCha8Rng, low: f64, high: f64) -> f64 {
    rng.random_range(low.ln()..high.ln()).exp()
}
