//! The `tiaokuai serve` process itself, started as a user starts it: a child process with a
//! working directory, flags and environment of the test's choosing, and everything it logs
//! captured.

use std::io::{BufRead, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A running `tiaokuai serve`, killed when dropped.
pub struct ServerProcess {
    pub url: String,
    /// The data directory, when the process was given a fresh one.
    pub dir: Option<tempfile::TempDir>,
    client: reqwest::Client,
    child: Child,
    log: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// The command for the built binary in `cwd`, with no inherited tiaokuai settings.
pub fn command(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tiaokuai"));
    command.current_dir(cwd);
    for (key, _) in std::env::vars() {
        if key.starts_with("TIAOKUAI_") {
            command.env_remove(key);
        }
    }
    command
}

impl ServerProcess {
    /// Starts `tiaokuai serve` on a loopback port with a fresh data directory, logging at
    /// `filter`, and waits until it serves.
    pub async fn start(admin_token: &str, filter: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().to_str().unwrap().to_owned();
        let mut server = Self::launch(
            dir.path(),
            &["--data-dir", &data_dir],
            &[
                ("TIAOKUAI_ADMIN_TOKEN", admin_token),
                ("TIAOKUAI_LOG", filter),
                ("RUST_LOG", filter),
            ],
            Duration::from_secs(60),
        )
        .await
        .unwrap_or_else(|log| panic!("the server did not start:\n{log}"));
        server.dir = Some(dir);
        server
    }

    /// Starts `tiaokuai serve --listen 127.0.0.1:0 <args>` in `cwd` with `env` (and no other
    /// tiaokuai settings), and waits at most `patience` for it to say where it serves. If it
    /// exits or does not serve in time, what it logged comes back as the error.
    pub async fn launch(
        cwd: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        patience: Duration,
    ) -> Result<Self, String> {
        let mut command = command(cwd);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("TIAOKUAI_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().map_err(|e| e.to_string())?;
        let log = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            capture(child.stdout.take().unwrap(), log.clone()),
            capture(child.stderr.take().unwrap(), log.clone()),
        ];
        let mut server = Self {
            url: String::new(),
            dir: None,
            client: reqwest::Client::new(),
            child,
            log,
            readers,
        };
        let deadline = Instant::now() + patience;
        loop {
            let found = serving_address(&server.log.lock().unwrap());
            if let Some(address) = found {
                server.url = format!("http://{address}");
                return Ok(server);
            }
            let exited = matches!(server.child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() > deadline {
                return Err(server.stop());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends a request; returns the status and the body as text.
    pub async fn send(
        &self,
        method: Method,
        token: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, String) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    /// Everything the server wrote so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The process id, to send the server a signal.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits at most `patience` for the process to exit by itself: its exit status, and
    /// everything it wrote.
    pub async fn exited(
        &mut self,
        patience: Duration,
    ) -> Option<(std::process::ExitStatus, String)> {
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return Some((status, self.log.lock().unwrap().clone()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Stops the server and returns everything it wrote to stdout and stderr.
    pub fn stop(mut self) -> String {
        self.halt();
        self.log.lock().unwrap().clone()
    }

    fn halt(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The address in the server's `serving` log line.
fn serving_address(log: &str) -> Option<String> {
    log.lines().find_map(|line| {
        let (_, rest) = line.split_once("serving")?;
        let (_, address) = rest.split_once("address=")?;
        Some(address.split_whitespace().next()?.to_owned())
    })
}

fn capture(
    stream: impl Read + Send + 'static,
    log: Arc<Mutex<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(stream);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            log.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&line));
            line.clear();
        }
    })
}
