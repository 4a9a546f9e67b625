//! `application/json`: `{"columns": [{"name", "type"}], "rows": [[…], …], "row_count": N}`,
//! written row by row as batches arrive.

use async_stream::try_stream;
use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::writer::{EncoderOptions, make_encoder};
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use super::{BodyError, ByteStream};

fn header(stream: &SendableRecordBatchStream) -> Bytes {
    let columns: Vec<_> = stream
        .schema()
        .fields()
        .iter()
        .map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string()}))
        .collect();
    let mut out = br#"{"columns":"#.to_vec();
    out.extend(serde_json::to_vec(&columns).expect("column list serialises"));
    out.extend(br#","rows":["#);
    Bytes::from(out)
}

/// Writes the batch's rows as JSON arrays, each preceded by a comma unless it is the very first.
fn rows(batch: &RecordBatch, first: &mut bool, out: &mut Vec<u8>) -> Result<(), ArrowError> {
    let options = EncoderOptions::default();
    let schema = batch.schema();
    let mut encoders = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| make_encoder(field, column.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()?;
    for row in 0..batch.num_rows() {
        if !std::mem::take(first) {
            out.push(b',');
        }
        out.push(b'[');
        for (index, encoder) in encoders.iter_mut().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            if encoder.is_null(row) {
                out.extend_from_slice(b"null");
            } else {
                encoder.encode(row, out);
            }
        }
        out.push(b']');
    }
    Ok(())
}

pub fn encode(mut stream: SendableRecordBatchStream) -> ByteStream {
    Box::pin(try_stream! {
        yield header(&stream);
        let mut first = true;
        let mut count = 0usize;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| -> BodyError { e.into() })?;
            count += batch.num_rows();
            let mut out = Vec::new();
            rows(&batch, &mut first, &mut out).map_err(|e| -> BodyError { e.into() })?;
            yield Bytes::from(out);
        }
        yield Bytes::from(format!(r#"],"row_count":{count}}}"#));
    })
}
