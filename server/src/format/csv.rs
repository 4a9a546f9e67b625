//! `text/csv`: a header line, then rows (RFC 4180 quoting).

use async_stream::try_stream;
use bytes::Bytes;
use datafusion::arrow::csv::WriterBuilder;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use super::{BodyError, ByteStream};

pub fn encode(mut stream: SendableRecordBatchStream) -> ByteStream {
    Box::pin(try_stream! {
        // the header is written even for an empty result
        let header: Vec<String> = stream.schema().fields().iter().map(|f| f.name().clone()).collect();
        let mut line = csv_line(&header);
        line.push(b'\n');
        yield Bytes::from(line);
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| -> BodyError { e.into() })?;
            let mut writer = WriterBuilder::new().with_header(false).build(Vec::new());
            writer.write(&batch).map_err(|e| -> BodyError { e.into() })?;
            yield Bytes::from(writer.into_inner());
        }
    })
}

fn csv_line(fields: &[String]) -> Vec<u8> {
    fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
        .into_bytes()
}
