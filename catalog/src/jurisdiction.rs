//! Statistical division codes (统计用区划代码) and the jurisdiction tree.
//!
//! A code is exactly 12 ASCII digits: 2 province, 2 city, 2 county, 3 township, 3 village. The
//! level of a node follows from which trailing groups are zero, and its parent is its own prefix
//! padded with zeros. A village whose own 3 digits end in zeros (`330824116200`) is still a village:
//! only the whole group being `000` makes a code a township.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::error::{CatalogError, Result};

/// A validated 12-digit division code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JurisdictionCode(String);

/// The administrative level of a jurisdiction.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Province,
    City,
    County,
    Township,
    Village,
}

/// Digits that identify a node at each level: the rest of the code is zeros.
const SIGNIFICANT_DIGITS: [(Level, usize); 5] = [
    (Level::Province, 2),
    (Level::City, 4),
    (Level::County, 6),
    (Level::Township, 9),
    (Level::Village, 12),
];

impl Level {
    /// How many leading digits of a code identify a node of this level; the subtree of a node is
    /// every code sharing that prefix.
    pub fn significant_digits(self) -> usize {
        SIGNIFICANT_DIGITS
            .iter()
            .find(|(level, _)| *level == self)
            .map(|(_, digits)| *digits)
            .unwrap_or(12)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::City => "city",
            Level::County => "county",
            Level::Township => "township",
            Level::Village => "village",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = CatalogError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "province" => Ok(Level::Province),
            "city" => Ok(Level::City),
            "county" => Ok(Level::County),
            "township" => Ok(Level::Township),
            "village" => Ok(Level::Village),
            other => Err(CatalogError::invalid(format!(
                "unknown level {other:?}: expected province, city, county, township or village"
            ))),
        }
    }
}

impl JurisdictionCode {
    /// Accepts exactly 12 ASCII digits. Full-width digits, spaces, signs and shorter codes are
    /// rejected rather than repaired: a code that is silently "fixed" can widen someone's scope.
    pub fn parse(code: &str) -> Result<Self> {
        if code.len() != 12 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CatalogError::invalid(format!(
                "jurisdiction code {code:?} is not exactly 12 ASCII digits"
            )));
        }
        if code.starts_with("00") {
            return Err(CatalogError::invalid(format!(
                "jurisdiction code {code:?} has no province"
            )));
        }
        Ok(Self(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The level implied by the code: the deepest level whose own digits are not all zero.
    pub fn level(&self) -> Level {
        let digits = self.0.as_bytes();
        let mut level = Level::Province;
        let mut start = 0;
        for (candidate, end) in SIGNIFICANT_DIGITS {
            if digits[start..end].iter().any(|d| *d != b'0') {
                level = candidate;
            }
            start = end;
        }
        level
    }

    /// The code of the parent node: this code's parent-level prefix padded with zeros.
    pub fn parent(&self) -> Option<JurisdictionCode> {
        let level = self.level();
        let index = SIGNIFICANT_DIGITS.iter().position(|(l, _)| *l == level)?;
        let (_, keep) = *SIGNIFICANT_DIGITS.get(index.checked_sub(1)?)?;
        Some(Self(format!("{:0<12}", &self.0[..keep])))
    }

    /// The prefix shared by every code in this node's subtree.
    pub fn scope_prefix(&self) -> &str {
        &self.0[..self.level().significant_digits()]
    }

    /// Whether `other` lies in this node's subtree (a node covers itself).
    pub fn covers(&self, other: &JurisdictionCode) -> bool {
        other.0.starts_with(self.scope_prefix())
    }
}

impl fmt::Display for JurisdictionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What [`JurisdictionCode::parse`] accepts: 12 ASCII digits, not starting with `00`.
impl PartialSchema for JurisdictionCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^(0[1-9]|[1-9][0-9])[0-9]{10}$"))
            // a pattern's `$` also matches before a final newline in some validators
            .min_length(Some(12))
            .max_length(Some(12))
            .description(Some(
                "a 12-digit statistical division code: 2 province, 2 city, 2 county, 3 township, 3 village",
            ))
            .examples(["330824116224"])
            .into()
    }
}

impl ToSchema for JurisdictionCode {}

impl TryFrom<String> for JurisdictionCode {
    type Error = CatalogError;

    fn try_from(value: String) -> Result<Self> {
        Self::parse(&value)
    }
}

impl From<JurisdictionCode> for String {
    fn from(code: JurisdictionCode) -> Self {
        code.0
    }
}

/// One node of the jurisdiction tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Jurisdiction {
    pub code: JurisdictionCode,
    pub name: String,
    pub level: Level,
    /// `None` only for the top of a loaded tree (a province, city or county).
    pub parent: Option<JurisdictionCode>,
}

/// A node as it arrives from a CSV file or an API body, before validation. Its schema says
/// what [`RawJurisdiction::validate`] accepts of each field alone; that the level and the
/// parent agree with the code, and that the parent exists, only validation can tell.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RawJurisdiction {
    #[schema(value_type = JurisdictionCode)]
    pub code: String,
    /// Not blank.
    #[schema(pattern = r"\S")]
    pub name: String,
    #[schema(value_type = Level)]
    pub level: String,
    /// The parent's code (surrounding spaces are ignored); null or blank only for the top of a
    /// tree (a province, city or county).
    #[serde(default)]
    #[schema(pattern = r"^\s*((0[1-9]|[1-9][0-9])[0-9]{10})?\s*$")]
    pub parent: Option<String>,
}

impl RawJurisdiction {
    /// Checks one node on its own: the code, the stated level against the level the code implies,
    /// and the stated parent against the code's own prefix.
    pub fn validate(&self) -> Result<Jurisdiction> {
        let code = JurisdictionCode::parse(&self.code)?;
        let level: Level = self.level.parse()?;
        if code.level() != level {
            return Err(CatalogError::invalid(format!(
                "{code} is a {} code, but its level is given as {level}",
                code.level()
            )));
        }
        let name = self.name.trim();
        if name.is_empty() {
            return Err(CatalogError::invalid(format!("{code} has an empty name")));
        }
        let parent = match self.parent.as_deref().map(str::trim) {
            None | Some("") => {
                if matches!(level, Level::Township | Level::Village) {
                    return Err(CatalogError::invalid(format!(
                        "{code} is a {level} and must name its parent"
                    )));
                }
                None
            }
            Some(parent) => {
                let parent = JurisdictionCode::parse(parent)?;
                if code.parent().as_ref() != Some(&parent) {
                    return Err(CatalogError::invalid(format!(
                        "{code} cannot have parent {parent}: its parent code is {}",
                        code.parent().map(|p| p.to_string()).unwrap_or_default()
                    )));
                }
                Some(parent)
            }
        };
        Ok(Jurisdiction {
            code,
            name: name.to_owned(),
            level,
            parent,
        })
    }
}

/// Validates a batch of nodes against each other and against the nodes already known: every
/// named parent must exist in one or the other, and no code may appear twice in the batch.
pub fn validate_batch(
    batch: &[RawJurisdiction],
    known: &HashSet<JurisdictionCode>,
) -> Result<Vec<Jurisdiction>> {
    let mut nodes = BTreeMap::new();
    for (row, raw) in batch.iter().enumerate() {
        let node = raw
            .validate()
            .map_err(|e| CatalogError::invalid(format!("node {}: {e}", row + 1)))?;
        if nodes.insert(node.code.clone(), node).is_some() {
            return Err(CatalogError::invalid(format!(
                "node {}: code {} appears more than once",
                row + 1,
                raw.code
            )));
        }
    }
    for node in nodes.values() {
        if let Some(parent) = &node.parent
            && !nodes.contains_key(parent)
            && !known.contains(parent)
        {
            return Err(CatalogError::invalid(format!(
                "{} names parent {parent}, which is neither in the batch nor already known",
                node.code
            )));
        }
    }
    Ok(nodes.into_values().collect())
}

/// Reads a `code,name,level,parent` CSV (with that header) into unvalidated nodes.
pub fn read_csv(reader: impl std::io::Read) -> Result<Vec<RawJurisdiction>> {
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::None)
        .from_reader(reader);
    let headers = csv
        .headers()
        .map_err(|e| CatalogError::invalid(format!("unreadable CSV header: {e}")))?
        .clone();
    let expected = ["code", "name", "level", "parent"];
    if headers.iter().collect::<Vec<_>>() != expected {
        return Err(CatalogError::invalid(format!(
            "the CSV header must be code,name,level,parent, found {}",
            headers.iter().collect::<Vec<_>>().join(",")
        )));
    }
    csv.deserialize()
        .enumerate()
        .map(|(row, record)| {
            record.map_err(|e| CatalogError::invalid(format!("CSV line {}: {e}", row + 2)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(code: &str, level: &str, parent: &str) -> RawJurisdiction {
        RawJurisdiction {
            code: code.into(),
            name: "x".into(),
            level: level.into(),
            parent: Some(parent.into()),
        }
    }

    #[test]
    fn levels_follow_the_code() {
        let level = |c: &str| JurisdictionCode::parse(c).unwrap().level();
        assert_eq!(level("330000000000"), Level::Province);
        assert_eq!(level("330800000000"), Level::City);
        assert_eq!(level("330824000000"), Level::County);
        assert_eq!(level("330824116000"), Level::Township);
        assert_eq!(level("330824116224"), Level::Village);
        // a village whose own digits end in zeros is still a village
        assert_eq!(level("330824116200"), Level::Village);
        assert_eq!(level("330824106100"), Level::Village);
    }

    #[test]
    fn parents_are_prefixes_padded_with_zeros() {
        let parent = |c: &str| {
            JurisdictionCode::parse(c)
                .unwrap()
                .parent()
                .map(|p| p.to_string())
        };
        assert_eq!(parent("330824116200").as_deref(), Some("330824116000"));
        assert_eq!(parent("330824116000").as_deref(), Some("330824000000"));
        assert_eq!(parent("330824000000").as_deref(), Some("330800000000"));
        assert_eq!(parent("330000000000"), None);
    }

    #[test]
    fn malformed_codes_are_rejected() {
        for bad in [
            "33082411622",
            "3308241162240",
            "３３０８２４１１６２２４",
            "330824116224 ",
            " 330824116224",
            "33082411622a",
            "000000000000",
            "",
        ] {
            assert!(JurisdictionCode::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn scopes_cover_their_subtree_only() {
        let code = |c: &str| JurisdictionCode::parse(c).unwrap();
        let majin = code("330824116000");
        assert!(majin.covers(&code("330824116224")));
        assert!(majin.covers(&majin));
        assert!(!majin.covers(&code("330824117201")));
        let county = code("330824000000");
        assert!(county.covers(&code("330824116224")));
        assert!(!county.covers(&code("330825116224")));
        let village = code("330824116200");
        assert_eq!(village.scope_prefix(), "330824116200");
        assert!(!village.covers(&code("330824116201")));
    }

    #[test]
    fn stated_level_and_parent_must_agree_with_the_code() {
        assert!(
            raw("330824116224", "township", "330824116000")
                .validate()
                .is_err()
        );
        assert!(
            raw("330824116224", "village", "330824117000")
                .validate()
                .is_err()
        );
        assert!(
            raw("330824116224", "village", "330824000000")
                .validate()
                .is_err()
        );
        assert!(raw("330824116224", "village", "").validate().is_err());
        assert!(
            raw("330824116224", "hamlet", "330824116000")
                .validate()
                .is_err()
        );
        let ok = raw("330824116200", "village", "330824116000")
            .validate()
            .unwrap();
        assert_eq!(ok.level, Level::Village);
    }

    #[test]
    fn a_batch_needs_its_parents() {
        let known = HashSet::new();
        let orphan = vec![raw("330824116224", "village", "330824116000")];
        assert!(validate_batch(&orphan, &known).is_err());
        let mut county = raw("330824000000", "county", "");
        county.parent = None;
        let tree = vec![
            county,
            raw("330824116000", "township", "330824000000"),
            raw("330824116224", "village", "330824116000"),
        ];
        assert_eq!(validate_batch(&tree, &known).unwrap().len(), 3);
        let twice = vec![tree[0].clone(), tree[0].clone()];
        assert!(validate_batch(&twice, &known).is_err());
    }

    #[test]
    fn the_kaihua_tree_is_valid() {
        let file = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../reference/kaihua_divisions.csv"
        ))
        .unwrap();
        let nodes = validate_batch(&read_csv(&file[..]).unwrap(), &HashSet::new()).unwrap();
        let count = |level| nodes.iter().filter(|n| n.level == level).count();
        assert_eq!(count(Level::County), 1);
        assert_eq!(count(Level::Township), 14);
        assert_eq!(count(Level::Village), 269);
    }
}
