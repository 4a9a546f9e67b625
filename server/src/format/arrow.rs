//! `application/vnd.apache.arrow.stream`: Arrow IPC stream format.

use async_stream::try_stream;
use bytes::Bytes;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use super::{BodyError, ByteStream};

pub fn encode(mut stream: SendableRecordBatchStream) -> ByteStream {
    Box::pin(try_stream! {
        let schema = stream.schema();
        let mut writer = StreamWriter::try_new(Vec::new(), &schema).map_err(|e| -> BodyError { e.into() })?;
        yield Bytes::from(std::mem::take(writer.get_mut()));
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| -> BodyError { e.into() })?;
            writer.write(&batch).map_err(|e| -> BodyError { e.into() })?;
            yield Bytes::from(std::mem::take(writer.get_mut()));
        }
        writer.finish().map_err(|e| -> BodyError { e.into() })?;
        yield Bytes::from(std::mem::take(writer.get_mut()));
    })
}
