//! The attack suite's world: a county with two townships and three villages (one whose code
//! ends in zeros), a look-alike village of the neighbouring county, malformed codes in the data,
//! and principals for each kind of role.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use serde_json::json;
use tiaokuai_catalog::Catalog;
use tiaokuai_catalog::jurisdiction::RawJurisdiction;
use tiaokuai_engine::MemberRequest;
use tiaokuai_engine::{Caller, DatasetRequest, Engine, EngineConfig, SourceRequest};

pub const POLICY: &str = "\
p, village_official, *, village.*, read, allow
p, village_official, *, village.*, read_sensitive, allow
p, village_official, *, civil.elderly, read, allow
p, village_official, *, civil.elderly.name, read_sensitive, allow
p, dispatcher, *, *, read, allow
p, dispatcher, 330824116200, *, read, deny
p, civil_officer, *, civil.*, read, allow
p, civil_officer, *, civil.*, read_sensitive, allow
g, xiashan, village_official, 330824116224
g, huashan, village_official, 330824116200
g, majin, dispatcher, 330824116000
g, county, dispatcher, 330824000000
g, civil, civil_officer, 330824000000
g, outsider, dispatcher, 330825000000
";

pub const PRINCIPALS: [&str; 7] = [
    "xiashan", "huashan", "majin", "county", "civil", "outsider", "nobody",
];

fn node(code: &str, name: &str, level: &str, parent: Option<&str>) -> RawJurisdiction {
    RawJurisdiction {
        code: code.into(),
        name: name.into(),
        level: level.into(),
        parent: parent.map(Into::into),
    }
}

fn write(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

fn text(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn ints(values: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(values.to_vec()))
}

/// An engine over the fixture.
pub struct World {
    pub engine: Engine,
    pub catalog: Arc<dyn Catalog>,
    _dir: tempfile::TempDir,
}

impl World {
    /// The caller as it authenticates now (its roles read from the catalog).
    pub async fn caller(&self, name: &str) -> Caller {
        caller(&*self.catalog, name).await
    }
}

fn url(path: &Path) -> String {
    format!("file://{}/", path.display())
}

pub async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(tiaokuai_catalog::SqliteCatalog::open_in_memory().unwrap());
    catalog.ensure_principal("admin").await.unwrap();
    catalog
        .assign_role("admin", "admin", "*", "test")
        .await
        .unwrap();
    let config = EngineConfig {
        spill_dir: dir.path().to_owned(),
        mask_key: b"attack-suite-mask-key-0123456789".to_vec(),
        listing_cache_ttl: std::time::Duration::ZERO,
        ..EngineConfig::default()
    };
    let engine = Engine::new(catalog.clone(), config).await.unwrap();
    let admin = caller(&*catalog, "admin").await;
    engine
        .upsert_jurisdictions(
            &admin,
            &[
                node("330824000000", "开化县", "county", None),
                node("330824116000", "马金镇", "township", Some("330824000000")),
                node("330824117000", "池淮镇", "township", Some("330824000000")),
                node("330824116224", "霞山村", "village", Some("330824116000")),
                node("330824116200", "华山村", "village", Some("330824116000")),
                node("330824117201", "池淮村", "village", Some("330824117000")),
                node("330825000000", "邻县", "county", None),
                node("330825116000", "邻镇", "township", Some("330825000000")),
                node("330825116224", "邻村", "village", Some("330825116000")),
            ],
        )
        .await
        .unwrap();

    // civil.elderly: one county-wide table bound by a column, with malformed codes in the data
    let elderly = dir.path().join("elderly");
    write(
        &elderly.join("part-0.parquet"),
        vec![
            ("id", ints(&[1, 2, 3, 4, 5, 6, 7, 8, 9])),
            (
                "name",
                text(&[
                    Some("张三"),
                    Some("李四"),
                    Some("王五"),
                    Some("赵六"),
                    Some("钱七"),
                    Some("孙八"),
                    Some("周九"),
                    Some("吴十"),
                    None,
                ]),
            ),
            (
                "id_card",
                text(&[
                    Some("330824194001011234"),
                    Some("330824194502023456"),
                    Some("330824195003035678"),
                    Some("330824195504047890"),
                    Some("330825196005051111"),
                    Some("330824196506062222"),
                    Some("330824197007073333"),
                    Some("330824197508084444"),
                    Some("330824198009095555"),
                ]),
            ),
            (
                "phone",
                text(&[
                    Some("13812345678"),
                    Some("13912345678"),
                    None,
                    Some("15012345678"),
                    Some("15112345678"),
                    Some("15212345678"),
                    Some("15312345678"),
                    Some("15512345678"),
                    Some("15612345678"),
                ]),
            ),
            (
                "village_code",
                text(&[
                    Some("330824116224"),
                    Some("330824116224"),
                    Some("330824116200"),
                    Some("330824117201"),
                    Some("330825116224"),
                    Some("33082411622"),
                    Some("330824116224 "),
                    Some("３３０８２４１１６２２４"),
                    Some("330824116224"),
                ]),
            ),
            ("age", ints(&[84, 79, 74, 69, 64, 59, 54, 49, 5])),
            (
                "subsidy",
                Arc::new(Float64Array::from(vec![
                    300.0, 250.0, 200.0, 150.0, 100.0, 50.0, 25.0, 10.0, 0.0,
                ])) as ArrayRef,
            ),
        ],
    );
    let source =
        |name: &str, url: String, owner: &str, table: Option<serde_json::Value>| -> SourceRequest {
            let mut body = json!({"name": name, "kind": "parquet", "url": url, "owner": owner});
            if let Some(table) = table {
                body["tables"] = json!([table]);
            }
            serde_json::from_value(body).unwrap()
        };
    engine
        .register_source(
            &admin,
            source(
                "elderly",
                url(&elderly),
                "330824000000",
                Some(json!({"name": "civil.elderly", "binding": {"column": "village_code"},
                            "classification": {"name": "sensitive:name", "id_card": "sensitive:id_card", "phone": "sensitive:phone", "age": "sensitive"}})),
            ),
        )
        .await
        .unwrap();

    // village.households: a union of three villages' own files
    let mut members = Vec::new();
    for (code, ids, heads) in [
        ("330824116224", vec![11, 12], vec!["霞山户一", "霞山户二"]),
        ("330824116200", vec![21], vec!["华山户一"]),
        ("330824117201", vec![31, 32], vec!["池淮户一", "池淮户二"]),
    ] {
        let folder = dir.path().join("households").join(code);
        let sizes: Vec<i64> = ids.iter().map(|id| id % 10 + 1).collect();
        write(
            &folder.join("part-0.parquet"),
            vec![
                ("household_id", ints(&ids)),
                (
                    "head",
                    text(&heads.iter().map(|h| Some(*h)).collect::<Vec<_>>()),
                ),
                ("members", ints(&sizes)),
            ],
        );
        let created = engine
            .register_source(
                &admin,
                source(&format!("households_{code}"), url(&folder), code, None),
            )
            .await
            .unwrap();
        members.push(MemberRequest {
            source: created.id,
            jurisdiction: code.into(),
        });
    }
    let classification = [("head".to_owned(), "sensitive:name".parse().unwrap())]
        .into_iter()
        .collect();
    engine
        .create_dataset(
            &admin,
            DatasetRequest {
                name: "village.households".into(),
                members,
                classification,
            },
        )
        .await
        .unwrap();

    // agri.plots: one village's own table, bound to it as a whole
    let plots = dir.path().join("plots");
    write(
        &plots.join("part-0.parquet"),
        vec![
            ("plot", ints(&[1, 2])),
            ("crop", text(&[Some("茶"), Some("稻")])),
        ],
    );
    engine
        .register_source(
            &admin,
            source(
                "plots",
                url(&plots),
                "330824117201",
                Some(json!({"name": "agri.plots", "binding": {"fixed": "330824117201"}})),
            ),
        )
        .await
        .unwrap();

    for name in PRINCIPALS {
        catalog.ensure_principal(name).await.unwrap();
    }
    engine.import_policy(&admin, POLICY).await.unwrap();
    World {
        engine,
        catalog,
        _dir: dir,
    }
}

pub async fn caller(catalog: &dyn Catalog, name: &str) -> Caller {
    Caller::named(catalog, name).await.unwrap().unwrap()
}
