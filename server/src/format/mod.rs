//! Response formats, one encoder per file. Each turns a record-batch stream into a stream of
//! byte chunks as batches arrive; none holds a whole result.

mod arrow;
mod csv;
mod json;
mod ndjson;
mod parquet;

use axum::http::HeaderValue;
use bytes::Bytes;
use datafusion::execution::SendableRecordBatchStream;
use futures::stream::BoxStream;

/// The error type of a response body stream; hyper aborts the response on one.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A body as it is produced.
pub type ByteStream = BoxStream<'static, Result<Bytes, BodyError>>;

/// A result format of `POST /v1/query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Ndjson,
    Csv,
    Arrow,
    Parquet,
}

pub(crate) const ALL: [Format; 5] = [
    Format::Json,
    Format::Ndjson,
    Format::Csv,
    Format::Arrow,
    Format::Parquet,
];

impl Format {
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => "application/vnd.apache.arrow.stream",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
            Format::Arrow => "arrow",
            Format::Parquet => "parquet",
        }
    }

    /// `?format=` wins; otherwise the first media type in `Accept` that we produce. `*/*`, a
    /// missing header and `application/*` give JSON. `None` means nothing acceptable (406).
    pub fn negotiate(format: Option<&str>, accept: Option<&HeaderValue>) -> Result<Self, String> {
        if let Some(name) = format {
            return ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| {
                format!("unknown format {name:?}: use json, ndjson, csv, arrow or parquet")
            });
        }
        let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
            return Ok(Format::Json);
        };
        for item in accept.split(',') {
            let media = item
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            match media.as_str() {
                "" | "*/*" | "application/*" => return Ok(Format::Json),
                "text/*" => return Ok(Format::Csv),
                _ => {}
            }
            if let Some(found) = ALL
                .into_iter()
                .find(|f| f.media_type().split(';').next() == Some(media.as_str()))
            {
                return Ok(found);
            }
        }
        Err(format!(
            "none of the media types in Accept ({accept}) can be produced: use application/json, application/x-ndjson, text/csv, application/vnd.apache.arrow.stream or application/vnd.apache.parquet"
        ))
    }

    /// Encodes a stream in this format.
    pub fn encode(self, stream: SendableRecordBatchStream) -> ByteStream {
        match self {
            Format::Json => json::encode(stream),
            Format::Ndjson => ndjson::encode(stream),
            Format::Csv => csv::encode(stream),
            Format::Arrow => arrow::encode(stream),
            Format::Parquet => parquet::encode(stream),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(Format::negotiate(None, None), Ok(Format::Json));
        assert_eq!(
            Format::negotiate(Some("csv"), Some(&h("application/json"))),
            Ok(Format::Csv)
        );
        assert_eq!(
            Format::negotiate(None, Some(&h("text/csv"))),
            Ok(Format::Csv)
        );
        assert_eq!(
            Format::negotiate(None, Some(&h("application/vnd.apache.arrow.stream"))),
            Ok(Format::Arrow)
        );
        assert_eq!(
            Format::negotiate(None, Some(&h("text/html, application/x-ndjson;q=0.9"))),
            Ok(Format::Ndjson)
        );
        assert_eq!(Format::negotiate(None, Some(&h("*/*"))), Ok(Format::Json));
        assert!(Format::negotiate(None, Some(&h("image/png"))).is_err());
        assert!(Format::negotiate(Some("xml"), None).is_err());
    }
}
