//! The 开化县 demo: the real division-code tree (1 county, 14 townships, 269 villages), per-village
//! Parquet data, one union dataset per village table, principals for the 条/块 roles, saved
//! reports, an alert, a daily schedule and a few days of dispatch tasks.

pub mod civil;
pub mod data;
mod dispatch;
mod install;
mod reports;

pub use install::{install, recover};

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use tiaokuai_catalog::jurisdiction::{self, RawJurisdiction};
use tiaokuai_catalog::{Binding, DatabaseEngine, FileFormat, Level, SourceKind};
use tiaokuai_engine::{DatasetRequest, Engine, SourceRequest};
use tiaokuai_engine::{MemberRequest, TableRequest};
use tiaokuai_policies::Caller;

use crate::start::StartError;

/// The real division codes of 开化县, shipped with the project.
pub const KAIHUA_DIVISIONS: &str = include_str!("../../../reference/kaihua_divisions.csv");

/// Residents generated per village.
const RESIDENTS_PER_VILLAGE: usize = 300;
const SEED: u64 = 330_824;

/// The demo principals; their roles are in `policies/demo.csv`.
pub const PRINCIPALS: [&str; 5] = [
    "admin",
    "county_dispatcher",
    "majin_dispatcher",
    "xiashan_official",
    "civil_officer",
];

/// The file the demo principals' tokens are written to.
pub const TOKENS_FILE: &str = "demo-tokens.json";

fn demo_error(e: impl std::fmt::Display) -> StartError {
    StartError::Demo(e.to_string())
}

/// The demo's jurisdiction tree.
pub fn divisions() -> Result<Vec<RawJurisdiction>, StartError> {
    jurisdiction::read_csv(KAIHUA_DIVISIONS.as_bytes()).map_err(demo_error)
}

/// Whether the data directory already holds a demo.
pub fn exists(data_dir: &Path) -> bool {
    data_dir.join(TOKENS_FILE).exists()
}

/// Builds the demo into an empty data directory: jurisdictions, files, sources, datasets,
/// principals and their tokens (written to `demo-tokens.json`), saved reports. Refuses a catalog that already
/// has sources, so a real deployment is never mixed with demo data.
pub async fn build(
    data_dir: &Path,
    engine: &Arc<Engine>,
    admin: &Caller,
) -> Result<BTreeMap<String, String>, StartError> {
    let catalog = engine.catalog();
    if !catalog.sources().await?.is_empty() || !catalog.datasets().await?.is_empty() {
        return Err(StartError::Demo(format!(
            "the catalog in {} already has sources; the demo needs an empty data directory",
            data_dir.display()
        )));
    }
    let nodes = divisions()?;
    engine.upsert_jurisdictions(admin, &nodes).await?;

    let villages: Vec<data::Village<'_>> = nodes
        .iter()
        .filter(|n| n.level == Level::Village.as_str())
        .map(|n| data::Village {
            code: &n.code,
            name: &n.name,
            township: n.parent.as_deref().unwrap_or_default(),
        })
        .collect();
    let root = data_dir.join("demo").join("villages");
    data::write_villages(&root, &villages, RESIDENTS_PER_VILLAGE, SEED).map_err(demo_error)?;

    for table in data::TABLES {
        let requests = villages
            .iter()
            .map(|village| {
                let folder = root.join(village.code).join(table);
                let url = url::Url::from_directory_path(&folder).map_err(|_| {
                    StartError::Demo(format!("{} is not an absolute path", folder.display()))
                })?;
                Ok(SourceRequest {
                    name: format!("{}_{table}", village.code),
                    kind: SourceKind::Files(FileFormat::Parquet),
                    url: url.to_string(),
                    secret: None,
                    owner: village.code.to_owned(),
                    options: Default::default(),
                    tables: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, StartError>>()?;
        let sources = engine.register_sources(admin, requests).await?;
        let members = sources
            .iter()
            .map(|s| MemberRequest {
                source: s.id.clone(),
                jurisdiction: s.owner.to_string(),
            })
            .collect();
        engine
            .create_dataset(
                admin,
                DatasetRequest {
                    name: format!("village.{table}"),
                    members,
                    classification: classification(table),
                },
            )
            .await?;
    }

    // the 条/块 policy; importing it creates the principals its role assignments name
    // the civil-affairs department's own database, registered as departments register theirs
    let civil_db = data_dir.join("demo").join("civil_affairs.db");
    civil::write(&civil_db, &villages, SEED).map_err(demo_error)?;
    let civil_url = url::Url::from_file_path(&civil_db)
        .map_err(|_| StartError::Demo(format!("{} is not an absolute path", civil_db.display())))?;
    engine
        .register_source(admin, civil_source(civil_url.to_string()))
        .await?;

    engine
        .import_policy(admin, tiaokuai_policies::DEMO_POLICY)
        .await?;
    let saved = reports::create(engine, admin).await?;
    let coverage = saved
        .iter()
        .find(|r| r.name == "reports.elderly_visit_coverage")
        .ok_or_else(|| StartError::Demo("the visit coverage report is missing".into()))?;
    dispatch::watch(engine, admin, coverage).await?;
    dispatch::history(engine).await?;
    let mut tokens = BTreeMap::new();
    for name in PRINCIPALS {
        let (_, token) = catalog.issue_token(name, admin.name()).await?;
        tokens.insert(name.to_owned(), token);
    }
    let path = data_dir.join(TOKENS_FILE);
    let text = serde_json::to_string_pretty(&tokens).expect("tokens serialise");
    std::fs::write(&path, text).map_err(|source| StartError::Io { path, source })?;
    Ok(tokens)
}

/// Personal columns of the demo tables.
/// The county civil-affairs database: three tables, each bound to its village column.
fn civil_source(url: String) -> SourceRequest {
    let table = |name: &str, remote: &str, classified: &[(&str, &str)]| TableRequest {
        name: name.to_owned(),
        remote: Some(remote.to_owned()),
        binding: Binding::Column {
            column: "village_code".to_owned(),
        },
        classification: classified
            .iter()
            .map(|(c, k)| ((*c).to_owned(), k.parse().expect("valid classification")))
            .collect(),
    };
    SourceRequest {
        name: "county_civil_affairs".to_owned(),
        kind: SourceKind::Database(DatabaseEngine::Sqlite),
        url,
        secret: None,
        owner: "330824000000".to_owned(),
        options: Default::default(),
        tables: vec![
            table(
                "civil.elderly_alone",
                "elderly_alone",
                &[
                    ("name", "sensitive:name"),
                    ("id_card", "sensitive:id_card"),
                    ("phone", "sensitive:phone"),
                ],
            ),
            table("civil.subsidies", "subsidies", &[]),
            table("civil.visits", "visits", &[]),
        ],
    }
}

fn classification(table: &str) -> BTreeMap<String, tiaokuai_catalog::Classification> {
    let pairs: &[(&str, &str)] = match table {
        "residents" => &[
            ("name", "sensitive:name"),
            ("id_card", "sensitive:id_card"),
            ("phone", "sensitive:phone"),
            ("birth_date", "sensitive"),
            ("living_alone", "internal"),
        ],
        "collective_income" => &[
            ("year", "public"),
            ("operating_income", "public"),
            ("total_income", "public"),
        ],
        _ => &[],
    };
    pairs
        .iter()
        .map(|(c, k)| ((*c).to_owned(), k.parse().expect("valid classification")))
        .collect()
}
