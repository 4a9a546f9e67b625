//! Inputs shared by the benchmarks.

use tiaokuai_catalog::jurisdiction::read_csv;
use tiaokuai_catalog::{JurisdictionCode, Level};
use tiaokuai_policies::rules::Assignment;
use tiaokuai_policies::{Action, Effect, PolicyRule};

/// The 269 villages of 开化县.
pub fn villages() -> Vec<JurisdictionCode> {
    let text = include_str!("../reference/kaihua_divisions.csv");
    read_csv(text.as_bytes())
        .expect("the shipped tree parses")
        .into_iter()
        .filter(|n| n.level == Level::Village.as_str())
        .map(|n| JurisdictionCode::parse(&n.code).expect("valid code"))
        .collect()
}

/// A policy of about `lines` lines over the 269 villages: each village has its own official
/// role granted a share of the tables, with a few deny lines, and every village's official
/// holds it in that village.
pub fn large_policy(lines: usize) -> (Vec<PolicyRule>, Vec<Assignment>) {
    let villages = villages();
    let per_village = lines / villages.len() + 1;
    let mut rules = Vec::with_capacity(lines);
    let mut assignments = Vec::new();
    for (index, village) in villages.iter().enumerate() {
        let role = format!("official_{index}");
        for table in 0..per_village {
            if rules.len() == lines {
                break;
            }
            rules.push(PolicyRule {
                role: role.clone(),
                jurisdiction: if table % 2 == 0 {
                    "*".into()
                } else {
                    village.to_string()
                },
                object: format!("village.table_{table}"),
                action: if table % 7 == 6 {
                    Action::ReadSensitive
                } else {
                    Action::Read
                },
                effect: if table % 13 == 12 {
                    Effect::Deny
                } else {
                    Effect::Allow
                },
            });
        }
        assignments.push(Assignment {
            principal: format!("official{index}"),
            role,
            jurisdiction: village.to_string(),
        });
    }
    (rules, assignments)
}
