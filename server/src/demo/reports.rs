//! The demo's saved reports, from the county's everyday concerns.

use std::sync::Arc;

use serde_json::json;
use tiaokuai_catalog::ReportRecord;
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
        ReportRequest {
            name: "reports.response_rate_by_township".into(),
            owner: "330824000000".into(),
            description: "30分钟响应达标率: the share of tasks accepted within their accept deadline, by township, for tasks dispatched in a period".into(),
            sql: "SELECT j.code AS township_code, j.name AS township, count(*) AS tasks, \
                  count(t.accepted_at) AS accepted, \
                  sum(CASE WHEN t.accepted_at <= t.accept_due_at THEN 1 ELSE 0 END) AS on_time, \
                  round(CAST(sum(CASE WHEN t.accepted_at <= t.accept_due_at THEN 1 ELSE 0 END) AS DOUBLE) / count(*), 3) AS rate, \
                  sum(CASE WHEN t.escalated THEN 1 ELSE 0 END) AS escalated \
                  FROM governance.tasks t \
                  JOIN system.jurisdictions j ON j.code = concat(substr(t.jurisdiction_code, 1, 9), '000') \
                  WHERE CAST(t.created_at AS DATE) BETWEEN $period_from AND $period_to \
                  GROUP BY j.code, j.name ORDER BY rate, j.code"
                .into(),
            parameters: parameters(json!([
                {"name": "period", "kind": "date_range", "label": "派单期间",
                 "default": {"from": "2000-01-01", "to": "2099-12-31"}}
            ])),
        },
    ]
}

/// Saves the demo's reports as admin: their records.
pub async fn create(engine: &Arc<Engine>, admin: &Caller) -> Result<Vec<ReportRecord>, StartError> {
    let service = Reports::new(engine.clone());
    let mut saved = Vec::new();
    for report in reports() {
        saved.push(service.create(admin, report).await?);
    }
    Ok(saved)
}
