//! The county civil-affairs department's own database (县民政局): the elderly living alone whom
//! it looks after, the subsidies it pays them and its staff's home visits. It is a SQLite file,
//! registered as a database source, so that the demo's dispatchers join a department's database
//! with the villages' files in one query.

use std::path::Path;

use chrono::{Datelike, NaiveDate, TimeDelta};
use rand::Rng;
use rusqlite::{Connection, params};

use super::data::{self, Gender, Village};

/// Elderly people living alone on the department's list, per village.
const ELDERLY_PER_VILLAGE: std::ops::RangeInclusive<u32> = 4..=16;
const STREAM_CIVIL: u64 = 40;
/// Subsidies are monthly, for the twelve months of 2024.
const SUBSIDY_YEAR: i32 = 2024;

const SCHEMA: &str = "
CREATE TABLE elderly_alone (
    id           INTEGER PRIMARY KEY,
    village_code TEXT NOT NULL,
    name         TEXT NOT NULL,
    id_card      TEXT NOT NULL,
    phone        TEXT,
    birth_year   INTEGER NOT NULL,
    care_level   TEXT NOT NULL,
    listed_on    DATE NOT NULL
);
CREATE TABLE subsidies (
    id           INTEGER PRIMARY KEY,
    elderly_id   INTEGER NOT NULL REFERENCES elderly_alone(id),
    village_code TEXT NOT NULL,
    month        DATE NOT NULL,
    kind         TEXT NOT NULL,
    amount       DECIMAL(10,2) NOT NULL
);
CREATE TABLE visits (
    id           INTEGER PRIMARY KEY,
    elderly_id   INTEGER NOT NULL REFERENCES elderly_alone(id),
    village_code TEXT NOT NULL,
    visited_on   DATE NOT NULL,
    minutes      INTEGER NOT NULL,
    found_ok     BOOLEAN NOT NULL,
    note         TEXT
);
";

const NOTES: [&str; 6] = [
    "身体状况良好",
    "需送药上门",
    "独居，子女在外务工",
    "已安装紧急呼叫设备",
    "行动不便，需助餐服务",
    "",
];

/// Writes the database to `path` (a new file). Same villages, same file.
pub fn write(path: &Path, villages: &[Village<'_>], seed: u64) -> rusqlite::Result<usize> {
    let mut connection = Connection::open(path)?;
    connection.execute_batch(SCHEMA)?;
    let tx = connection.transaction()?;
    let (mut person, mut subsidy, mut visit) = (0i64, 0i64, 0i64);
    for village in villages {
        let mut rng = data::village_rng(seed, village.code, STREAM_CIVIL);
        for _ in 0..rng.random_range(ELDERLY_PER_VILLAGE) {
            person += 1;
            let gender = if rng.random_bool(0.6) {
                Gender::Female
            } else {
                Gender::Male
            };
            let age = data::elder_age(&mut rng, 70);
            let birth = data::birth_date(&mut rng, age);
            let surname = data::surname(&mut rng);
            let name = data::chinese_name(&mut rng, surname, gender);
            let id_card = data::id_number(birth, 100 + (person % 800) as u16);
            let phone = data::phone_number(&mut rng, age);
            let care = ["自理", "半失能", "失能"][rng.random_range(0..3)];
            let listed = date(
                2015 + rng.random_range(0..9),
                1 + rng.random_range(0..12),
                1,
            );
            tx.execute(
                "INSERT INTO elderly_alone VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    person,
                    village.code,
                    name,
                    id_card,
                    phone,
                    birth.year(),
                    care,
                    listed.to_string()
                ],
            )?;
            let base = match care {
                "失能" => 600,
                "半失能" => 400,
                _ => 200,
            };
            for month in 1..=12 {
                subsidy += 1;
                let cents = base * 100 + rng.random_range(0..5000);
                tx.execute(
                    "INSERT INTO subsidies VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        subsidy,
                        person,
                        village.code,
                        date(SUBSIDY_YEAR, month, 1).to_string(),
                        "养老服务补贴",
                        format!("{}.{:02}", cents / 100, cents % 100)
                    ],
                )?;
            }
            for _ in 0..rng.random_range(2..=10) {
                visit += 1;
                let day = date(SUBSIDY_YEAR, 1, 1) + TimeDelta::days(rng.random_range(0..366));
                let note = NOTES[rng.random_range(0..NOTES.len())];
                tx.execute(
                    "INSERT INTO visits VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        visit,
                        person,
                        village.code,
                        day.to_string(),
                        rng.random_range(10..=90),
                        rng.random_bool(0.93),
                        (!note.is_empty()).then_some(note)
                    ],
                )?;
            }
        }
    }
    tx.commit()?;
    Ok(person as usize)
}

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("valid date")
}
