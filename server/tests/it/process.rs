//! The `tiaokuai serve` process itself, started as a user starts it: a child process with a
//! working directory, flags and environment of the test's choosing.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `tiaokuai serve`, killed when dropped.
pub struct ServerProcess {
    pub child: Child,
    pub url: String,
    /// Lines the server logs after it started serving.
    log: mpsc::Receiver<String>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The command for the built binary, with no inherited tiaokuai settings.
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
    /// Starts `tiaokuai serve --listen 127.0.0.1:0 <args>` in `cwd` and waits (at most
    /// `patience`) for it to say where it serves. `None` if it exited first; its log then
    /// comes back in the error.
    pub fn start(
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
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().map_err(|e| e.to_string())?;
        let stderr = child.stderr.take().expect("piped");
        let (lines, log) = mpsc::channel();
        std::thread::spawn(move || {
            // read to the end even when nobody listens, so the server never blocks on its log
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut seen = Vec::new();
        let deadline = std::time::Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match log.recv_timeout(left) {
                Ok(line) => {
                    if let Some(address) = serving_address(&line) {
                        return Ok(Self {
                            child,
                            url: format!("http://{address}"),
                            log,
                        });
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().map_err(|e| e.to_string())?;
                    return Err(format!("{status}; it said:\n{}", seen.join("\n")));
                }
            }
        }
    }

    /// Stops the process as Ctrl-C would, and waits for it.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// What the server has logged since it started serving (or since the last call).
    pub fn logged(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }
}

/// The address in the server's `serving` log line.
fn serving_address(line: &str) -> Option<&str> {
    if !line.contains("serving") {
        return None;
    }
    let start = line.find("address=")? + "address=".len();
    line[start..].split_whitespace().next()
}
