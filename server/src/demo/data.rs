//! Seeded synthetic village data for the 开化县 (Kaihua county, 330824000000) demo.
//!
//! Every village gets three Parquet tables, `<root>/<village code>/<table>/part-0.parquet`:
//! its registered residents, its collective-economy income per year and the orders of its
//! shared vegetable garden (共享菜园). The data is invented but shaped like the real thing — an
//! ageing mountain county with many elderly people, many of them living alone, and resident ID
//! numbers that pass the GB 11643 check — so that the demo's queries, policies and masking have
//! something believable to work on.
//!
//! Determinism: each village and table draws from its own ChaCha8 stream derived from the seed
//! and the village code, so the same seed always gives byte-identical files, and a village's
//! data does not depend on which other villages are written alongside it.

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, TimeDelta};
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int32Builder,
    StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One village of the tree: 12-digit code, official name, its township's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Village<'a> {
    /// The 12-digit statistical division code, e.g. `330824100201`.
    pub code: &'a str,
    /// The official name (村名); not written into the tables, which key on `code`.
    pub name: &'a str,
    /// The 12-digit code of the township (乡镇/街道) the village belongs to.
    pub township: &'a str,
}

/// The tables written per village (folder names and SQL table names: village.residents, …).
pub const TABLES: [&str; 3] = ["residents", "collective_income", "garden_orders"];

/// What can go wrong while writing the demo data; every variant names the file or folder.
#[derive(Debug, thiserror::Error)]
pub enum DemoDataError {
    /// Creating a folder or a file failed.
    #[error("demo data: I/O error at {}: {source}", path.display())]
    Io {
        /// The folder or file being created.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Assembling the Arrow batch for a file failed.
    #[error("demo data: building the Arrow batch for {}: {source}", path.display())]
    Arrow {
        /// The file the batch was meant for.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: ArrowError,
    },
    /// Encoding or writing a Parquet file failed.
    #[error("demo data: writing Parquet file {}: {source}", path.display())]
    Parquet {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: ParquetError,
    },
    /// A village code cannot be used as a folder name (or is listed twice).
    #[error("demo data: invalid village code {code:?}: {reason}")]
    InvalidVillage {
        /// The offending code.
        code: String,
        /// Why it was rejected.
        reason: &'static str,
    },
}

/// Writes `<root>/<village code>/<table>/part-0.parquet` for every village and table in TABLES.
/// `residents_per_village` controls size (the demo uses about 300). Same seed => byte-identical data.
/// Returns the number of rows written per table (same order as TABLES).
///
/// Villages differ in size like real ones do: each gets between 70% and 130% of
/// `residents_per_village` residents (at least one unless it is 0), 6 income rows (2019–2024)
/// and 40–120 garden orders (none when it has no residents, as orders name a grower household).
/// Codes must be 12 ASCII digits and distinct, since they become folder names; they are all
/// checked before anything is written. On a later error the villages already written stay on disk.
pub fn write_villages(
    root: &Path,
    villages: &[Village<'_>],
    residents_per_village: usize,
    seed: u64,
) -> Result<[usize; 3], DemoDataError> {
    validate_codes(villages)?;
    let props = writer_properties();
    let mut counts = [0_usize; 3];
    for village in villages {
        let written = write_village(root, village.code, residents_per_village, seed, &props)?;
        for (total, rows) in counts.iter_mut().zip(written) {
            *total += rows;
        }
    }
    Ok(counts)
}

// ---------------------------------------------------------------------------------------------
// Orchestration and Parquet output
// ---------------------------------------------------------------------------------------------

/// The Parquet file every table of every village is written to.
const PART_FILE: &str = "part-0.parquet";

/// Separate ChaCha streams per table, so that e.g. a change to the garden generator does not
/// reshuffle every village's residents.
const STREAM_RESIDENTS: u64 = 1;
const STREAM_INCOME: u64 = 2;
const STREAM_GARDEN: u64 = 3;

/// Rejects codes that are not 12 digits (they would escape `root` or break the SQL naming) and
/// duplicates (the second village would silently overwrite the first).
fn validate_codes(villages: &[Village<'_>]) -> Result<(), DemoDataError> {
    let mut seen = HashSet::with_capacity(villages.len());
    for village in villages {
        let code = village.code;
        let reason = if code.len() != 12 || !code.bytes().all(|b| b.is_ascii_digit()) {
            Some("expected 12 ASCII digits")
        } else if !seen.insert(code) {
            Some("listed more than once")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(DemoDataError::InvalidVillage {
                code: code.to_owned(),
                reason,
            });
        }
    }
    Ok(())
}

/// Snappy keeps the files small without slowing the demo's scans; page statistics let
/// DataFusion prune row groups and pages when policies filter on dates or codes.
fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Page)
        .build()
}

/// Generates and writes the three tables of one village; returns their row counts.
fn write_village(
    root: &Path,
    code: &str,
    residents_per_village: usize,
    seed: u64,
    props: &WriterProperties,
) -> Result<[usize; 3], DemoDataError> {
    let village_dir = root.join(code);
    let [residents_path, income_path, garden_path] =
        TABLES.map(|table| table_file(&village_dir, table));

    let mut rng = village_rng(seed, code, STREAM_RESIDENTS);
    let size = village_size(&mut rng, residents_per_village);
    let people = generate_people(&mut rng, size);
    let residents = residents_batch(&mut rng, code, &people).map_err(arrow_err(&residents_path))?;

    let mut rng = village_rng(seed, code, STREAM_INCOME);
    let income = income_batch(&mut rng).map_err(arrow_err(&income_path))?;

    let households = people.last().map_or(0, |p| p.household);
    let mut rng = village_rng(seed, code, STREAM_GARDEN);
    let garden = garden_batch(&mut rng, code, households).map_err(arrow_err(&garden_path))?;

    write_parquet(&residents_path, &residents, props)?;
    write_parquet(&income_path, &income, props)?;
    write_parquet(&garden_path, &garden, props)?;
    Ok([residents.num_rows(), income.num_rows(), garden.num_rows()])
}

fn table_file(village_dir: &Path, table: &str) -> PathBuf {
    village_dir.join(table).join(PART_FILE)
}

fn arrow_err(path: &Path) -> impl FnOnce(ArrowError) -> DemoDataError + '_ {
    move |source| DemoDataError::Arrow {
        path: path.to_path_buf(),
        source,
    }
}

fn parquet_err(path: &Path) -> impl FnOnce(ParquetError) -> DemoDataError + '_ {
    move |source| DemoDataError::Parquet {
        path: path.to_path_buf(),
        source,
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DemoDataError + '_ {
    move |source| DemoDataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes one batch as a whole Parquet file, replacing any earlier one.
fn write_parquet(
    path: &Path,
    batch: &RecordBatch,
    props: &WriterProperties,
) -> Result<(), DemoDataError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let file = File::create(path).map_err(io_err(path))?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props.clone()))
        .map_err(parquet_err(path))?;
    writer.write(batch).map_err(parquet_err(path))?;
    // close() writes the footer and flushes the writer's buffer into the file.
    writer.close().map_err(parquet_err(path))?;
    Ok(())
}

/// A per-village, per-table generator: the seed and the code are mixed into one 64-bit seed
/// (FNV-1a, then SplitMix64 to spread similar codes apart) so villages are independent.
pub(crate) fn village_rng(seed: u64, code: &str, stream: u64) -> ChaCha8Rng {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in code.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(splitmix64(seed ^ splitmix64(hash)));
    rng.set_stream(stream);
    rng
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------------------------
// Small sampling and date helpers
// ---------------------------------------------------------------------------------------------

/// Ages are taken as of this fixed day, not today, so runs on different days give the same bytes.
const AS_OF: NaiveDate = ymd(2025, 1, 1);
const EPOCH: NaiveDate = ymd(1970, 1, 1);
const MAX_AGE: u8 = 98;

/// Builds a constant date; an invalid one fails the build, not the demo.
const fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) => date,
        None => panic!("invalid constant date"),
    }
}

/// Arrow's Date32: days since 1970-01-01.
fn date32(date: NaiveDate) -> i32 {
    // Dates here lie within a few centuries of 1970, far inside i32.
    date.signed_duration_since(EPOCH).num_days() as i32
}

/// Uniform choice from a non-empty constant table.
fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// Weighted choice; `weight` may zero out entries but at least one must stay positive.
fn pick_weighted<'t, T>(rng: &mut ChaCha8Rng, items: &'t [T], weight: impl Fn(&T) -> u32) -> &'t T {
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
fn log_uniform(rng: &mut ChaCha8Rng, low: f64, high: f64) -> f64 {
    rng.random_range(low.ln()..high.ln()).exp()
}

// ---------------------------------------------------------------------------------------------
// Residents: households first, then the columns
// ---------------------------------------------------------------------------------------------

/// Surnames with rough national frequencies (per 10,000), with the names common in Kaihua and
/// the Huizhou-influenced west of Zhejiang (汪 余 程 方 徐 郑 叶 吴) raised to local levels.
#[rustfmt::skip]
const SURNAMES: [(&str, u32); 100] = [
    ("王", 710), ("李", 700), ("张", 670), ("刘", 540), ("陈", 460), ("杨", 310), ("黄", 220),
    ("赵", 200), ("吴", 260), ("周", 190), ("徐", 300), ("孙", 150), ("马", 140), ("朱", 130),
    ("胡", 130), ("郭", 120), ("何", 120), ("高", 110), ("林", 110), ("罗", 100), ("郑", 220),
    ("梁", 90), ("谢", 80), ("宋", 80), ("唐", 80), ("许", 70), ("韩", 70), ("冯", 70),
    ("邓", 70), ("曹", 70), ("彭", 60), ("曾", 60), ("肖", 60), ("田", 60), ("董", 60),
    ("袁", 50), ("潘", 50), ("于", 50), ("蒋", 50), ("蔡", 50), ("余", 280), ("杜", 50),
    ("叶", 200), ("程", 300), ("苏", 50), ("魏", 40), ("吕", 40), ("丁", 40), ("任", 40),
    ("沈", 40), ("姚", 40), ("卢", 40), ("姜", 40), ("崔", 40), ("钟", 40), ("谭", 30),
    ("陆", 30), ("汪", 420), ("范", 30), ("金", 30), ("石", 30), ("廖", 30), ("贾", 30),
    ("夏", 30), ("韦", 30), ("付", 30), ("方", 300), ("白", 30), ("邹", 30), ("孟", 30),
    ("熊", 30), ("秦", 30), ("邱", 30), ("江", 30), ("尹", 30), ("薛", 20), ("闫", 20),
    ("段", 20), ("雷", 20), ("侯", 20), ("龙", 20), ("史", 20), ("陶", 20), ("黎", 20),
    ("贺", 20), ("顾", 20), ("毛", 20), ("郝", 20), ("龚", 20), ("邵", 20), ("万", 20),
    ("钱", 20), ("严", 20), ("覃", 20), ("武", 20), ("戴", 20), ("莫", 20), ("孔", 20),
    ("向", 20), ("汤", 20),
];

/// Given-name characters: 20 that read as male, 20 as female, 20 used for both (60 in all).
const GIVEN_MALE: [&str; 20] = [
    "伟", "强", "军", "勇", "杰", "涛", "明", "建", "国", "华", "平", "刚", "志", "峰", "斌", "鹏",
    "辉", "波", "荣", "福",
];
const GIVEN_FEMALE: [&str; 20] = [
    "芳", "娟", "敏", "静", "丽", "艳", "燕", "霞", "红", "玲", "秀", "英", "萍", "梅", "兰", "琴",
    "雪", "婷", "莉", "凤",
];
const GIVEN_NEUTRAL: [&str; 20] = [
    "春", "海", "云", "晓", "金", "玉", "新", "永", "德", "成", "文", "林", "宇", "思", "佳", "欣",
    "俊", "嘉", "子", "和",
];

/// Mobile prefixes of the three carriers (130–139, 150–153, 155–159, 180–189, 199).
const PHONE_PREFIXES: [u16; 30] = [
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158, 159,
    180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 199,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gender {
    Male,
    Female,
}

impl Gender {
    fn label(self) -> &'static str {
        match self {
            Gender::Male => "男",
            Gender::Female => "女",
        }
    }

    fn opposite(self) -> Self {
        match self {
            Gender::Male => Gender::Female,
            Gender::Female => Gender::Male,
        }
    }

    fn random(rng: &mut ChaCha8Rng, p_male: f64) -> Self {
        if rng.random_bool(p_male) {
            Gender::Male
        } else {
            Gender::Female
        }
    }
}

/// Relation to the head of household, as written in the 户口簿.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    Head,
    Spouse,
    Child,
    Parent,
    Grandchild,
    Other,
}

impl Relation {
    fn label(self) -> &'static str {
        match self {
            Relation::Head => "户主",
            Relation::Spouse => "配偶",
            Relation::Child => "子女",
            Relation::Parent => "父母",
            Relation::Grandchild => "孙子女",
            Relation::Other => "其他",
        }
    }
}

/// One resident before the columns are filled in (names, dates and IDs come later).
#[derive(Debug, Clone, Copy)]
struct Person {
    /// 1-based household number within the village.
    household: u32,
    surname: &'static str,
    gender: Gender,
    age: u8,
    relation: Relation,
    living_alone: bool,
}

/// The shapes of rural households. The weights below give a village where about 30% of the
/// people are 60 or older and about a quarter of those aged 65+ live alone, as in Kaihua's
/// hill villages whose young adults work in the cities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HouseholdKind {
    /// An old person on their own (the 独居老人 the demo's care policies are about).
    SoloElder,
    ElderCouple,
    /// A middle-aged adult registered alone, often a bachelor; some actually live alone.
    SoloAdult,
    YoungCouple,
    /// Parents and 1–3 children, sometimes a sibling of the head.
    Nuclear,
    /// A couple with children and one or both of the head's parents.
    ThreeGenerations,
    /// Grandparents raising grandchildren (留守儿童) with one adult child registered there.
    GrandparentLed,
}

const HOUSEHOLD_KINDS: [(HouseholdKind, u32); 7] = [
    (HouseholdKind::SoloElder, 17),
    (HouseholdKind::ElderCouple, 18),
    (HouseholdKind::SoloAdult, 5),
    (HouseholdKind::YoungCouple, 4),
    (HouseholdKind::Nuclear, 28),
    (HouseholdKind::ThreeGenerations, 18),
    (HouseholdKind::GrandparentLed, 10),
];

/// Members of one household being assembled.
struct Household<'a> {
    id: u32,
    members: &'a mut Vec<Person>,
}

impl Household<'_> {
    fn add(&mut self, surname: &'static str, gender: Gender, age: u8, relation: Relation) {
        self.members.push(Person {
            household: self.id,
            surname,
            gender,
            age: age.min(MAX_AGE),
            relation,
            living_alone: false,
        });
    }

    /// A one-person household whose member really lives alone.
    fn add_alone(&mut self, surname: &'static str, gender: Gender, age: u8) {
        self.add(surname, gender, age, Relation::Head);
        if let Some(person) = self.members.last_mut() {
            person.living_alone = true;
        }
    }
}

/// Who a couple's children take their surname from, and how old the younger partner is.
struct Parents {
    father: &'static str,
    mother: &'static str,
    younger_age: u8,
}

/// How many residents a village gets: real villages differ, so ±30% around the requested size.
fn village_size(rng: &mut ChaCha8Rng, residents_per_village: usize) -> usize {
    if residents_per_village == 0 {
        return 0;
    }
    let factor = rng.random_range(0.7..=1.3);
    ((residents_per_village as f64 * factor).round() as usize).max(1)
}

/// Households until `target` people exist; the last household may be cut short, which keeps its
/// head (the first member added) so every household still has exactly one 户主.
fn generate_people(rng: &mut ChaCha8Rng, target: usize) -> Vec<Person> {
    let mut people = Vec::with_capacity(target + 6);
    let mut household = 0;
    while people.len() < target {
        household += 1;
        let kind = pick_weighted(rng, &HOUSEHOLD_KINDS, |k| k.1).0;
        push_household(
            rng,
            kind,
            &mut Household {
                id: household,
                members: &mut people,
            },
        );
    }
    people.truncate(target);
    people
}

pub(crate) fn surname(rng: &mut ChaCha8Rng) -> &'static str {
    pick_weighted(rng, &SURNAMES, |s| s.1).0
}

/// Ages of old people: from `min` up to 98, thinning out with age.
pub(crate) fn elder_age(rng: &mut ChaCha8Rng, min: u8) -> u8 {
    let span = f64::from(MAX_AGE - min + 1);
    let age = min + (span * rng.random::<f64>().powf(1.6)) as u8;
    age.min(MAX_AGE)
}

/// Adds 1–6 members of one household of the given kind (the head first).
fn push_household(rng: &mut ChaCha8Rng, kind: HouseholdKind, hh: &mut Household<'_>) {
    let family = surname(rng);
    match kind {
        HouseholdKind::SoloElder => {
            // Women outlive men, so most old people living alone are widows.
            let gender = Gender::random(rng, 0.4);
            hh.add_alone(family, gender, elder_age(rng, 65));
        }
        HouseholdKind::SoloAdult => {
            let gender = Gender::random(rng, 0.75);
            let age = rng.random_range(28..=64);
            if rng.random_bool(0.3) {
                hh.add_alone(family, gender, age);
            } else {
                hh.add(family, gender, age, Relation::Head);
            }
        }
        HouseholdKind::ElderCouple => {
            let head_age = elder_age(rng, 60);
            add_couple(rng, hh, family, head_age);
        }
        HouseholdKind::YoungCouple => {
            let head_age = rng.random_range(22..=38);
            add_couple(rng, hh, family, head_age);
        }
        HouseholdKind::Nuclear => {
            let head_age = rng.random_range(25..=58);
            let parents = add_couple(rng, hh, family, head_age);
            let children = pick_weighted(rng, &[(1, 45), (2, 45), (3, 10)], |c| c.1).0;
            add_children(rng, hh, &parents, children, Relation::Child);
            if rng.random_bool(0.05) {
                // An unmarried brother or sister of the head.
                let age = head_age
                    .saturating_add(rng.random_range(0..=16))
                    .saturating_sub(8);
                hh.add(
                    family,
                    Gender::random(rng, 0.6),
                    age.max(16),
                    Relation::Other,
                );
            }
        }
        HouseholdKind::ThreeGenerations => {
            let head_age = rng.random_range(30..=56);
            let parents = add_couple(rng, hh, family, head_age);
            let children = rng.random_range(1..=2);
            add_children(rng, hh, &parents, children, Relation::Child);
            add_head_parents(rng, hh, family, head_age);
        }
        HouseholdKind::GrandparentLed => add_grandparent_led(rng, hh, family),
    }
}

/// Head and spouse; the husband is usually a few years older. Spouses keep their own surname.
fn add_couple(
    rng: &mut ChaCha8Rng,
    hh: &mut Household<'_>,
    family: &'static str,
    head_age: u8,
) -> Parents {
    let head_gender = Gender::random(rng, 0.85);
    hh.add(family, head_gender, head_age, Relation::Head);
    let partner = surname(rng);
    let gap: i16 = rng.random_range(-2..=5);
    let partner_age = match head_gender {
        Gender::Male => i16::from(head_age) - gap,
        Gender::Female => i16::from(head_age) + gap,
    }
    .clamp(18, i16::from(MAX_AGE)) as u8;
    hh.add(
        partner,
        head_gender.opposite(),
        partner_age,
        Relation::Spouse,
    );
    let (father, mother) = match head_gender {
        Gender::Male => (family, partner),
        Gender::Female => (partner, family),
    };
    Parents {
        father,
        mother,
        younger_age: head_age.min(partner_age),
    }
}

/// Children 20–36 years younger than the younger parent; most take the father's surname.
fn add_children(
    rng: &mut ChaCha8Rng,
    hh: &mut Household<'_>,
    parents: &Parents,
    count: u8,
    relation: Relation,
) {
    let max_gap = parents.younger_age.clamp(20, 36);
    for _ in 0..count {
        let age = parents
            .younger_age
            .saturating_sub(rng.random_range(20..=max_gap));
        let surname = if rng.random_bool(0.92) {
            parents.father
        } else {
            parents.mother
        };
        hh.add(surname, Gender::random(rng, 0.515), age, relation);
    }
}

/// One or both of the head's parents; a lone parent is more often the mother.
fn add_head_parents(
    rng: &mut ChaCha8Rng,
    hh: &mut Household<'_>,
    family: &'static str,
    head_age: u8,
) {
    let father_age = head_age.saturating_add(rng.random_range(24..=34));
    let mother_age = father_age.saturating_sub(rng.random_range(0..=5));
    let (with_father, with_mother) = match rng.random_range(0..20) {
        0..=9 => (true, true),
        10..=16 => (false, true),
        _ => (true, false),
    };
    if with_father {
        hh.add(family, Gender::Male, father_age, Relation::Parent);
    }
    if with_mother {
        let mother = surname(rng);
        hh.add(mother, Gender::Female, mother_age, Relation::Parent);
    }
}

/// Grandparent(s) as head, one adult child (sometimes with a spouse, recorded as 其他) and
/// 1–2 grandchildren.
fn add_grandparent_led(rng: &mut ChaCha8Rng, hh: &mut Household<'_>, family: &'static str) {
    let head_age = rng.random_range(55..=80);
    let grandparents = if rng.random_bool(0.75) {
        add_couple(rng, hh, family, head_age)
    } else {
        // Widowed head: a grandmother more often than a grandfather.
        let gender = Gender::random(rng, 0.4);
        hh.add(family, gender, head_age, Relation::Head);
        Parents {
            father: family,
            mother: family,
            younger_age: head_age,
        }
    };
    let child_age = grandparents
        .younger_age
        .saturating_sub(rng.random_range(22..=32))
        .max(20);
    let child_gender = Gender::random(rng, 0.7);
    hh.add(
        grandparents.father,
        child_gender,
        child_age,
        Relation::Child,
    );
    let in_law = surname(rng);
    if rng.random_bool(0.4) {
        let age = child_age
            .saturating_add(rng.random_range(0..=6))
            .saturating_sub(3);
        hh.add(
            in_law,
            child_gender.opposite(),
            age.max(20),
            Relation::Other,
        );
    }
    // Grandchildren carry their father's surname: the son's, or the son-in-law's.
    let (father, mother) = match child_gender {
        Gender::Male => (grandparents.father, in_law),
        Gender::Female => (in_law, grandparents.father),
    };
    let parents = Parents {
        father,
        mother,
        younger_age: child_age,
    };
    let grandchildren = rng.random_range(1..=2);
    add_children(rng, hh, &parents, grandchildren, Relation::Grandchild);
}

/// Surname plus one or two given-name characters, mostly matching the gender.
pub(crate) fn chinese_name(rng: &mut ChaCha8Rng, surname: &str, gender: Gender) -> String {
    let mut name = String::with_capacity(9);
    name.push_str(surname);
    let chars = if rng.random_bool(0.7) { 2 } else { 1 };
    for _ in 0..chars {
        let pool: &[&str] = if rng.random_bool(0.35) {
            &GIVEN_NEUTRAL
        } else {
            match gender {
                Gender::Male => &GIVEN_MALE,
                Gender::Female => &GIVEN_FEMALE,
            }
        };
        name.push_str(pick(rng, pool));
    }
    name
}

/// A birth date that makes the person exactly `age` on [`AS_OF`] (a 1 January): any day from
/// 2 January of the year `age + 1` years earlier up to 1 January `age` years earlier.
pub(crate) fn birth_date(rng: &mut ChaCha8Rng, age: u8) -> NaiveDate {
    let year = AS_OF.year() - i32::from(age) - 1;
    let start = jan_first(year);
    let days_in_year = jan_first(year + 1).signed_duration_since(start).num_days();
    start + TimeDelta::days(rng.random_range(1..=days_in_year))
}

/// 1 January of `year` (1 or later), computed rather than looked up so no `Option` is involved.
fn jan_first(year: i32) -> NaiveDate {
    // Leap years among years 1..year, by the Gregorian rules.
    let leaps_before = |y: i32| {
        let past = i64::from(y - 1);
        past / 4 - past / 100 + past / 400
    };
    let days = 365 * i64::from(year - 1970) + leaps_before(year) - leaps_before(1970);
    EPOCH + TimeDelta::days(days)
}

/// Weights of the first 17 ID digits (GB 11643, ISO 7064 MOD 11-2).
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each remainder of the weighted sum modulo 11.
const ID_CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The check character for the first 17 digits of a resident ID number.
fn id_check_char(first17: &[u8]) -> char {
    let sum: u32 = first17
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    ID_CHECK[(sum % 11) as usize]
}

/// `330824` + YYYYMMDD + 3-digit sequence + check character.
pub(crate) fn id_number(birth: NaiveDate, sequence: u16) -> String {
    let mut id = format!(
        "330824{:04}{:02}{:02}{:03}",
        birth.year(),
        birth.month(),
        birth.day(),
        sequence
    );
    let check = id_check_char(id.as_bytes());
    id.push(check);
    id
}

/// A sequence number not yet used for this birth date in the village, odd for men and even for
/// women. In the (practically impossible) case that all ~500 numbers of a day are taken, the
/// birth date moves one day earlier, so the ID and `birth_date` still agree.
fn unique_id(
    rng: &mut ChaCha8Rng,
    used: &mut HashSet<(i32, u16)>,
    mut birth: NaiveDate,
    gender: Gender,
) -> (NaiveDate, u16) {
    let parity = match gender {
        Gender::Male => 1,
        Gender::Female => 0,
    };
    // 001–999 with the right parity; 000 is not issued.
    let candidate = |half: u16| half * 2 + parity;
    let first_half = 1 - parity;
    loop {
        let day = date32(birth);
        for _ in 0..16 {
            let sequence = candidate(rng.random_range(first_half..500));
            if used.insert((day, sequence)) {
                return (birth, sequence);
            }
        }
        for half in first_half..500 {
            if used.insert((day, candidate(half))) {
                return (birth, candidate(half));
            }
        }
        birth -= TimeDelta::days(1);
    }
}

/// Most children under 12 and some old people have no phone of their own.
pub(crate) fn phone_number(rng: &mut ChaCha8Rng, age: u8) -> Option<String> {
    let p_none = match age {
        0..=11 => 0.92,
        12..=17 => 0.3,
        18..=59 => 0.02,
        _ => 0.1,
    };
    if rng.random_bool(p_none) {
        return None;
    }
    let prefix = pick(rng, &PHONE_PREFIXES);
    Some(format!(
        "{prefix}{:08}",
        rng.random_range(0..100_000_000_u32)
    ))
}

fn residents_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("household_id", DataType::Utf8, false),
        Field::new("resident_id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("gender", DataType::Utf8, false),
        Field::new("birth_date", DataType::Date32, false),
        Field::new("id_card", DataType::Utf8, false),
        Field::new("phone", DataType::Utf8, true),
        Field::new("living_alone", DataType::Boolean, false),
        Field::new("relation", DataType::Utf8, false),
    ]))
}

/// Fills the residents columns: names, birth dates, IDs and phones are drawn here.
fn residents_batch(
    rng: &mut ChaCha8Rng,
    code: &str,
    people: &[Person],
) -> Result<RecordBatch, ArrowError> {
    let n = people.len();
    let mut household_id = StringBuilder::with_capacity(n, n * 18);
    let mut resident_id = StringBuilder::with_capacity(n, n * 19);
    let mut name = StringBuilder::with_capacity(n, n * 9);
    let mut gender = StringBuilder::with_capacity(n, n * 3);
    let mut birth_date_col = Date32Builder::with_capacity(n);
    let mut id_card = StringBuilder::with_capacity(n, n * 18);
    let mut phone = StringBuilder::with_capacity(n, n * 11);
    let mut living_alone = BooleanBuilder::with_capacity(n);
    let mut relation = StringBuilder::with_capacity(n, n * 9);
    let mut used_ids = HashSet::with_capacity(n);

    for (index, person) in people.iter().enumerate() {
        household_id.append_value(format!("{code}-H{:04}", person.household));
        resident_id.append_value(format!("{code}-R{:05}", index + 1));
        name.append_value(chinese_name(rng, person.surname, person.gender));
        gender.append_value(person.gender.label());
        let drawn = birth_date(rng, person.age);
        let (birth, sequence) = unique_id(rng, &mut used_ids, drawn, person.gender);
        birth_date_col.append_value(date32(birth));
        id_card.append_value(id_number(birth, sequence));
        phone.append_option(phone_number(rng, person.age));
        living_alone.append_value(person.living_alone);
        relation.append_value(person.relation.label());
    }

    let columns: Vec<ArrayRef> = vec![
        Arc::new(household_id.finish()),
        Arc::new(resident_id.finish()),
        Arc::new(name.finish()),
        Arc::new(gender.finish()),
        Arc::new(birth_date_col.finish()),
        Arc::new(id_card.finish()),
        Arc::new(phone.finish()),
        Arc::new(living_alone.finish()),
        Arc::new(relation.finish()),
    ];
    RecordBatch::try_new(residents_schema(), columns)
}

// ---------------------------------------------------------------------------------------------
// Collective income (村集体经济)
// ---------------------------------------------------------------------------------------------

const INCOME_FIRST_YEAR: i32 = 2019;
const INCOME_LAST_YEAR: i32 = 2024;

/// Main sources of village collective income in the county, with how common each is.
const INCOME_SOURCES: [(&str, u32); 7] = [
    ("物业租赁", 20),
    ("来料加工", 12),
    ("光伏发电", 14),
    ("农家乐", 14),
    ("茶叶合作社", 18),
    ("土地流转", 12),
    ("山林经营", 10),
];

fn income_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("year", DataType::Int32, false),
        Field::new("operating_income", DataType::Decimal128(14, 2), false),
        Field::new("total_income", DataType::Decimal128(14, 2), false),
        Field::new("main_source", DataType::Utf8, false),
    ]))
}

/// Yuan to fen (hundredths), the unit of a Decimal(_, 2).
fn fen(yuan: f64) -> i128 {
    (yuan * 100.0).round() as i128
}

/// Six years of income: a village-specific starting level (40 thousand to 900 thousand yuan)
/// growing 5–20% a year, a main source that some villages switch (e.g. to solar) along the way,
/// and the 2020 slump of farm-stay tourism, which does not carry into the later years.
fn income_batch(rng: &mut ChaCha8Rng) -> Result<RecordBatch, ArrowError> {
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

// ---------------------------------------------------------------------------------------------
// Shared-garden orders (共享菜园), for traceability
// ---------------------------------------------------------------------------------------------

const ORDERS_START: NaiveDate = ymd(2024, 1, 1);
/// 2024 is a leap year.
const ORDERS_DAYS: i64 = 366;

/// A product of the village gardens: when it is sold, order sizes and price per kg.
struct Produce {
    name: &'static str,
    /// Bit `m - 1` set when it is sold in month `m`.
    months: u16,
    /// Order size range in tenths of a kg.
    tenths_kg: (u32, u32),
    /// Price range in yuan per kg.
    yuan_per_kg: (u32, u32),
    weight: u32,
}

impl Produce {
    fn in_season(&self, month: u32) -> bool {
        self.months & (1 << (month - 1)) != 0
    }
}

const ALL_YEAR: u16 = 0x0fff;

/// Several products sell all year, so every month has something in season.
#[rustfmt::skip]
const PRODUCE: [Produce; 10] = [
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
const BUYER_CITIES: [(&str, u32); 8] = [
    ("杭州", 30),
    ("上海", 22),
    ("衢州", 15),
    ("宁波", 10),
    ("金华", 8),
    ("温州", 6),
    ("南京", 5),
    ("苏州", 4),
];

fn garden_schema() -> SchemaRef {
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
fn grower_households(rng: &mut ChaCha8Rng, households: u32) -> Vec<u32> {
    let wanted = rng.random_range(5..=18).min(households as usize);
    let mut growers: Vec<u32> = rand::seq::index::sample(rng, households as usize, wanted)
        .into_iter()
        .map(|i| i as u32 + 1)
        .collect();
    growers.sort_unstable();
    growers
}

/// 40–120 orders over 2024, numbered in date order, each for something in season.
fn garden_batch(
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use datafusion::arrow::array::{AsArray, RecordBatchReader};
    use datafusion::arrow::compute::concat_batches;
    use datafusion::arrow::datatypes::{Date32Type, Decimal128Type, Float64Type, Int32Type};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

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
        let (mut people, mut aged_60, mut aged_65, mut alone_65, mut alone_younger) =
            (0, 0, 0, 0, 0);
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
}
