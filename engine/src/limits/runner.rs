//! Where queries run: threads of the engine's own whose stacks hold the deepest statement the
//! depth bound lets through, a deadline that holds while a batch is being computed, and panics
//! that fail their query instead of the process.
//!
//! Every step of a query that walks its syntax tree or its plans (parsing, planning,
//! optimising, execution, and dropping them) recurses once per nesting level, and some of those
//! recursions (derived `Clone` and `Drop`, sqlparser's parser) are not protected by
//! DataFusion's stack growth. They all run here, never on the caller's threads, so the caller's
//! runtime (the server's, or a test's) needs no particular stack. DataFusion spawns its own
//! tasks on the runtime that polls it, which is this one.
//!
//! A query is one task: it plans, starts and pulls batches, and hands them over through a
//! channel of one batch. The caller waits with the deadline; at the deadline, or when the caller
//! stops reading, the task is aborted. An abort takes effect at the task's next yield, and the
//! caps on caller-sized values (see [`super::capped`]) keep every single batch short.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::error::{EngineError, Result};

/// Stack of each query thread. The deepest statements the default depth bound allows use
/// about a tenth of it in a debug build (see the README's "Limits"; `query_stack_high_water`
/// measures it), and a release build less; stacks are reserved address space, of which only
/// the pages a query touched are memory.
pub const QUERY_STACK_BYTES: usize = 256 << 20;

/// Threads for blocking work (local file reads) beside the workers.
const MAX_BLOCKING_THREADS: usize = 64;

/// The engine's query threads.
#[derive(Debug)]
pub struct QueryRuntime {
    runtime: Option<tokio::runtime::Runtime>,
    /// An address inside each query thread's stack, to find the stacks in the memory map.
    stacks: Arc<Mutex<Vec<usize>>>,
}

impl Drop for QueryRuntime {
    fn drop(&mut self) {
        // an engine may be dropped inside another runtime (a test's), where blocking is not
        // allowed: the threads are told to stop and left to finish on their own
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What the query task tells its caller once it has started.
type Started = Result<(SchemaRef, Option<RecordBatch>)>;

/// One message of the batch channel. The task ends with `Done`, so a channel that closes
/// without it means the task was stopped, not that the result was complete.
enum Message {
    Batch(Result<RecordBatch, DataFusionError>),
    Done,
}

impl QueryRuntime {
    /// Starts `threads` worker threads (at least one).
    pub fn new(threads: usize) -> Result<Self> {
        let stacks = Arc::new(Mutex::new(Vec::new()));
        let recorded = stacks.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("tiaokuai-query")
            // applies to the blocking threads too, where file reads run; they are few, so the
            // address space the stacks reserve stays bounded
            .thread_stack_size(QUERY_STACK_BYTES)
            .max_blocking_threads(MAX_BLOCKING_THREADS)
            .on_thread_start(move || {
                let marker = 0u8;
                let address = std::ptr::from_ref(&marker) as usize;
                recorded
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(address);
            })
            .enable_all()
            .build()
            .map_err(|e| {
                EngineError::Internal(format!("cannot start the query threads: {e}").into())
            })?;
        Ok(Self {
            runtime: Some(runtime),
            stacks,
        })
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime
            .as_ref()
            .expect("the runtime lives until drop")
            .handle()
    }

    /// Runs `start` (which plans the query and returns its stream) on the query threads and
    /// waits, until `deadline`, for the first batch. The returned stream yields the rest and
    /// ends with a timeout error at the deadline; dropping it stops the query.
    pub async fn run<F>(
        &self,
        deadline: Instant,
        timeout: Duration,
        start: F,
    ) -> Result<(SchemaRef, SendableRecordBatchStream)>
    where
        F: Future<Output = Result<(SchemaRef, SendableRecordBatchStream)>> + Send + 'static,
    {
        let (started_tx, started_rx) = oneshot::channel::<Started>();
        let (batch_tx, batch_rx) = mpsc::channel::<Message>(1);
        let task = self.handle().spawn(produce(start, started_tx, batch_tx));
        let stop = StopOnDrop(task.abort_handle());
        let (schema, first) = match tokio::time::timeout_at(deadline, started_rx).await {
            Err(_) => return Err(EngineError::Timeout(timeout)),
            Ok(Err(_)) => return Err(stopped()),
            Ok(Ok(started)) => started?,
        };
        let rest = futures::stream::unfold(Some((batch_rx, stop)), move |state| async move {
            let (mut batches, stop) = state?;
            match tokio::time::timeout_at(deadline, batches.recv()).await {
                // an error ends the stream: the task has stopped after sending it
                Ok(Some(Message::Batch(Err(error)))) => Some((Err(error), None)),
                Ok(Some(Message::Batch(item))) => Some((item, Some((batches, stop)))),
                Ok(Some(Message::Done)) => None,
                Ok(None) => Some((Err(stopped().into()), None)),
                Err(_) => Some((Err(EngineError::Timeout(timeout).into()), None)),
            }
        });
        let body = futures::stream::iter(first.map(Ok)).chain(rest);
        Ok((
            schema.clone(),
            Box::pin(RecordBatchStreamAdapter::new(schema, body)),
        ))
    }

    /// The most stack any query thread has used so far, in bytes: the resident pages of the
    /// thread stacks, read from `/proc/self/smaps` (Linux). `None` where that cannot be read.
    pub fn stack_high_water(&self) -> Option<usize> {
        let addresses = self
            .stacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let smaps = std::fs::read_to_string(Path::new("/proc/self/smaps")).ok()?;
        // no thread started yet has used nothing
        let mut high = addresses.is_empty().then_some(0);
        let mut current: Option<bool> = None;
        for line in smaps.lines() {
            let mut words = line.split_whitespace();
            let Some(first) = words.next() else { continue };
            if let Some((start, end)) = first.split_once('-')
                && let (Ok(start), Ok(end)) = (
                    usize::from_str_radix(start, 16),
                    usize::from_str_radix(end, 16),
                )
            {
                current = Some(addresses.iter().any(|a| (start..end).contains(a)));
            } else if first == "Rss:" && current == Some(true) {
                let kib: usize = words.next()?.parse().ok()?;
                high = Some(high.unwrap_or(0).max(kib << 10));
            }
        }
        high
    }
}

struct StopOnDrop(AbortHandle);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn stopped() -> EngineError {
    EngineError::Internal("the query's task stopped before it finished".into())
}

/// The query task: starts the query, reports how that went, then forwards batches until the
/// stream ends or nobody reads them. A panic anywhere in it fails this query alone.
async fn produce<F>(start: F, started: oneshot::Sender<Started>, batches: mpsc::Sender<Message>)
where
    F: Future<Output = Result<(SchemaRef, SendableRecordBatchStream)>> + Send + 'static,
{
    let opened = AssertUnwindSafe(async {
        let (schema, mut stream) = start.await?;
        let first = stream.next().await.transpose()?;
        Ok::<_, EngineError>((schema, first, stream))
    })
    .catch_unwind()
    .await
    .unwrap_or_else(|panic| Err(panicked(panic)));
    let mut stream = match opened {
        Ok((schema, first, stream)) => {
            if started.send(Ok((schema, first))).is_err() {
                return;
            }
            stream
        }
        Err(error) => {
            let _ = started.send(Err(error));
            return;
        }
    };
    loop {
        let next = AssertUnwindSafe(stream.next()).catch_unwind().await;
        let message = match next {
            Ok(Some(item)) => Message::Batch(item),
            Ok(None) => Message::Done,
            Err(panic) => Message::Batch(Err(panicked(panic).into())),
        };
        let last = !matches!(message, Message::Batch(Ok(_)));
        if batches.send(message).await.is_err() || last {
            return;
        }
    }
}

/// A panic inside DataFusion or the engine, turned into this query's internal error. The panic
/// itself was already printed by the panic hook; the message goes to the log, not the client.
fn panicked(payload: Box<dyn Any + Send>) -> EngineError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    tracing::error!(panic = %message, "a query panicked; it fails alone");
    EngineError::Internal(format!("the query panicked: {message}").into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]))
    }

    fn batch(n: i64) -> RecordBatch {
        RecordBatch::try_new(schema(), vec![Arc::new(Int64Array::from(vec![n]))]).unwrap()
    }

    /// A stream of `batches`, then whatever `after` does when polled for the next one.
    fn stream_of(
        batches: Vec<RecordBatch>,
        after: impl Fn() -> Option<Result<RecordBatch, DataFusionError>> + Send + 'static,
    ) -> SendableRecordBatchStream {
        let rest = futures::stream::iter(batches.into_iter().map(Ok)).chain(
            futures::stream::poll_fn(move |_| std::task::Poll::Ready(after())),
        );
        Box::pin(RecordBatchStreamAdapter::new(schema(), rest))
    }

    fn far() -> (Instant, Duration) {
        (
            Instant::now() + Duration::from_secs(60),
            Duration::from_secs(60),
        )
    }

    #[tokio::test]
    async fn batches_arrive_in_order_and_the_stream_ends() {
        let runtime = QueryRuntime::new(1).unwrap();
        let (deadline, timeout) = far();
        let (_, stream) = runtime
            .run(deadline, timeout, async {
                Ok((
                    schema(),
                    stream_of(vec![batch(1), batch(2), batch(3)], || None),
                ))
            })
            .await
            .unwrap();
        let batches: Vec<RecordBatch> = futures::TryStreamExt::try_collect(stream).await.unwrap();
        assert_eq!(batches, vec![batch(1), batch(2), batch(3)]);
    }

    #[tokio::test]
    async fn a_panic_while_starting_fails_that_query_alone() {
        let runtime = QueryRuntime::new(1).unwrap();
        let (deadline, timeout) = far();
        let failed = runtime
            .run(deadline, timeout, async {
                panic!("planning went wrong");
                #[allow(unreachable_code)]
                Ok((schema(), stream_of(vec![], || None)))
            })
            .await;
        assert!(
            matches!(&failed, Err(EngineError::Internal(m)) if m.contains("planning went wrong")),
            "{:?}",
            failed.err()
        );
        // the same threads keep running queries
        let (_, stream) = runtime
            .run(deadline, timeout, async {
                Ok((schema(), stream_of(vec![batch(7)], || None)))
            })
            .await
            .unwrap();
        let batches: Vec<RecordBatch> = futures::TryStreamExt::try_collect(stream).await.unwrap();
        assert_eq!(batches, vec![batch(7)]);
    }

    #[tokio::test]
    async fn a_panic_after_the_first_batch_ends_the_stream_with_an_error() {
        let runtime = QueryRuntime::new(1).unwrap();
        let (deadline, timeout) = far();
        let (_, mut stream) = runtime
            .run(deadline, timeout, async {
                Ok((
                    schema(),
                    stream_of(vec![batch(1)], || panic!("a kernel went wrong")),
                ))
            })
            .await
            .unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap(), batch(1));
        let failed = stream.next().await.unwrap().unwrap_err();
        assert!(
            failed.to_string().contains("a kernel went wrong"),
            "{failed}"
        );
        assert!(stream.next().await.is_none());
    }

    /// A query thread busy inside one call (here: blocked for 30 s) does not hold up the
    /// answer: the deadline passes and the caller has its timeout while the thread still works.
    #[tokio::test]
    async fn the_deadline_holds_while_a_batch_is_being_computed() {
        let runtime = QueryRuntime::new(1).unwrap();
        let timeout = Duration::from_millis(200);
        let started = runtime.run(Instant::now() + timeout, timeout, async {
            std::thread::sleep(Duration::from_secs(30));
            Ok((schema(), stream_of(vec![batch(1)], || None)))
        });
        // bounded, so that a deadline that does not hold fails the test instead of hanging it
        let answer = tokio::time::timeout(Duration::from_secs(20), started)
            .await
            .expect("the caller was answered before the query thread finished");
        assert!(
            matches!(answer, Err(EngineError::Timeout(_))),
            "{:?}",
            answer.err()
        );
    }

    #[tokio::test]
    async fn dropping_the_stream_stops_the_query() {
        let runtime = QueryRuntime::new(1).unwrap();
        let (deadline, timeout) = far();
        let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = polls.clone();
        let (_, mut stream) = runtime
            .run(deadline, timeout, async move {
                Ok((
                    schema(),
                    stream_of(vec![batch(1)], move || {
                        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        Some(Ok(batch(2)))
                    }),
                ))
            })
            .await
            .unwrap();
        stream.next().await.unwrap().unwrap();
        drop(stream);
        // once the task is aborted nothing polls the query any more
        let mut settled = polls.load(std::sync::atomic::Ordering::SeqCst);
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = polls.load(std::sync::atomic::Ordering::SeqCst);
            if now == settled {
                break;
            }
            settled = now;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(polls.load(std::sync::atomic::Ordering::SeqCst), settled);
        // the channel holds one batch: the query ran at most a couple of batches ahead
        assert!(settled <= 3, "{settled} batches were computed for nobody");
    }

    #[tokio::test]
    async fn the_stack_high_water_is_measured_on_the_query_threads() {
        let runtime = QueryRuntime::new(1).unwrap();
        let (deadline, timeout) = far();
        let before = runtime.stack_high_water().unwrap_or(0);
        let (_, stream) = runtime
            .run(deadline, timeout, async {
                // 8 MiB of stack, touched
                fn deep(n: usize) -> usize {
                    let frame = [n as u8; 1024];
                    if n == 0 {
                        frame[0] as usize
                    } else {
                        deep(n - 1) + frame[n % 1024] as usize
                    }
                }
                std::hint::black_box(deep(8 * 1024));
                Ok((schema(), stream_of(vec![], || None)))
            })
            .await
            .unwrap();
        drop(stream);
        let after = runtime.stack_high_water().unwrap();
        assert!(after >= before + (8 << 20), "{before} then {after}");
        assert!(after < QUERY_STACK_BYTES);
    }
}
