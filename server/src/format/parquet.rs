//! `application/vnd.apache.parquet`: one Parquet file. Row groups are flushed to the client as
//! they fill, so memory stays bounded by one row group, not the result.

use async_stream::try_stream;
use bytes::Bytes;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use futures::StreamExt;

use super::{BodyError, ByteStream};

/// Rows per row group: large enough for good compression, small enough to stream.
const ROW_GROUP_ROWS: usize = 128 * 1024;

pub fn encode(mut stream: SendableRecordBatchStream) -> ByteStream {
    Box::pin(try_stream! {
        let schema = stream.schema();
        let properties = WriterProperties::builder().set_max_row_group_row_count(Some(ROW_GROUP_ROWS)).build();
        let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(properties)).map_err(|e| -> BodyError { e.into() })?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| -> BodyError { e.into() })?;
            writer.write(&batch).map_err(|e| -> BodyError { e.into() })?;
            let written = std::mem::take(writer.inner_mut());
            if !written.is_empty() {
                yield Bytes::from(written);
            }
        }
        let rest = writer.into_inner().map_err(|e| -> BodyError { e.into() })?;
        yield Bytes::from(rest);
    })
}
