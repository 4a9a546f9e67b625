//! Collective income (村集体经济).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Decimal128Builder, Int32Builder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::sampling::*;

pub(super) const INCOME_FIRST_YEAR: i32 = 2019;
pub(super) const INCOME_LAST_YEAR: i32 = 2024;

/// Main sources of village collective income in the county, with how common each is.
pub(super) const INCOME_SOURCES: [(&str, u32); 7] = [
    ("物业租赁", 20),
    ("来料加工", 12),
    ("光伏发电", 14),
    ("农家乐", 14),
    ("茶叶合作社", 18),
    ("土地流转", 12),
    ("山林经营", 10),
];

pub(super) fn income_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("year", DataType::Int32, false),
        Field::new("operating_income", DataType::Decimal128(14, 2), false),
        Field::new("total_income", DataType::Decimal128(14, 2), false),
        Field::new("main_source", DataType::Utf8, false),
    ]))
}

/// Yuan to fen (hundredths), the unit of a Decimal(_, 2).
pub(super) fn fen(yuan: f64) -> i128 {
    (yuan * 100.0).round() as i128
}

/// Six years of income: a village-specific starting level (40 thousand to 900 thousand yuan)
/// growing 5–20% a year, a main source that some villages switch (e.g. to solar) along the way,
/// and the 2020 slump of farm-stay tourism, which does not carry into the later years.
pub(super) fn income_batch(rng: &mut ChaCha8Rng) -> Result<RecordBatch, ArrowError> {
    let rows = (INCOME_LAST_YEAR - INCOME_FIRST_YEAR + 1) as usize;
    let mut year_col = Int32Builder::with_capacity(rows);
    let mut operating_col =
        Decimal128Builder::with_capacity(rows).with_precision_and_scale(14, 2)?;
    let mut total_col = Decimal128Builder::with_capacity(rows).with_precision_and_scale(14, 2)?;
    let mut source_col = StringBuilder::with_capacity(rows, rows * 15);

    let first_source = pick_weighted(rng, &INCOME_SOURCES, |s| s.1).0;
    let later_source = pick_weighted(rng, &INCOME_SOURCES, |s| s.1).0;
    let switch_year = rng
        .random_bool(0.35)
        .then(|| rng.random_range(INCOME_FIRST_YEAR + 1..INCOME_LAST_YEAR));
    let growth = rng.random_range(0.05..0.20);
    // Subsidies, investment returns and other income come on top of operating income; their
    // share is a trait of the village that drifts a little from year to year.
    let other_share = rng.random_range(0.2..0.7);
    let mut trend = log_uniform(rng, 40_000.0, 900_000.0);

    for year in INCOME_FIRST_YEAR..=INCOME_LAST_YEAR {
        if year > INCOME_FIRST_YEAR {
            // Noise never exceeds the growth, so the trend rises every year.
            trend *= 1.0 + growth + rng.random_range(-0.04..0.04);
        }
        let source = match switch_year {
            Some(switch) if year >= switch => later_source,
            _ => first_source,
        };
        let slump = if source == "农家乐" && year == 2020 {
            0.75
        } else {
            1.0
        };
        let operating = trend * slump;
        let total = operating * (1.0 + other_share + rng.random_range(-0.1..0.1));
        year_col.append_value(year);
        operating_col.append_value(fen(operating));
        total_col.append_value(fen(total));
        source_col.append_value(source);
    }

    let columns: Vec<ArrayRef> = vec![
        Arc::new(year_col.finish()),
        Arc::new(operating_col.finish()),
        Arc::new(total_col.finish()),
        Arc::new(source_col.finish()),
    ];
    RecordBatch::try_new(income_schema(), columns)
}
