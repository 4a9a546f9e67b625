//! Peers of the test's own on loopback that record everything the server sends them: an HTTP
//! server (a file server, an S3 endpoint, a redirect) and a PostgreSQL server that asks for the
//! password in clear text, as a hostile database would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a peer received: one entry per request (HTTP) or connection (PostgreSQL).
#[derive(Debug, Default, Clone)]
pub struct Received(Arc<Mutex<Vec<String>>>);

impl Received {
    fn push(&self, entry: String) {
        self.0.lock().unwrap().push(entry);
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub fn is_empty(&self) -> bool {
        self.0.lock().unwrap().is_empty()
    }

    /// Whether anything received contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.0.lock().unwrap().iter().any(|e| e.contains(needle))
    }
}

/// How the HTTP peer answers.
#[derive(Clone)]
pub enum Answer {
    /// `200` with this body (and its length) to every request.
    Body(&'static str),
    /// A `302` to this URL.
    Redirect(String),
}

/// An HTTP server on a loopback port that records every request's method, path and headers.
pub struct HttpPeer {
    pub addr: SocketAddr,
    pub received: Received,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    State((received, answer)): State<(Received, Answer)>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let headers: Vec<String> = headers
        .iter()
        .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
        .collect();
    received.push(format!(
        "{} {}\n{}",
        request.method(),
        request.uri(),
        headers.join("\n")
    ));
    match answer {
        Answer::Body(body) => (StatusCode::OK, body).into_response(),
        Answer::Redirect(to) => (StatusCode::FOUND, [("location", to)]).into_response(),
    }
}

impl HttpPeer {
    pub async fn start(answer_with: Answer) -> Self {
        let received = Received::default();
        let app = Router::new()
            .fallback(answer)
            .with_state((received.clone(), answer_with));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            received,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }
}

/// A PostgreSQL server that answers every connection by asking for the password in clear
/// text, records the startup message and the password it is sent, then refuses the login.
/// A connection that sends nothing is recorded as empty.
pub struct PostgresPeer {
    pub addr: SocketAddr,
    pub received: Received,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PostgresPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PostgresPeer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Received::default();
        let seen = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let entry = converse(&mut socket).await.unwrap_or_default();
                    seen.push(entry);
                });
            }
        });
        Self {
            addr,
            received,
            task,
        }
    }
}

/// One connection: startup (declining TLS), a clear-text password request, the password.
async fn converse(socket: &mut tokio::net::TcpStream) -> std::io::Result<String> {
    let mut startup = read_untyped(socket).await?;
    // SSLRequest (80877103): no TLS here, the client goes on in the clear or gives up
    if startup.len() == 4 && startup == 80877103u32.to_be_bytes() {
        socket.write_all(b"N").await?;
        startup = read_untyped(socket).await?;
    }
    let mut entry = format!(
        "startup: {}",
        String::from_utf8_lossy(&startup).replace('\0', " ")
    );
    // AuthenticationCleartextPassword
    socket.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).await?;
    let mut tag = [0u8; 1];
    socket.read_exact(&mut tag).await?;
    let body = read_untyped(socket).await?;
    entry.push_str(&format!(
        "\npassword: {}",
        String::from_utf8_lossy(&body).trim_end_matches('\0')
    ));
    // ErrorResponse: invalid_password
    let fields = b"SFATAL\0C28P01\0Mpassword authentication failed\0\0";
    let mut error = vec![b'E'];
    error.extend_from_slice(&((fields.len() + 4) as u32).to_be_bytes());
    error.extend_from_slice(fields);
    socket.write_all(&error).await?;
    Ok(entry)
}

/// A message without a type byte: its length (which counts itself) and body.
async fn read_untyped(socket: &mut tokio::net::TcpStream) -> std::io::Result<Vec<u8>> {
    let mut length = [0u8; 4];
    socket.read_exact(&mut length).await?;
    let length = u32::from_be_bytes(length).clamp(4, 1 << 16) as usize;
    let mut body = vec![0u8; length - 4];
    socket.read_exact(&mut body).await?;
    Ok(body)
}
