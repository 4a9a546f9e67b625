//! `tiaokuai query`: runs SQL on a server and prints the answer.

use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::util::pretty::pretty_format_batches;

/// How `tiaokuai query` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    Csv,
    Json,
}

/// Runs `sql` on `server` and returns what to print.
pub async fn query(
    server: &str,
    token: &str,
    sql: &str,
    format: OutputFormat,
) -> Result<String, String> {
    let accept = match format {
        OutputFormat::Table => "application/vnd.apache.arrow.stream",
        OutputFormat::Csv => "text/csv",
        OutputFormat::Json => "application/json",
    };
    let url = format!("{}/v1/query", server.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(token)
        .header("accept", accept)
        .json(&serde_json::json!({"sql": sql}))
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        return Err(format!("{status}: {message}"));
    }
    match format {
        OutputFormat::Table => {
            let reader = StreamReader::try_new(body.as_ref(), None).map_err(|e| e.to_string())?;
            let batches = reader
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            Ok(pretty_format_batches(&batches)
                .map_err(|e| e.to_string())?
                .to_string())
        }
        OutputFormat::Csv | OutputFormat::Json => Ok(String::from_utf8_lossy(&body).into_owned()),
    }
}
