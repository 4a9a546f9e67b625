//! The demo's saved reports, from the county's everyday concerns.

use std::sync::Arc;

use serde_json::json;
use tiaokuai_engine::{Caller, Engine};
use tiaokuai_governance::{ReportRequest, Reports};

use crate::start::StartError;

/// The reports, as a county analyst would save them.
fn reports() -> Vec<ReportRequest> {
    let parameters =
        |value: serde_json::Value| serde_json::from_value(value).expect("valid parameters");
    vec![
        ReportRequest {
            name: "reports.village_income_ranking".into(),
            owner: "330824000000".into(),
            description: "村集体经济收入排名: villages ranked by collective income in a year".into(),
            sql: "SELECT rank() OVER (ORDER BY i.total_income DESC) AS rank, j.name AS village, \
                  i.jurisdiction_code, i.total_income, i.main_source \
                  FROM village.collective_income i \
                  JOIN system.jurisdictions j ON j.code = i.jurisdiction_code \
                  WHERE i.year = $year ORDER BY rank, i.jurisdiction_code"
                .into(),
            parameters: parameters(json!([
                {"name": "year", "kind": "integer", "label": "年度", "default": 2024}
            ])),
        },
        ReportRequest {
            name: "reports.elderly_visit_coverage".into(),
            owner: "330824000000".into(),
            description: "独居老人走访覆盖率: the share of elderly people living alone visited in a period, by village".into(),
            sql: "SELECT e.village_code, count(DISTINCT e.id) AS elderly_alone, \
                  count(DISTINCT v.elderly_id) AS visited, \
                  round(CAST(count(DISTINCT v.elderly_id) AS DOUBLE) / count(DISTINCT e.id), 3) AS coverage \
                  FROM civil.elderly_alone e \
                  LEFT JOIN civil.visits v ON v.elderly_id = e.id \
                  AND v.visited_on BETWEEN $period_from AND $period_to \
                  GROUP BY e.village_code ORDER BY coverage, e.village_code"
                .into(),
            parameters: parameters(json!([
                {"name": "period", "kind": "date_range", "label": "走访期间",
                 "default": {"from": "2024-01-01", "to": "2024-12-31"}}
            ])),
        },
    ]
}

/// Saves the demo's reports as admin.
pub async fn create(engine: &Arc<Engine>, admin: &Caller) -> Result<(), StartError> {
    let service = Reports::new(engine.clone());
    for report in reports() {
        service.create(admin, report).await?;
    }
    Ok(())
}
