//! `application/x-ndjson`: one JSON object per row.

use async_stream::try_stream;
use bytes::Bytes;
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use super::{BodyError, ByteStream};

pub fn encode(mut stream: SendableRecordBatchStream) -> ByteStream {
    Box::pin(try_stream! {
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| -> BodyError { e.into() })?;
            let mut writer = LineDelimitedWriter::new(Vec::new());
            writer.write(&batch).map_err(|e| -> BodyError { e.into() })?;
            writer.finish().map_err(|e| -> BodyError { e.into() })?;
            yield Bytes::from(writer.into_inner());
        }
    })
}
