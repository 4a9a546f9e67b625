//! A statement's connection, held for as long as its rows stream.
//!
//! datafusion-table-providers hands a pooled PostgreSQL connection back to its pool as soon as
//! a statement has *started*: the rows keep streaming on it while the pool lends it to the next
//! query, whose statements then queue behind the unread rows (a client that stops reading
//! would stall every query that draws that connection). [`held`] keeps the connection with the
//! rows until the last one has arrived. A stream dropped before that (its query was cancelled
//! or cut) gives the connection to `release` instead, which ends the statement in the database
//! before the connection may be lent again.

use std::pin::Pin;
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::error::Result;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{Stream, StreamExt};

type Release<C> = Box<dyn FnOnce(C) + Send>;

struct Held<C> {
    rows: SendableRecordBatchStream,
    connection: Option<C>,
    finished: bool,
    release: Option<Release<C>>,
}

impl<C: Unpin> Stream for Held<C> {
    type Item = Result<RecordBatch>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let next = this.rows.poll_next_unpin(cx);
        if let Poll::Ready(None) = next {
            // the statement has ended: the connection is free for the pool again
            this.finished = true;
            this.connection = None;
        }
        next
    }
}

impl<C> Drop for Held<C> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let (Some(connection), Some(release)) = (self.connection.take(), self.release.take()) {
            release(connection);
        }
    }
}

/// `rows`, holding `connection` until they end; `release` gets the connection if the stream is
/// dropped before that.
pub fn held<C: Send + Unpin + 'static>(
    rows: SendableRecordBatchStream,
    connection: C,
    release: impl FnOnce(C) + Send + 'static,
) -> SendableRecordBatchStream {
    let schema = rows.schema();
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        Held {
            rows,
            connection: Some(connection),
            finished: false,
            release: Some(Box::new(release)),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn rows(count: i64) -> SendableRecordBatchStream {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batches: Vec<Result<RecordBatch>> = (0..count)
            .map(|n| {
                Ok(
                    RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![n]))])
                        .unwrap(),
                )
            })
            .collect();
        Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::iter(batches),
        ))
    }

    /// A connection that counts how it was let go.
    struct Connection(Arc<AtomicUsize>);

    impl Drop for Connection {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn the_connection_is_held_until_the_last_row_and_released_if_cut_short() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let released = Arc::new(AtomicUsize::new(0));
        let on_release = |released: Arc<AtomicUsize>| {
            move |_connection: Connection| {
                released.fetch_add(1, Ordering::SeqCst);
            }
        };
        // read to the end: held throughout, then simply let go
        let mut stream = held(
            rows(3),
            Connection(dropped.clone()),
            on_release(released.clone()),
        );
        assert!(stream.next().await.is_some());
        assert!(stream.next().await.is_some());
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        assert!(stream.next().await.is_some());
        assert!(stream.next().await.is_none());
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        drop(stream);
        assert_eq!(released.load(Ordering::SeqCst), 0);
        // dropped part way: the connection goes to `release`
        let mut stream = held(
            rows(3),
            Connection(dropped.clone()),
            on_release(released.clone()),
        );
        assert!(stream.next().await.is_some());
        drop(stream);
        assert_eq!(released.load(Ordering::SeqCst), 1);
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
    }
}
