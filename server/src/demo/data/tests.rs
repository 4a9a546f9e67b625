use std::collections::HashMap;

use datafusion::arrow::array::{AsArray, RecordBatchReader};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{Date32Type, Decimal128Type, Float64Type, Int32Type};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use chrono::{Datelike, NaiveDate, TimeDelta};

use super::garden::*;
use super::income::*;
use super::people::*;
use super::sampling::*;
use super::*;

/// Owned codes for `n` villages spread over a few townships.
fn village_codes(n: usize) -> Vec<(String, String, String)> {
    (0..n)
        .map(|i| {
            let township = format!("330824{:03}000", 100 + i % 7);
            let code = format!("{}{:03}", &township[..9], 201 + i);
            (code, format!("测试{i}村"), township)
        })
        .collect()
}

fn villages(codes: &[(String, String, String)]) -> Vec<Village<'_>> {
    codes
        .iter()
        .map(|(code, name, township)| Village {
            code,
            name,
            township,
        })
        .collect()
}

fn read_table(root: &Path, code: &str, table: &str) -> RecordBatch {
    let file = File::open(table_file(&root.join(code), table)).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    concat_batches(&schema, &batches).unwrap()
}

fn strings<'b>(batch: &'b RecordBatch, column: &str) -> Vec<Option<&'b str>> {
    batch
        .column_by_name(column)
        .unwrap()
        .as_string::<i32>()
        .iter()
        .collect()
}

fn required_strings<'b>(batch: &'b RecordBatch, column: &str) -> Vec<&'b str> {
    strings(batch, column)
        .into_iter()
        .map(Option::unwrap)
        .collect()
}

fn dates(batch: &RecordBatch, column: &str) -> Vec<NaiveDate> {
    batch
        .column_by_name(column)
        .unwrap()
        .as_primitive::<Date32Type>()
        .values()
        .iter()
        .map(|&d| EPOCH + TimeDelta::days(i64::from(d)))
        .collect()
}

fn age_on_as_of(birth: NaiveDate) -> u32 {
    AS_OF.years_since(birth).unwrap()
}

/// Writes `n` villages of `residents` people with `seed` into a fresh temp folder.
fn write_demo(
    n: usize,
    residents: usize,
    seed: u64,
) -> (tempfile::TempDir, Vec<String>, [usize; 3]) {
    let dir = tempfile::tempdir().unwrap();
    let codes = village_codes(n);
    let counts = write_villages(dir.path(), &villages(&codes), residents, seed).unwrap();
    (dir, codes.into_iter().map(|c| c.0).collect(), counts)
}

#[test]
fn jan_first_and_birth_dates_are_exact() {
    for year in [1, 1900, 1926, 1970, 2000, 2024, 2025] {
        assert_eq!(
            jan_first(year),
            NaiveDate::from_ymd_opt(year, 1, 1).unwrap()
        );
    }
    let mut rng = village_rng(1, "330824100201", STREAM_RESIDENTS);
    for age in 0..=MAX_AGE {
        for _ in 0..50 {
            assert_eq!(age_on_as_of(birth_date(&mut rng, age)), u32::from(age));
        }
    }
}

#[test]
fn check_char_matches_the_standards_examples() {
    assert_eq!(id_check_char(b"11010519491231002"), 'X');
    assert_eq!(id_check_char(b"44052418800101001"), '4');
}

#[test]
fn id_numbers_are_valid_unique_and_agree_with_birth_date_and_gender() {
    let (dir, codes, _) = write_demo(4, 300, 7);
    for code in &codes {
        let batch = read_table(dir.path(), code, "residents");
        let ids = required_strings(&batch, "id_card");
        let genders = required_strings(&batch, "gender");
        let births = dates(&batch, "birth_date");
        let mut unique = HashSet::new();
        for ((id, gender), birth) in ids.iter().zip(&genders).zip(&births) {
            let bytes = id.as_bytes();
            assert_eq!(bytes.len(), 18, "{id}");
            assert!(id.starts_with("330824"), "{id}");
            assert!(bytes[..17].iter().all(u8::is_ascii_digit), "{id}");
            assert_eq!(char::from(bytes[17]), id_check_char(&bytes[..17]), "{id}");
            assert_eq!(&id[6..14], birth.format("%Y%m%d").to_string(), "{id}");
            let sequence_odd = (bytes[16] - b'0') % 2 == 1;
            assert_eq!(sequence_odd, *gender == "男", "{id} {gender}");
            assert!(unique.insert(*id), "duplicate {id} in {code}");
        }
    }
}

#[test]
fn same_seed_gives_identical_bytes_and_another_seed_does_not() {
    let (first, codes, _) = write_demo(3, 120, 42);
    let (second, _, _) = write_demo(3, 120, 42);
    let (other, _, _) = write_demo(3, 120, 43);
    for code in &codes {
        for table in TABLES {
            let path = |root: &Path| table_file(&root.join(code), table);
            let a = fs::read(path(first.path())).unwrap();
            let b = fs::read(path(second.path())).unwrap();
            let c = fs::read(path(other.path())).unwrap();
            assert_eq!(a, b, "{code}/{table} differs for the same seed");
            assert_ne!(a, c, "{code}/{table} unchanged by another seed");
        }
    }
}

#[test]
fn a_village_does_not_depend_on_the_others_written_with_it() {
    let (all, codes, _) = write_demo(3, 100, 9);
    let alone = tempfile::tempdir().unwrap();
    let third = village_codes(3).remove(2);
    write_villages(alone.path(), &villages(&[third]), 100, 9).unwrap();
    for table in TABLES {
        let a = fs::read(table_file(&all.path().join(&codes[2]), table)).unwrap();
        let b = fs::read(table_file(&alone.path().join(&codes[2]), table)).unwrap();
        assert_eq!(a, b, "{table}");
    }
}

#[test]
fn households_are_consistent_and_living_alone_means_alone() {
    let (dir, codes, _) = write_demo(10, 300, 11);
    for code in &codes {
        let batch = read_table(dir.path(), code, "residents");
        let households = required_strings(&batch, "household_id");
        let relations = required_strings(&batch, "relation");
        let alone = batch.column_by_name("living_alone").unwrap().as_boolean();
        let mut sizes: HashMap<&str, usize> = HashMap::new();
        let mut heads: HashMap<&str, usize> = HashMap::new();
        for (&hh, relation) in households.iter().zip(&relations) {
            *sizes.entry(hh).or_default() += 1;
            if *relation == "户主" {
                *heads.entry(hh).or_default() += 1;
            }
            assert!(["户主", "配偶", "子女", "父母", "孙子女", "其他"].contains(relation));
        }
        for (hh, size) in &sizes {
            assert!((1..=6).contains(size), "{hh} has {size} members");
            assert_eq!(heads.get(hh), Some(&1), "{hh} needs exactly one 户主");
        }
        for (row, hh) in households.iter().enumerate() {
            if alone.value(row) {
                assert_eq!(sizes[hh], 1, "{hh} lives alone but has company");
            }
        }
    }
}

#[test]
fn ages_phones_and_living_alone_look_like_an_ageing_county() {
    let (dir, codes, _) = write_demo(20, 300, 5);
    let (mut people, mut aged_60, mut aged_65, mut alone_65, mut alone_younger) = (0, 0, 0, 0, 0);
    let (mut children, mut children_without_phone, mut elderly_without_phone) = (0, 0, 0);
    for code in &codes {
        let batch = read_table(dir.path(), code, "residents");
        let phones = strings(&batch, "phone");
        let alone = batch.column_by_name("living_alone").unwrap().as_boolean();
        for (row, birth) in dates(&batch, "birth_date").into_iter().enumerate() {
            let age = age_on_as_of(birth);
            assert!(age <= 98, "age {age}");
            people += 1;
            if age >= 60 {
                aged_60 += 1;
                elderly_without_phone += usize::from(phones[row].is_none());
            }
            if age >= 65 {
                aged_65 += 1;
                alone_65 += usize::from(alone.value(row));
            } else {
                alone_younger += usize::from(alone.value(row));
            }
            if age < 12 {
                children += 1;
                children_without_phone += usize::from(phones[row].is_none());
            }
            if let Some(phone) = phones[row] {
                assert_eq!(phone.len(), 11);
                assert!(phone.bytes().all(|b| b.is_ascii_digit()));
                assert!(PHONE_PREFIXES.contains(&phone[..3].parse().unwrap()));
            }
        }
    }
    let share = |part: usize, whole: usize| part as f64 / whole as f64;
    let elderly = share(aged_60, people);
    assert!((0.25..=0.36).contains(&elderly), "60+ share {elderly}");
    let alone = share(alone_65, aged_65);
    assert!((0.18..=0.32).contains(&alone), "65+ living alone {alone}");
    assert!(
        share(alone_younger, people - aged_65) < 0.03,
        "too many younger living alone"
    );
    assert!(share(children_without_phone, children) > 0.8);
    let no_phone = share(elderly_without_phone, aged_60);
    assert!(
        (0.05..=0.16).contains(&no_phone),
        "elderly without phone {no_phone}"
    );
}

#[test]
fn files_read_back_with_the_exact_schemas() {
    let (dir, codes, _) = write_demo(2, 50, 1);
    let expected = [residents_schema(), income_schema(), garden_schema()];
    for code in &codes {
        for (table, schema) in TABLES.iter().zip(&expected) {
            let file = File::open(table_file(&dir.path().join(code), table)).unwrap();
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
            assert_eq!(builder.schema().fields(), schema.fields(), "{code}/{table}");
        }
    }
}

#[test]
fn returned_row_counts_match_the_files() {
    let (dir, codes, counts) = write_demo(5, 200, 3);
    let mut on_disk = [0; 3];
    for code in &codes {
        for (total, table) in on_disk.iter_mut().zip(TABLES) {
            *total += read_table(dir.path(), code, table).num_rows();
        }
    }
    assert_eq!(counts, on_disk);
    assert_eq!(counts[1], 5 * 6);
    assert!((5 * 140..=5 * 260).contains(&counts[0]), "{counts:?}");
    assert!((5 * 40..=5 * 120).contains(&counts[2]), "{counts:?}");
}

#[test]
fn income_rises_and_total_covers_operating() {
    let (dir, codes, _) = write_demo(15, 10, 8);
    for code in &codes {
        let batch = read_table(dir.path(), code, "collective_income");
        let years = batch
            .column_by_name("year")
            .unwrap()
            .as_primitive::<Int32Type>();
        assert_eq!(years.values().to_vec(), (2019..=2024).collect::<Vec<_>>());
        let decimals = |name: &str| {
            batch
                .column_by_name(name)
                .unwrap()
                .as_primitive::<Decimal128Type>()
                .values()
                .to_vec()
        };
        let operating = decimals("operating_income");
        let total = decimals("total_income");
        for (op, tot) in operating.iter().zip(&total) {
            assert!(op <= tot);
            assert!((1_000_000..=1_000_000_000).contains(op), "{op} fen");
        }
        assert!(operating[5] > operating[0], "{code}: {operating:?}");
        for source in required_strings(&batch, "main_source") {
            assert!(INCOME_SOURCES.iter().any(|s| s.0 == source), "{source}");
        }
    }
}

#[test]
fn garden_orders_trace_back_to_real_households() {
    let (dir, codes, _) = write_demo(6, 150, 4);
    for code in &codes {
        let residents = read_table(dir.path(), code, "residents");
        let households: HashSet<&str> = required_strings(&residents, "household_id")
            .into_iter()
            .collect();
        let orders = read_table(dir.path(), code, "garden_orders");
        assert!((40..=120).contains(&orders.num_rows()));
        let order_dates = dates(&orders, "order_date");
        assert!(order_dates.is_sorted());
        assert!(order_dates.iter().all(|d| d.year() == 2024));
        let ids = required_strings(&orders, "order_id");
        assert_eq!(ids[0], format!("{code}-G00001"));
        for grower in required_strings(&orders, "grower_household") {
            assert!(households.contains(grower), "{grower}");
        }
        assert!(
            required_strings(&orders, "origin_village")
                .iter()
                .all(|v| *v == code.as_str())
        );
        let quantities = orders
            .column_by_name("quantity_kg")
            .unwrap()
            .as_primitive::<Float64Type>();
        let amounts = orders
            .column_by_name("amount_yuan")
            .unwrap()
            .as_primitive::<Decimal128Type>();
        for (q, a) in quantities.values().iter().zip(amounts.values()) {
            assert!(
                *q >= 0.2 && ((q * 10.0).round() - q * 10.0).abs() < 1e-9,
                "{q}"
            );
            assert!(*a > 0);
        }
        for city in required_strings(&orders, "buyer_city") {
            assert!(BUYER_CITIES.iter().any(|c| c.0 == city));
        }
    }
}

#[test]
fn villages_without_residents_still_get_readable_files() {
    let (dir, codes, counts) = write_demo(2, 0, 1);
    assert_eq!(counts, [0, 12, 0]);
    for code in &codes {
        for table in TABLES {
            let batch = read_table(dir.path(), code, table);
            assert!(table != "collective_income" || batch.num_rows() == 6);
        }
    }
}

#[test]
fn bad_or_repeated_codes_are_rejected_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = Village {
        code: "../330824100",
        name: "越界村",
        township: "330824100000",
    };
    let err = write_villages(dir.path(), &[bad], 10, 1).unwrap_err();
    assert!(matches!(err, DemoDataError::InvalidVillage { .. }), "{err}");
    let good = Village {
        code: "330824100201",
        name: "华东村",
        township: "330824100000",
    };
    let err = write_villages(dir.path(), &[good, good], 10, 1).unwrap_err();
    assert!(err.to_string().contains("more than once"), "{err}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // A plain file where the village folder should go makes folder creation fail.
    fs::write(dir.path().join("330824100201"), b"not a folder").unwrap();
    let village = Village {
        code: "330824100201",
        name: "华东村",
        township: "330824100000",
    };
    let err = write_villages(dir.path(), &[village], 10, 1).unwrap_err();
    assert!(matches!(err, DemoDataError::Io { .. }), "{err}");
    assert!(err.to_string().contains("330824100201"), "{err}");
}
