//! Test data: a small jurisdiction tree and Parquet/CSV files written by the tests themselves.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use serde_json::{Value, json};

pub const COUNTY: &str = "330824000000";
pub const MAJIN: &str = "330824116000";
pub const XIASHAN: &str = "330824116224";
pub const HUASHAN: &str = "330824116200"; // a village whose code ends in zeros
pub const CHIHUAI: &str = "330824117000";
pub const CHIHUAI_VILLAGE: &str = "330824117201";

pub fn tree() -> Value {
    json!([
        {"code": COUNTY, "name": "开化县", "level": "county", "parent": null},
        {"code": MAJIN, "name": "马金镇", "level": "township", "parent": COUNTY},
        {"code": CHIHUAI, "name": "池淮镇", "level": "township", "parent": COUNTY},
        {"code": XIASHAN, "name": "霞山村", "level": "village", "parent": MAJIN},
        {"code": HUASHAN, "name": "华山村", "level": "village", "parent": MAJIN},
        {"code": CHIHUAI_VILLAGE, "name": "池淮村", "level": "village", "parent": CHIHUAI},
    ])
}

/// A `people` batch: id, name, village_code.
pub fn people(rows: &[(i64, &str, &str)]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("village_code", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

pub fn write_parquet(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

pub fn parquet_bytes(batch: &RecordBatch) -> Vec<u8> {
    let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.into_inner().unwrap()
}

pub fn file_url(path: &Path) -> String {
    if path.is_dir() {
        url::Url::from_directory_path(path).unwrap().to_string()
    } else {
        url::Url::from_file_path(path).unwrap().to_string()
    }
}

/// A parquet source body for `POST /v1/sources`.
pub fn parquet_source(name: &str, url: &str, owner: &str, table: Option<Value>) -> Value {
    let mut body = json!({"name": name, "kind": "parquet", "url": url, "owner": owner});
    if let Some(table) = table {
        body["tables"] = json!([table]);
    }
    body
}
