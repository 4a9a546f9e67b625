//! What a file source is, parsed from its registration and checked before anything is opened.

use std::str::FromStr;

use datafusion::arrow::datatypes::DataType;
use serde_json::{Map, Value};
use url::Url;

use crate::error::{ConnectorError, Result};
use crate::secret;

/// The format of a file source's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormatKind {
    Parquet,
    Csv,
}

impl FileFormatKind {
    pub fn name(self) -> &'static str {
        match self {
            FileFormatKind::Parquet => "Parquet",
            FileFormatKind::Csv => "CSV",
        }
    }

    fn default_extension(self) -> &'static str {
        match self {
            FileFormatKind::Parquet => ".parquet",
            FileFormatKind::Csv => ".csv",
        }
    }
}

/// Options of an S3-compatible store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Options {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub allow_http: bool,
    pub skip_signature: bool,
}

/// A Parquet or CSV source on `file://`, `s3://` or `http(s)://`.
#[derive(Debug, Clone)]
pub struct FileSourceSpec {
    /// The source's name, used in every message about it.
    pub name: String,
    /// A key unique to this source (its id): each source gets an object store of its own, so
    /// two sources on the same bucket with different credentials never share one.
    pub store_key: String,
    pub format: FileFormatKind,
    /// One URL (a file, or a folder/prefix ending in `/`), or an explicit list of files.
    pub urls: Vec<Url>,
    /// Hive-style partition columns (`township=…/village=…/`), read as text.
    pub partition_columns: Vec<String>,
    pub file_extension: String,
    pub has_header: bool,
    pub delimiter: u8,
    pub s3: S3Options,
    /// The S3 secret access key: a reference, or a value sealed with `seal_key`.
    pub secret: Option<String>,
    /// The server's key for secrets given inline.
    pub seal_key: Option<secret::SealKey>,
    /// Types that replace inferred ones (CSV inference reads `330824116224` as a number).
    pub column_types: Vec<(String, DataType)>,
    /// For a source registered by a non-admin: what its owner was granted, checked on every
    /// path read and address connected to. `None` reaches what the server can.
    pub reach: Option<std::sync::Arc<crate::reach::Reach>>,
}

pub(crate) const KNOWN_OPTIONS: &[&str] = &[
    "partition_columns",
    "files",
    "file_extension",
    "has_header",
    "delimiter",
    "endpoint",
    "region",
    "access_key_id",
    "allow_http",
    "skip_signature",
    "column_types",
];

fn parse_url(text: &str) -> Result<Url> {
    let url = Url::parse(text)
        .map_err(|e| ConnectorError::invalid(format!("{text:?} is not a valid URL: {e}")))?;
    match url.scheme() {
        "file" | "s3" | "http" | "https" => {}
        other => {
            return Err(ConnectorError::invalid(format!(
                "unsupported URL scheme {other:?} for a file source: use file://, s3://, http:// or https://"
            )));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConnectorError::invalid(
            "credentials do not belong in a source URL: give them as options and a secret reference",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConnectorError::invalid(format!(
            "{text:?}: a file source URL takes no query or fragment"
        )));
    }
    match url.scheme() {
        "s3" if url.host_str().is_none_or(str::is_empty) => Err(ConnectorError::invalid(format!(
            "{text:?} names no bucket: write s3://bucket/prefix/"
        ))),
        "http" | "https" if url.path().ends_with('/') => Err(ConnectorError::invalid(format!(
            "{text:?} is a folder, and plain HTTP cannot list folders: give a file URL, or list the files in options.files"
        ))),
        "file"
            if url
                .host_str()
                .is_some_and(|h| !h.is_empty() && h != "localhost") =>
        {
            Err(ConnectorError::invalid(format!(
                "{text:?}: file URLs must be local (file:///path)"
            )))
        }
        _ => Ok(url),
    }
}

fn string_option(options: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ConnectorError::invalid(format!(
            "option {key:?} must be a string"
        ))),
    }
}

fn bool_option(options: &Map<String, Value>, key: &str, default: bool) -> Result<bool> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ConnectorError::invalid(format!(
            "option {key:?} must be true or false"
        ))),
    }
}

fn string_list_option(options: &Map<String, Value>, key: &str) -> Result<Vec<String>> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    ConnectorError::invalid(format!("option {key:?} must be a list of strings"))
                })
            })
            .collect(),
        Some(_) => Err(ConnectorError::invalid(format!(
            "option {key:?} must be a list of strings"
        ))),
    }
}

impl FileSourceSpec {
    /// Parses and checks a source description. Nothing is opened or read here except, for a
    /// local path, whether it is a folder.
    pub fn parse(
        name: &str,
        store_key: &str,
        format: FileFormatKind,
        url: &str,
        options: &Map<String, Value>,
        secret: Option<&str>,
        seal_key: Option<&secret::SealKey>,
    ) -> Result<Self> {
        if let Some(unknown) = options
            .keys()
            .find(|k| !KNOWN_OPTIONS.contains(&k.as_str()))
        {
            return Err(ConnectorError::invalid(format!(
                "unknown option {unknown:?}; file sources take {}",
                KNOWN_OPTIONS.join(", ")
            )));
        }
        let mut urls = vec![parse_url(url)?];
        for extra in string_list_option(options, "files")? {
            let extra = parse_url(&extra)?;
            if extra.scheme() != urls[0].scheme()
                || extra.host_str() != urls[0].host_str()
                || extra.port() != urls[0].port()
            {
                return Err(ConnectorError::invalid(format!(
                    "every file in options.files must be on the same host as {url:?}; {extra} is not"
                )));
            }
            urls.push(extra);
        }
        for url in &mut urls {
            if url.scheme() == "file" && !url.path().ends_with('/') {
                let path = url
                    .to_file_path()
                    .map_err(|_| ConnectorError::invalid(format!("{url} is not a local path")))?;
                if path.is_dir() {
                    url.set_path(&format!("{}/", url.path()));
                }
            }
        }
        let partition_columns = string_list_option(options, "partition_columns")?;
        for column in &partition_columns {
            let valid = column
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && column
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(ConnectorError::invalid(format!(
                    "partition column {column:?} must be an identifier"
                )));
            }
        }
        if !partition_columns.is_empty() && urls.iter().any(|u| !u.path().ends_with('/')) {
            return Err(ConnectorError::invalid(
                "partition columns need a folder or prefix URL ending in '/'",
            ));
        }
        let single_files = urls.iter().all(|u| !u.path().ends_with('/'));
        let file_extension = match string_option(options, "file_extension")? {
            Some(ext) => ext,
            // a file named explicitly is read whatever it is called
            None if single_files => String::new(),
            None => format.default_extension().to_owned(),
        };
        let delimiter = match string_option(options, "delimiter")? {
            None => b',',
            Some(d) if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
            Some(d) => {
                return Err(ConnectorError::invalid(format!(
                    "delimiter {d:?} must be one ASCII character"
                )));
            }
        };
        let s3 = S3Options {
            endpoint: string_option(options, "endpoint")?,
            region: string_option(options, "region")?,
            access_key_id: string_option(options, "access_key_id")?,
            allow_http: bool_option(options, "allow_http", false)?,
            skip_signature: bool_option(options, "skip_signature", false)?,
        };
        if let Some(endpoint) = &s3.endpoint {
            let parsed = Url::parse(endpoint).map_err(|e| {
                ConnectorError::invalid(format!("endpoint {endpoint:?} is not a valid URL: {e}"))
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ConnectorError::invalid(format!(
                    "endpoint {endpoint:?} must be an http:// or https:// URL"
                )));
            }
        }
        let is_s3 = urls[0].scheme() == "s3";
        if !is_s3 && (s3 != S3Options::default() || secret.is_some()) {
            return Err(ConnectorError::invalid(
                "endpoint, region, access_key_id, allow_http, skip_signature and secret apply only to s3:// sources",
            ));
        }
        if let Some(reference) = secret {
            secret::validate_reference(reference)?;
        }
        let column_types = match options.get("column_types") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(types)) => types
                .iter()
                .map(|(column, text)| {
                    let text = text.as_str().ok_or_else(|| {
                        ConnectorError::invalid(format!(
                            "column_types.{column} must be a type name such as \"Utf8\""
                        ))
                    })?;
                    let data_type = DataType::from_str(text).map_err(|_| {
                        ConnectorError::invalid(format!(
                            "column_types.{column}: {text:?} is not an Arrow type name"
                        ))
                    })?;
                    Ok((column.clone(), data_type))
                })
                .collect::<Result<_>>()?,
            Some(_) => {
                return Err(ConnectorError::invalid(
                    "option \"column_types\" must be an object of column: type",
                ));
            }
        };
        Ok(Self {
            column_types,
            name: name.to_owned(),
            store_key: store_key.to_owned(),
            format,
            urls,
            partition_columns,
            file_extension,
            has_header: bool_option(options, "has_header", true)?,
            delimiter,
            s3,
            secret: secret.map(str::to_owned),
            seal_key: seal_key.cloned(),
            reach: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(url: &str, options: Value) -> Result<FileSourceSpec> {
        let Value::Object(options) = options else {
            panic!()
        };
        FileSourceSpec::parse(
            "t",
            "src_1",
            FileFormatKind::Parquet,
            url,
            &options,
            None,
            None,
        )
    }

    #[test]
    fn urls_are_checked() {
        assert!(parse("not a url", json!({})).is_err());
        assert!(parse("ftp://host/x.parquet", json!({})).is_err());
        assert!(parse("postgres://u@h/db", json!({})).is_err());
        assert!(parse("http://host/folder/", json!({})).is_err());
        assert!(parse("s3://user:pw@bucket/x/", json!({})).is_err());
        assert!(parse("s3:///x/", json!({})).is_err());
        assert!(
            parse(
                "http://host/x.parquet",
                json!({"files": ["http://other/y.parquet"]})
            )
            .is_err()
        );
        assert!(parse("file:///tmp/x/", json!({"typo": 1})).is_err());
        assert!(
            parse(
                "file:///tmp/x/",
                json!({"endpoint": "http://127.0.0.1:9000"})
            )
            .is_err()
        );
        let ok = parse(
            "s3://bucket/prefix/",
            json!({"endpoint": "http://127.0.0.1:9000", "allow_http": true}),
        )
        .unwrap();
        assert_eq!(ok.file_extension, ".parquet");
        let single = parse(
            "http://host/x.data",
            json!({"files": ["http://host/y.data"]}),
        )
        .unwrap();
        assert_eq!(single.urls.len(), 2);
        assert_eq!(single.file_extension, "");
    }

    #[test]
    fn local_folders_get_a_trailing_slash() {
        let dir = tempfile::tempdir().unwrap();
        let url = Url::from_directory_path(dir.path()).unwrap();
        let without_slash = url.as_str().trim_end_matches('/');
        let spec = parse(without_slash, json!({})).unwrap();
        assert!(spec.urls[0].path().ends_with('/'));
    }
}
