//! Residents: households first, then the columns.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, TimeDelta};
use datafusion::arrow::array::{ArrayRef, BooleanBuilder, Date32Builder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::sampling::*;

/// Surnames with rough national frequencies (per 10,000), with the names common in Kaihua and
/// the Huizhou-influenced west of Zhejiang (汪 余 程 方 徐 郑 叶 吴) raised to local levels.
#[rustfmt::skip]
pub(super) const SURNAMES: [(&str, u32); 100] = [
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
pub(super) const GIVEN_MALE: [&str; 20] = [
    "伟", "强", "军", "勇", "杰", "涛", "明", "建", "国", "华", "平", "刚", "志", "峰", "斌", "鹏",
    "辉", "波", "荣", "福",
];
pub(super) const GIVEN_FEMALE: [&str; 20] = [
    "芳", "娟", "敏", "静", "丽", "艳", "燕", "霞", "红", "玲", "秀", "英", "萍", "梅", "兰", "琴",
    "雪", "婷", "莉", "凤",
];
pub(super) const GIVEN_NEUTRAL: [&str; 20] = [
    "春", "海", "云", "晓", "金", "玉", "新", "永", "德", "成", "文", "林", "宇", "思", "佳", "欣",
    "俊", "嘉", "子", "和",
];

/// Mobile prefixes of the three carriers (130–139, 150–153, 155–159, 180–189, 199).
pub(super) const PHONE_PREFIXES: [u16; 30] = [
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
pub(super) enum Relation {
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
pub(super) struct Person {
    /// 1-based household number within the village.
    pub(super) household: u32,
    pub(super) surname: &'static str,
    pub(super) gender: Gender,
    pub(super) age: u8,
    pub(super) relation: Relation,
    pub(super) living_alone: bool,
}

/// The shapes of rural households. The weights below give a village where about 30% of the
/// people are 60 or older and about a quarter of those aged 65+ live alone, as in Kaihua's
/// hill villages whose young adults work in the cities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HouseholdKind {
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

pub(super) const HOUSEHOLD_KINDS: [(HouseholdKind, u32); 7] = [
    (HouseholdKind::SoloElder, 17),
    (HouseholdKind::ElderCouple, 18),
    (HouseholdKind::SoloAdult, 5),
    (HouseholdKind::YoungCouple, 4),
    (HouseholdKind::Nuclear, 28),
    (HouseholdKind::ThreeGenerations, 18),
    (HouseholdKind::GrandparentLed, 10),
];

/// Members of one household being assembled.
pub(super) struct Household<'a> {
    pub(super) id: u32,
    pub(super) members: &'a mut Vec<Person>,
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
pub(super) struct Parents {
    pub(super) father: &'static str,
    pub(super) mother: &'static str,
    pub(super) younger_age: u8,
}

/// How many residents a village gets: real villages differ, so ±30% around the requested size.
pub(super) fn village_size(rng: &mut ChaCha8Rng, residents_per_village: usize) -> usize {
    if residents_per_village == 0 {
        return 0;
    }
    let factor = rng.random_range(0.7..=1.3);
    ((residents_per_village as f64 * factor).round() as usize).max(1)
}

/// Households until `target` people exist; the last household may be cut short, which keeps its
/// head (the first member added) so every household still has exactly one 户主.
pub(super) fn generate_people(rng: &mut ChaCha8Rng, target: usize) -> Vec<Person> {
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
pub(super) fn push_household(rng: &mut ChaCha8Rng, kind: HouseholdKind, hh: &mut Household<'_>) {
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
pub(super) fn add_couple(
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
pub(super) fn add_children(
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
pub(super) fn add_head_parents(
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
pub(super) fn add_grandparent_led(
    rng: &mut ChaCha8Rng,
    hh: &mut Household<'_>,
    family: &'static str,
) {
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
pub(super) fn jan_first(year: i32) -> NaiveDate {
    // Leap years among years 1..year, by the Gregorian rules.
    let leaps_before = |y: i32| {
        let past = i64::from(y - 1);
        past / 4 - past / 100 + past / 400
    };
    let days = 365 * i64::from(year - 1970) + leaps_before(year) - leaps_before(1970);
    EPOCH + TimeDelta::days(days)
}

/// Weights of the first 17 ID digits (GB 11643, ISO 7064 MOD 11-2).
pub(super) const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each remainder of the weighted sum modulo 11.
pub(super) const ID_CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// The check character for the first 17 digits of a resident ID number.
pub(super) fn id_check_char(first17: &[u8]) -> char {
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
pub(super) fn unique_id(
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

pub(super) fn residents_schema() -> SchemaRef {
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
pub(super) fn residents_batch(
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
