//! Shared-garden orders (共享菜园), for traceability.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate, TimeDelta};
use datafusion::arrow::array::{
    ArrayRef, Date32Builder, Decimal128Builder, Float64Builder, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::sampling::*;

pub(super) const ORDERS_START: NaiveDate = ymd(2024, 1, 1);
/// 2024 is a leap year.
pub(super) const ORDERS_DAYS: i64 = 366;

/// A product of the village gardens: when it is sold, order sizes and price per kg.
pub(super) struct Produce {
    pub(super) name: &'static str,
    /// Bit `m - 1` set when it is sold in month `m`.
    pub(super) months: u16,
    /// Order size range in tenths of a kg.
    pub(super) tenths_kg: (u32, u32),
    /// Price range in yuan per kg.
    pub(super) yuan_per_kg: (u32, u32),
    pub(super) weight: u32,
}

impl Produce {
    fn in_season(&self, month: u32) -> bool {
        self.months & (1 << (month - 1)) != 0
    }
}

pub(super) const ALL_YEAR: u16 = 0x0fff;

/// Several products sell all year, so every month has something in season.
#[rustfmt::skip]
pub(super) const PRODUCE: [Produce; 10] = [
    Produce { name: "高山蔬菜", months: 0b0011_1111_0000, tenths_kg: (20, 100), yuan_per_kg: (6, 15), weight: 22 },
    Produce { name: "龙顶茶", months: 0b0000_0011_1100, tenths_kg: (2, 15), yuan_per_kg: (600, 2000), weight: 18 },
    Produce { name: "清水鱼", months: ALL_YEAR, tenths_kg: (20, 60), yuan_per_kg: (40, 80), weight: 10 },
    Produce { name: "土鸡蛋", months: ALL_YEAR, tenths_kg: (10, 50), yuan_per_kg: (24, 36), weight: 14 },
    Produce { name: "番薯干", months: 0b1100_0000_0011, tenths_kg: (5, 30), yuan_per_kg: (25, 45), weight: 10 },
    Produce { name: "笋干", months: ALL_YEAR, tenths_kg: (5, 25), yuan_per_kg: (80, 160), weight: 8 },
    Produce { name: "香菇", months: ALL_YEAR, tenths_kg: (5, 25), yuan_per_kg: (60, 120), weight: 8 },
    Produce { name: "蜂蜜", months: ALL_YEAR, tenths_kg: (5, 30), yuan_per_kg: (100, 200), weight: 6 },
    Produce { name: "黑猪肉", months: 0b1110_0000_0011, tenths_kg: (20, 100), yuan_per_kg: (50, 90), weight: 8 },
    Produce { name: "玉米", months: 0b0001_1100_0000, tenths_kg: (20, 100), yuan_per_kg: (4, 10), weight: 10 },
];

/// Where orders come from: the province's cities and the Yangtze delta, Hangzhou first.
pub(super) const BUYER_CITIES: [(&str, u32); 8] = [
    ("杭州", 30),
    ("上海", 22),
    ("衢州", 15),
    ("宁波", 10),
    ("金华", 8),
    ("温州", 6),
    ("南京", 5),
    ("苏州", 4),
];

pub(super) fn garden_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Utf8, false),
        Field::new("order_date", DataType::Date32, false),
        Field::new("produce", DataType::Utf8, false),
        Field::new("quantity_kg", DataType::Float64, false),
        Field::new("amount_yuan", DataType::Decimal128(12, 2), false),
        Field::new("buyer_city", DataType::Utf8, false),
        Field::new("origin_village", DataType::Utf8, false),
        Field::new("grower_household", DataType::Utf8, false),
    ]))
}

/// A handful of households (5–18) tend the shared garden; orders are spread among them.
pub(super) fn grower_households(rng: &mut ChaCha8Rng, households: u32) -> Vec<u32> {
    let wanted = rng.random_range(5..=18).min(households as usize);
    let mut growers: Vec<u32> = rand::seq::index::sample(rng, households as usize, wanted)
        .into_iter()
        .map(|i| i as u32 + 1)
        .collect();
    growers.sort_unstable();
    growers
}

/// 40–120 orders over 2024, numbered in date order, each for something in season.
pub(super) fn garden_batch(
    rng: &mut ChaCha8Rng,
    code: &str,
    households: u32,
) -> Result<RecordBatch, ArrowError> {
    // Orders must name a grower household, so a village without residents has none.
    let (count, growers) = if households == 0 {
        (0, Vec::new())
    } else {
        (
            rng.random_range(40..=120),
            grower_households(rng, households),
        )
    };
    let mut days: Vec<i64> = (0..count)
        .map(|_| rng.random_range(0..ORDERS_DAYS))
        .collect();
    days.sort_unstable();

    let mut order_id = StringBuilder::with_capacity(count, count * 19);
    let mut order_date = Date32Builder::with_capacity(count);
    let mut produce_col = StringBuilder::with_capacity(count, count * 12);
    let mut quantity = Float64Builder::with_capacity(count);
    let mut amount = Decimal128Builder::with_capacity(count).with_precision_and_scale(12, 2)?;
    let mut buyer_city = StringBuilder::with_capacity(count, count * 6);
    let mut origin = StringBuilder::with_capacity(count, count * 12);
    let mut grower = StringBuilder::with_capacity(count, count * 18);

    for (index, day) in days.into_iter().enumerate() {
        let date = ORDERS_START + TimeDelta::days(day);
        let month = date.month();
        let produce = pick_weighted(
            rng,
            &PRODUCE,
            |p| {
                if p.in_season(month) { p.weight } else { 0 }
            },
        );
        let tenths = rng.random_range(produce.tenths_kg.0..=produce.tenths_kg.1);
        // Prices in steps of half a yuan, amounts exact to the fen.
        let price_fen =
            50 * rng.random_range(produce.yuan_per_kg.0 * 2..=produce.yuan_per_kg.1 * 2);
        let amount_fen = (i128::from(tenths) * i128::from(price_fen) + 5) / 10;

        order_id.append_value(format!("{code}-G{:05}", index + 1));
        order_date.append_value(date32(date));
        produce_col.append_value(produce.name);
        quantity.append_value(f64::from(tenths) / 10.0);
        amount.append_value(amount_fen);
        buyer_city.append_value(pick_weighted(rng, &BUYER_CITIES, |c| c.1).0);
        origin.append_value(code);
        grower.append_value(format!("{code}-H{:04}", pick(rng, &growers)));
    }

    let columns: Vec<ArrayRef> = vec![
        Arc::new(order_id.finish()),
        Arc::new(order_date.finish()),
        Arc::new(produce_col.finish()),
        Arc::new(quantity.finish()),
        Arc::new(amount.finish()),
        Arc::new(buyer_city.finish()),
        Arc::new(origin.finish()),
        Arc::new(grower.finish()),
    ];
    RecordBatch::try_new(garden_schema(), columns)
}
