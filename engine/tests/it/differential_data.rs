//! The differential corpus's dataset: a few tables generated deterministically, written as SQL
//! `INSERT`s for each database dialect and as Arrow arrays for Parquet.
//!
//! The values are chosen to exercise the places where engines disagree: names that differ only
//! in case or trailing spaces, `_`, `%`, backslashes and quotes inside text, NULLs in every
//! nullable column, visits of people who do not exist, bigint values near `i64::MAX`, doubles
//! and decimals that lie exactly halfway between two integers, and `CHAR(n)` codes.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array,
    StringArray, TimestampMicrosecondArray,
};

/// The villages of county 330824 the rows belong to.
pub const VILLAGES: [&str; 6] = [
    "330824116224",
    "330824116200",
    "330824102201",
    "330824117201",
    "330824105203",
    "330824102200",
];

/// People's names: Chinese names, latin names that differ only in case, accents or trailing
/// spaces, and names holding LIKE wildcards, backslashes, quotes and SQL keywords.
const NAMES: [&str; 44] = [
    "张三",
    "李四",
    "王五",
    "赵六",
    "钱七",
    "孙八",
    "周九",
    "吴十",
    "郑小红",
    "冯大海",
    "陈",
    "褚卫东",
    "张明",
    "Li",
    "li",
    "LI",
    "Li ",
    "li  ",
    "a_b",
    "a%b",
    "aXb",
    "a\\b",
    "a\\_c",
    "O'Brien",
    "o'brien",
    "Zhang Wei",
    "zhang wei",
    "Ivan",
    "ıvan",
    "Müller",
    "MÜLLER",
    "%percent",
    "under_score",
    "back\\slash\\",
    "quote\"d",
    "LIMIT 5",
    "x LIMIT y",
    "Ängel",
    "ängel",
    "",
    " Li",
    "欧阳娜娜",
    "Émile",
    "zoë",
];

/// Visit notes, Chinese, some with LIKE wildcards in them.
const NOTES: [&str; 9] = [
    "入户走访",
    "电话回访",
    "送药上门",
    "慢病随访",
    "节日慰问",
    "政策宣传（低保）",
    "走访_备注",
    "100%完成",
    "回访未遇",
];

const SUBSIDY_KINDS: [&str; 5] = ["低保", "高龄补贴", "残疾补贴", "医疗救助", "临时救助"];

/// A column's type, as each storage names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    BigInt,
    Int,
    Text,
    /// DECIMAL(12,2), held as cents.
    Decimal,
    Date,
    /// A timestamp without time zone.
    Timestamp,
    /// A point in time, held in UTC.
    TimestampTz,
    Bool,
    /// A double precision float.
    Double,
    /// CHAR(4): blank-padded where the database pads.
    Char4,
}

/// The SQL dialect a statement is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Mysql,
    Sqlite,
}

impl Type {
    /// The column type each database is given: the type a user of that database would choose.
    pub fn declared(self, dialect: Dialect) -> &'static str {
        use Dialect::*;
        match (self, dialect) {
            (Type::BigInt, Postgres) => "bigint",
            (Type::BigInt, Mysql) => "BIGINT",
            (Type::BigInt, Sqlite) => "INTEGER",
            (Type::Int, Postgres) => "integer",
            (Type::Int, Mysql) => "INT",
            (Type::Int, Sqlite) => "INTEGER",
            (Type::Text, Postgres) => "text",
            // the server's default collation, utf8mb4_general_ci, is case-insensitive and pads
            // spaces: the engine must not let it decide text comparisons
            (Type::Text, Mysql) => "VARCHAR(100)",
            (Type::Text, Sqlite) => "TEXT",
            (Type::Decimal, Postgres) => "numeric(12,2)",
            (Type::Decimal, Mysql | Sqlite) => "DECIMAL(12,2)",
            (Type::Date, Postgres) => "date",
            (Type::Date, Mysql | Sqlite) => "DATE",
            (Type::Timestamp, Postgres) => "timestamp",
            (Type::Timestamp, Mysql | Sqlite) => "DATETIME",
            (Type::TimestampTz, Postgres) => "timestamptz",
            (Type::TimestampTz, Mysql | Sqlite) => "TIMESTAMP",
            (Type::Bool, Postgres) => "boolean",
            (Type::Bool, Mysql | Sqlite) => "BOOLEAN",
            (Type::Double, Postgres) => "double precision",
            (Type::Double, Mysql) => "DOUBLE",
            (Type::Double, Sqlite) => "REAL",
            (Type::Char4, Postgres) => "character(4)",
            (Type::Char4, Mysql | Sqlite) => "CHAR(4)",
        }
    }
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Cents(i64),
    /// Days since 1970-01-01.
    Date(i32),
    /// Seconds since 1970-01-01 00:00:00 (UTC for [`Type::TimestampTz`]).
    Seconds(i64),
    Bool(bool),
    Float(f64),
}

#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: Vec<(&'static str, Type)>,
    pub rows: Vec<Vec<Value>>,
}

/// Every table of the dataset.
pub fn dataset() -> Vec<Table> {
    vec![people(), visits(), subsidies(), big(), measures()]
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// NULL where `null` holds, else `value`.
fn unless(null: bool, value: Value) -> Value {
    if null { Value::Null } else { value }
}

fn people() -> Table {
    let start_of_2015 = seconds(date(2015, 1, 1));
    let nine_years = 9 * 365 * 86_400;
    // around 2024-03-01 00:00 at UTC+8, so comparisons across time zones split the rows
    let start_of_update = seconds(date(2024, 2, 28));
    let rows = (1..=200_i64)
        .map(|id| {
            let cents = match id {
                // at and beside the boundary of `income > 1000.50`
                10 => 100_050,
                20 => 100_051,
                30 => 100_049,
                40 => 100_000,
                // halves at the rounding digit
                50 => 123_445,
                60 => 98_765,
                _ => (id * 104_729) % 9_999_999,
            };
            let born = match id {
                5 => date(1950, 1, 1),
                6 => date(1949, 12, 31),
                _ => date(1930, 1, 1) + ((id * 1237) % 29_000) as i32,
            };
            vec![
                Value::Int(id),
                text(VILLAGES[((id * 7) % 6) as usize]),
                unless(
                    id % 23 == 0,
                    text(NAMES[((id * 13) % NAMES.len() as i64) as usize]),
                ),
                unless(id % 11 == 3, Value::Int(15 + (id * 37) % 80)),
                unless(id % 13 == 7, Value::Cents(cents)),
                unless(id % 29 == 11, Value::Date(born)),
                Value::Seconds(start_of_2015 + (id * 7_777_777) % nine_years),
                unless(
                    id % 31 == 4,
                    Value::Seconds(start_of_update + (id * 3571) % (4 * 86_400)),
                ),
                unless(id % 37 == 2, Value::Bool(id % 3 != 0)),
            ]
        })
        .collect();
    Table {
        name: "people",
        columns: vec![
            ("id", Type::BigInt),
            ("village_code", Type::Text),
            ("name", Type::Text),
            ("age", Type::Int),
            ("income", Type::Decimal),
            ("born", Type::Date),
            ("registered", Type::Timestamp),
            ("updated", Type::TimestampTz),
            ("active", Type::Bool),
        ],
        rows,
    }
}

fn visits() -> Table {
    let first_day = date(2023, 1, 1);
    let rows = (1..=500_i64)
        .map(|id| {
            vec![
                Value::Int(id),
                // people 201..=215 do not exist
                unless(id % 19 == 6, Value::Int((id * 31) % 215 + 1)),
                text(VILLAGES[((id * 5) % 6) as usize]),
                Value::Date(first_day + ((id * 17) % 730) as i32),
                unless(id % 41 == 9, Value::Int(5 + (id * 29) % 120)),
                unless(id % 17 == 3, text(NOTES[(id % 9) as usize])),
            ]
        })
        .collect();
    Table {
        name: "visits",
        columns: vec![
            ("id", Type::BigInt),
            ("person_id", Type::BigInt),
            ("village_code", Type::Text),
            ("visit_date", Type::Date),
            ("minutes", Type::Int),
            ("note", Type::Text),
        ],
        rows,
    }
}

fn subsidies() -> Table {
    let first_day = date(2022, 1, 1);
    let rows = (1..=120_i64)
        .map(|id| {
            vec![
                Value::Int(id),
                unless(id % 10 == 4, Value::Int((id * 53) % 230 + 1)),
                text(SUBSIDY_KINDS[(id % 5) as usize]),
                unless(id % 14 == 9, Value::Cents(5_000 + (id * 7_907) % 200_000)),
                Value::Date(first_day + ((id * 11) % 900) as i32),
            ]
        })
        .collect();
    Table {
        name: "subsidies",
        columns: vec![
            ("id", Type::BigInt),
            ("person_id", Type::BigInt),
            ("kind", Type::Text),
            ("amount", Type::Decimal),
            ("granted", Type::Date),
        ],
        rows,
    }
}

/// Values whose sum overflows a bigint.
fn big() -> Table {
    let values = [
        Some(i64::MAX - 807),
        Some(i64::MAX - 1),
        Some(1_000),
        Some(-5),
        None,
        Some(i64::MIN + 10),
        Some(i64::MAX),
    ];
    let rows = (1_i64..)
        .zip(values)
        .map(|(id, v)| vec![Value::Int(id), v.map_or(Value::Null, Value::Int)])
        .collect();
    Table {
        name: "big",
        columns: vec![("id", Type::BigInt), ("v", Type::BigInt)],
        rows,
    }
}

/// Values where rounding rules differ: doubles and decimals exactly halfway between two
/// integers (and beside it), and CHAR(4) codes shorter than four characters, which PostgreSQL
/// pads with blanks and MariaDB strips on reading. No code ends in a blank, so that every kind
/// reads the same text.
fn measures() -> Table {
    let rows: [(Option<&str>, Option<f64>, Option<i64>); 12] = [
        (Some("ab"), Some(0.5), Some(250)),
        (Some("ab"), Some(1.5), Some(-250)),
        (Some("a"), Some(2.5), Some(350)),
        (None, Some(-0.5), Some(-350)),
        (Some("abcd"), Some(-1.5), Some(49)),
        (Some("张三"), Some(-2.5), Some(51)),
        (Some(" ab"), Some(2.4999), None),
        (Some("b"), None, Some(123_456_750)),
        (Some("ab"), Some(1e15 + 0.5), Some(-50)),
        (Some("abc"), Some(3.5), Some(150)),
        (Some("a_b"), Some(-3.5), Some(-150)),
        (Some("Ab"), Some(0.0), Some(0)),
    ];
    let rows = (1_i64..)
        .zip(rows)
        .map(|(id, (code, weight, cents))| {
            vec![
                Value::Int(id),
                code.map_or(Value::Null, text),
                weight.map_or(Value::Null, Value::Float),
                cents.map_or(Value::Null, Value::Cents),
            ]
        })
        .collect();
    Table {
        name: "measures",
        columns: vec![
            ("id", Type::BigInt),
            ("code", Type::Char4),
            ("weight", Type::Double),
            ("amount", Type::Decimal),
        ],
        rows,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn date(year: i64, month: i64, day: i64) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era - 719_468) as i32
}

/// The calendar date of a day count since 1970-01-01.
pub fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn seconds(days: i32) -> i64 {
    i64::from(days) * 86_400
}

/// `YYYY-MM-DD`.
pub fn date_text(days: i64) -> String {
    let (y, m, d) = civil(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]`, fractions only when there are any.
pub fn timestamp_text(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let time = secs.rem_euclid(86_400);
    let mut text = format!(
        "{} {:02}:{:02}:{:02}",
        date_text(secs.div_euclid(86_400)),
        time / 3600,
        time / 60 % 60,
        time % 60
    );
    if fraction != 0 {
        text.push_str(format!(".{fraction:06}").trim_end_matches('0'));
    }
    text
}

impl Value {
    /// The value as a literal of `dialect`, for a column of type `ty`.
    fn literal(&self, ty: Type, dialect: Dialect) -> String {
        match self {
            Value::Null => "NULL".into(),
            Value::Int(v) => v.to_string(),
            Value::Text(s) => quote(s, dialect),
            Value::Cents(c) => format!(
                "{}{}.{:02}",
                if *c < 0 { "-" } else { "" },
                c.abs() / 100,
                c.abs() % 100
            ),
            Value::Date(days) => typed("DATE", &date_text(i64::from(*days)), dialect),
            Value::Seconds(s) => {
                let text = timestamp_text(s * 1_000_000);
                match (ty, dialect) {
                    (Type::TimestampTz, Dialect::Postgres) => {
                        format!("TIMESTAMPTZ '{text}+00'")
                    }
                    _ => typed("TIMESTAMP", &text, dialect),
                }
            }
            Value::Bool(b) => match dialect {
                Dialect::Sqlite => u8::from(*b).to_string(),
                _ => b.to_string().to_uppercase(),
            },
            // Rust writes the shortest text that reads back as the same double
            Value::Float(f) => format!("{f:?}"),
        }
    }
}

/// A typed literal in PostgreSQL; MariaDB and SQLite take the plain text (SQLite keeps dates
/// and times as ISO text, its own convention).
fn typed(keyword: &str, text: &str, dialect: Dialect) -> String {
    match dialect {
        Dialect::Postgres => format!("{keyword} '{text}'"),
        Dialect::Mysql | Dialect::Sqlite => format!("'{text}'"),
    }
}

/// A string literal; MariaDB reads backslashes as escapes by default, the others do not.
fn quote(s: &str, dialect: Dialect) -> String {
    let escaped = s.replace('\'', "''");
    match dialect {
        Dialect::Mysql => format!("'{}'", escaped.replace('\\', "\\\\")),
        Dialect::Postgres | Dialect::Sqlite => format!("'{escaped}'"),
    }
}

impl Table {
    /// `CREATE TABLE` in `dialect`.
    pub fn create(&self, dialect: Dialect) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|(name, ty)| {
                let key = if *name == "id" { " PRIMARY KEY" } else { "" };
                format!("{name} {}{key}", ty.declared(dialect))
            })
            .collect();
        format!("CREATE TABLE {} ({})", self.name, columns.join(", "))
    }

    /// `INSERT` statements in `dialect`, a hundred rows each.
    pub fn inserts(&self, dialect: Dialect) -> Vec<String> {
        self.rows
            .chunks(100)
            .map(|chunk| {
                let rows: Vec<String> = chunk
                    .iter()
                    .map(|row| {
                        let cells: Vec<String> = row
                            .iter()
                            .zip(&self.columns)
                            .map(|(v, (_, ty))| v.literal(*ty, dialect))
                            .collect();
                        format!("({})", cells.join(", "))
                    })
                    .collect();
                format!("INSERT INTO {} VALUES {}", self.name, rows.join(", "))
            })
            .collect()
    }

    /// The table's columns as Arrow arrays, for Parquet.
    pub fn arrays(&self) -> Vec<(&'static str, ArrayRef)> {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, (name, ty))| (*name, self.array(i, *ty)))
            .collect()
    }

    fn array(&self, column: usize, ty: Type) -> ArrayRef {
        let cells = self.rows.iter().map(|row| &row[column]);
        let int = |v: &Value| match v {
            Value::Int(i) | Value::Cents(i) | Value::Seconds(i) => Some(*i),
            Value::Date(d) => Some(i64::from(*d)),
            _ => None,
        };
        match ty {
            Type::BigInt => Arc::new(cells.map(int).collect::<Int64Array>()),
            Type::Int => Arc::new(
                cells
                    .map(|v| int(v).map(|i| i32::try_from(i).unwrap()))
                    .collect::<Int32Array>(),
            ),
            Type::Double => Arc::new(
                cells
                    .map(|v| match v {
                        Value::Float(f) => Some(*f),
                        _ => None,
                    })
                    .collect::<Float64Array>(),
            ),
            Type::Text | Type::Char4 => Arc::new(
                cells
                    .map(|v| match v {
                        Value::Text(s) => Some(s.as_str()),
                        _ => None,
                    })
                    .collect::<StringArray>(),
            ),
            Type::Decimal => Arc::new(
                cells
                    .map(|v| int(v).map(i128::from))
                    .collect::<Decimal128Array>()
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
            ),
            Type::Date => Arc::new(
                cells
                    .map(|v| int(v).map(|d| i32::try_from(d).unwrap()))
                    .collect::<Date32Array>(),
            ),
            Type::Timestamp => Arc::new(
                cells
                    .map(|v| int(v).map(|s| s * 1_000_000))
                    .collect::<TimestampMicrosecondArray>(),
            ),
            Type::TimestampTz => Arc::new(
                cells
                    .map(|v| int(v).map(|s| s * 1_000_000))
                    .collect::<TimestampMicrosecondArray>()
                    .with_timezone("UTC"),
            ),
            Type::Bool => Arc::new(
                cells
                    .map(|v| match v {
                        Value::Bool(b) => Some(*b),
                        _ => None,
                    })
                    .collect::<BooleanArray>(),
            ),
        }
    }
}

#[test]
fn calendar_round_trips() {
    for (y, m, d) in [(1970, 1, 1), (1949, 12, 31), (2024, 2, 29), (1930, 3, 1)] {
        assert_eq!(civil(i64::from(date(y, m, d))), (y, m, d));
    }
    assert_eq!(date(1970, 1, 2), 1);
    assert_eq!(timestamp_text(-1), "1969-12-31 23:59:59.999999");
}
