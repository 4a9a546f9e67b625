//! A set of jurisdictions.
//!
//! A scope is a list of division-code prefixes, each allowed or excluded, where the deepest
//! prefix covering a code decides and a code no prefix covers is outside. Prefixes are the
//! significant digits of a code at its level (6 for a county, 9 for a township, all 12 for a
//! village) or empty for "everywhere". Allow-only scopes are the common case; excluded prefixes
//! come from deny lines inside a granted jurisdiction.

use std::collections::BTreeMap;

/// A set of jurisdictions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    /// Prefix → allowed, deepest first after normalisation.
    entries: Vec<(String, bool)>,
}

impl Scope {
    /// No jurisdiction at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every row, whatever its code (even a malformed one).
    pub fn all() -> Self {
        Self {
            entries: vec![(String::new(), true)],
        }
    }

    /// Builds a scope from decisions taken at candidate prefixes, dropping every entry that
    /// repeats what its nearest covering entry already decides.
    pub fn from_decisions(decisions: impl IntoIterator<Item = (String, bool)>) -> Self {
        let decisions: BTreeMap<String, bool> = decisions.into_iter().collect();
        let mut entries = Vec::new();
        for (prefix, allowed) in &decisions {
            let inherited = decisions
                .iter()
                .filter(|(other, _)| {
                    other.len() < prefix.len() && prefix.starts_with(other.as_str())
                })
                .max_by_key(|(other, _)| other.len())
                .map(|(_, allowed)| *allowed)
                .unwrap_or(false);
            if *allowed != inherited {
                entries.push((prefix.clone(), *allowed));
            }
        }
        entries.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Self { entries }
    }

    /// The normalised entries, deepest first.
    pub fn entries(&self) -> &[(String, bool)] {
        &self.entries
    }

    /// Nothing is allowed.
    pub fn is_empty(&self) -> bool {
        !self.entries.iter().any(|(_, allowed)| *allowed)
    }

    /// Everything is allowed.
    pub fn is_all(&self) -> bool {
        self.entries == [(String::new(), true)]
    }

    /// Whether a (well-formed) code is inside.
    pub fn allows(&self, code: &str) -> bool {
        self.entries
            .iter()
            .find(|(prefix, _)| code.starts_with(prefix.as_str()))
            .is_some_and(|(_, allowed)| *allowed)
    }

    /// The part of this scope inside the subtree of `prefix`.
    pub fn narrowed(&self, prefix: &str) -> Scope {
        let at = self
            .entries
            .iter()
            .find(|(entry, _)| prefix.starts_with(entry.as_str()))
            .is_some_and(|(_, allowed)| *allowed);
        let deeper = self
            .entries
            .iter()
            .filter(|(entry, _)| entry.len() > prefix.len() && entry.starts_with(prefix))
            .cloned();
        Scope::from_decisions(std::iter::once((prefix.to_owned(), at)).chain(deeper))
    }

    /// Whether every code this scope allows inside `region` is also allowed by `other`.
    pub fn within_where(&self, other: &Scope, region: &Scope) -> bool {
        // as in `within`: decisions change only at the scopes' prefixes
        let probes = self
            .entries
            .iter()
            .chain(other.entries.iter())
            .chain(region.entries.iter())
            .map(|(prefix, _)| format!("{prefix:0<12}"));
        probes
            .filter(|code| self.allows(code) && region.allows(code))
            .all(|code| other.allows(&code))
    }

    /// Whether some code is allowed by this scope and by `other`.
    pub fn overlaps(&self, other: &Scope) -> bool {
        // as in `within`: one probe per prefix of either scope sees every region
        self.entries
            .iter()
            .chain(other.entries.iter())
            .map(|(prefix, _)| format!("{prefix:0<12}"))
            .any(|code| self.allows(&code) && other.allows(&code))
    }

    /// Whether every code this scope allows is also allowed by `other`.
    pub fn within(&self, other: &Scope) -> bool {
        if other.is_all() {
            return true;
        }
        // decisions change only at the two scopes' prefixes, and a prefix padded with zeros is
        // covered by no deeper valid prefix, so one probe per prefix sees every region
        let probes = self
            .entries
            .iter()
            .chain(other.entries.iter())
            .map(|(prefix, _)| format!("{prefix:0<12}"));
        probes
            .filter(|code| self.allows(code))
            .all(|code| other.allows(&code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(entries: &[(&str, bool)]) -> Scope {
        Scope::from_decisions(entries.iter().map(|(p, a)| ((*p).to_owned(), *a)))
    }

    #[test]
    fn scopes_overlap_where_some_code_is_in_both() {
        let county = scope(&[("330824", true)]);
        let xiashan = scope(&[("330824116224", true)]);
        let majin_but_xiashan = scope(&[("330824116", true), ("330824116224", false)]);
        let chihuai = scope(&[("330824117", true)]);
        assert!(county.overlaps(&xiashan) && xiashan.overlaps(&county));
        assert!(county.overlaps(&majin_but_xiashan));
        assert!(!xiashan.overlaps(&majin_but_xiashan) && !majin_but_xiashan.overlaps(&xiashan));
        assert!(!chihuai.overlaps(&xiashan));
        assert!(Scope::all().overlaps(&chihuai));
        assert!(!Scope::none().overlaps(&Scope::all()));
    }

    #[test]
    fn the_deepest_prefix_decides() {
        let county_but_majin = scope(&[
            ("330824", true),
            ("330824116", false),
            ("330824116224", true),
        ]);
        assert!(county_but_majin.allows("330824117201"));
        assert!(!county_but_majin.allows("330824116200"));
        assert!(county_but_majin.allows("330824116224"));
        assert!(!county_but_majin.allows("330825116224"));
        assert!(!county_but_majin.is_empty());
    }

    #[test]
    fn within_a_region_ignores_what_lies_outside_it() {
        let county = scope(&[("330824", true)]);
        let majin = scope(&[("330824116", true)]);
        let majin_but_xiashan = scope(&[("330824116", true), ("330824116224", false)]);
        assert!(county.within_where(&majin, &majin));
        assert!(!county.within_where(&majin, &county));
        assert!(!county.within_where(&majin_but_xiashan, &majin));
        assert!(county.within_where(&majin_but_xiashan, &scope(&[("330824116200", true)])));
        assert!(Scope::none().within_where(&Scope::none(), &county));
    }

    #[test]
    fn a_narrowed_scope_keeps_only_the_subtree() {
        let county_but_majin = scope(&[
            ("330824", true),
            ("330824116", false),
            ("330824116224", true),
        ]);
        let chihuai = county_but_majin.narrowed("330824117");
        assert!(chihuai.allows("330824117201"));
        assert!(!chihuai.allows("330824118201"));
        assert_eq!(chihuai, scope(&[("330824117", true)]));
        let majin = county_but_majin.narrowed("330824116");
        assert!(majin.allows("330824116224"));
        assert!(!majin.allows("330824116200"));
        assert_eq!(majin, scope(&[("330824116224", true)]));
        assert!(county_but_majin.narrowed("330825").is_empty());
        assert_eq!(
            Scope::all().narrowed("330824117"),
            scope(&[("330824117", true)])
        );
        assert!(Scope::none().narrowed("330824117").is_empty());
    }

    #[test]
    fn redundant_entries_are_dropped() {
        assert_eq!(
            scope(&[("330824", true), ("330824116", true)]),
            scope(&[("330824", true)])
        );
        assert_eq!(scope(&[("330824116", false)]), Scope::none());
        assert!(scope(&[("330824116224", false)]).is_empty());
        assert!(scope(&[("", true), ("330824", true)]).is_all());
    }

    #[test]
    fn containment() {
        let majin = scope(&[("330824116", true)]);
        let xiashan = scope(&[("330824116224", true)]);
        let county = scope(&[("330824", true)]);
        assert!(xiashan.within(&majin));
        assert!(majin.within(&county));
        assert!(!county.within(&majin));
        assert!(Scope::none().within(&xiashan));
        assert!(majin.within(&Scope::all()));
        assert!(!Scope::all().within(&county));
    }
}
