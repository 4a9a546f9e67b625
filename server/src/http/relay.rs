//! The relay between a running query and its response body.
//!
//! A query holds what it reads from — a database source's connection and one of its slots, the
//! caller's turn, memory — for as long as its stream lives. Left to hyper, the stream lives as
//! long as the connection: a client that stops reading would hold all of that until it goes
//! away. So a task of its own drives the query and the encoder, and hands the encoded chunks
//! to the body through a channel of [`CHUNKS`] places: the query runs ahead of the client by
//! at most that many chunks (each one batch), plus what the socket buffers. When the client
//! takes nothing for the send-idle time, the task drops the query — which releases everything
//! it held — and the response is aborted, so the client sees a cut answer, never a short
//! one that looks complete.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, oneshot};

use crate::format::{BodyError, ByteStream};

/// Encoded chunks (one per batch) that may wait for the client.
pub const CHUNKS: usize = 4;

/// Why a response was aborted after it started.
#[derive(Debug, thiserror::Error)]
enum Cut {
    #[error("the client read nothing for {0:?}: the query was cancelled and the response cut")]
    Idle(Duration),
    #[error("the query failed while its result was being sent")]
    Panicked,
}

/// The body of a query's response, fed by a task that runs `chunks` ahead of the client by at
/// most [`CHUNKS`] and gives up once the client has taken nothing for `idle`.
pub fn body(mut chunks: ByteStream, idle: Duration, query_id: String) -> Body {
    let (sender, mut receiver) = mpsc::channel::<Result<Bytes, BodyError>>(CHUNKS);
    let (cut, mut cut_signal) = oneshot::channel::<Cut>();
    tokio::spawn(async move {
        loop {
            // the client may go away while the query is still computing its next batch
            let next = tokio::select! {
                next = AssertUnwindSafe(chunks.next()).catch_unwind() => next,
                () = sender.closed() => return,
            };
            let item = match next {
                Ok(Some(item)) => item,
                Ok(None) => return,
                Err(_) => {
                    tracing::error!(%query_id, "the query panicked while its result was being sent");
                    drop(chunks);
                    let _ = cut.send(Cut::Panicked);
                    return;
                }
            };
            let failed = item.is_err();
            match tokio::time::timeout(idle, sender.send(item)).await {
                Ok(Ok(())) if !failed => {}
                // the error went to the body, which aborts the response; or the body is gone
                Ok(_) => return,
                Err(_) => {
                    // release the source, the caller's turn and the memory before anything else
                    drop(chunks);
                    tracing::warn!(%query_id, ?idle, "response cut: the client stopped reading; the query was cancelled");
                    let _ = cut.send(Cut::Idle(idle));
                    return;
                }
            }
        }
    });
    let stream = async_stream::stream! {
        loop {
            tokio::select! {
                // a cut wins over chunks still waiting: the response must not end cleanly
                biased;
                why = &mut cut_signal => {
                    if let Ok(why) = why {
                        yield Err::<Bytes, BodyError>(Box::new(why));
                    }
                    // without a cut the task ended normally; what it sent is still queued
                    while let Some(item) = receiver.recv().await {
                        yield item;
                    }
                    return;
                }
                item = receiver.recv() => match item {
                    Some(item) => yield item,
                    None => {
                        // the task ended: a cut it signalled last still applies
                        if let Ok(why) = cut_signal.try_recv() {
                            yield Err(Box::new(why));
                        }
                        return;
                    }
                },
            }
        }
    };
    Body::from_stream(stream)
}
