//! `tiaokuai query`, `tiaokuai report` and `tiaokuai task`: the server's answers, as a person reads them.

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
    let body = serde_json::json!({"sql": sql});
    answer(&format!("{}/v1/query", base(server)), token, &body, format).await
}

fn base(server: &str) -> &str {
    server.trim_end_matches('/')
}

/// Sends a request and returns its body, or the API's error message.
async fn send(request: reqwest::RequestBuilder, url: &str) -> Result<bytes::Bytes, String> {
    let response = request
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
    Ok(body)
}

/// Posts `body` to an endpoint that answers rows, and formats them.
async fn answer(
    url: &str,
    token: &str,
    body: &serde_json::Value,
    format: OutputFormat,
) -> Result<String, String> {
    let accept = match format {
        OutputFormat::Table => "application/vnd.apache.arrow.stream",
        OutputFormat::Csv => "text/csv",
        OutputFormat::Json => "application/json",
    };
    let request = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("accept", accept)
        .json(body);
    let body = send(request, url).await?;
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

async fn get_json(server: &str, token: &str, path: &str) -> Result<serde_json::Value, String> {
    let url = format!("{}{path}", base(server));
    let request = reqwest::Client::new().get(&url).bearer_auth(token);
    let body = send(request, &url).await?;
    serde_json::from_slice(&body).map_err(|e| format!("reading the answer: {e}"))
}

/// The id of a report named by its id or its name.
async fn report_id(server: &str, token: &str, report: &str) -> Result<String, String> {
    if report.starts_with("rep_") {
        return Ok(report.to_owned());
    }
    let reports = get_json(server, token, "/v1/reports").await?;
    reports
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == report)
        .and_then(|r| r["id"].as_str().map(str::to_owned))
        .ok_or_else(|| format!("no report named {report:?} that you may run"))
}

/// `tiaokuai report list`: one line a report.
pub async fn report_list(server: &str, token: &str) -> Result<String, String> {
    let reports = get_json(server, token, "/v1/reports").await?;
    let lines: Vec<String> = reports
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "{}\t{}\tv{}\t{}",
                r["name"].as_str().unwrap_or_default(),
                r["id"].as_str().unwrap_or_default(),
                r["version"],
                r["description"].as_str().unwrap_or_default()
            )
        })
        .collect();
    Ok(lines.join("\n"))
}

/// `tiaokuai report show`: the report's definition, as JSON.
pub async fn report_show(server: &str, token: &str, report: &str) -> Result<String, String> {
    let id = report_id(server, token, report).await?;
    let found = get_json(server, token, &format!("/v1/reports/{id}")).await?;
    Ok(serde_json::to_string_pretty(&found).expect("JSON prints"))
}

/// `tiaokuai report run`: the report's answer for `parameters`, each `name=value` and read
/// as its parameter's kind says: an integer as a number, a date range as `FROM..TO`, anything
/// else as text.
pub async fn report_run(
    server: &str,
    token: &str,
    report: &str,
    parameters: &[String],
    format: OutputFormat,
) -> Result<String, String> {
    let id = report_id(server, token, report).await?;
    let definition = get_json(server, token, &format!("/v1/reports/{id}")).await?;
    let kind_of = |name: &str| {
        definition["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == name)
            .and_then(|p| p["kind"].as_str().map(str::to_owned))
    };
    let mut values = serde_json::Map::new();
    for parameter in parameters {
        let (name, text) = parameter
            .split_once('=')
            .ok_or_else(|| format!("--param {parameter:?}: write name=value"))?;
        let value = match kind_of(name).as_deref() {
            Some("integer") => text
                .parse::<i64>()
                .map(serde_json::Value::from)
                .map_err(|_| format!("--param {name}: an integer, not {text:?}"))?,
            Some("date_range") => {
                let (from, to) = text
                    .split_once("..")
                    .ok_or_else(|| format!("--param {name}: FROM..TO, not {text:?}"))?;
                serde_json::json!({"from": from, "to": to})
            }
            // an unknown name is the server's to refuse, naming it
            _ => serde_json::Value::String(text.to_owned()),
        };
        values.insert(name.to_owned(), value);
    }
    let url = format!("{}/v1/reports/{id}/run", base(server));
    answer(
        &url,
        token,
        &serde_json::json!({"parameters": values}),
        format,
    )
    .await
}

async fn post_json(
    server: &str,
    token: &str,
    path: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let url = format!("{}{path}", base(server));
    let request = reqwest::Client::new()
        .post(&url)
        .bearer_auth(token)
        .json(body);
    let body = send(request, &url).await?;
    serde_json::from_slice(&body).map_err(|e| format!("reading the answer: {e}"))
}

/// One line a task: id, status, where it is assigned, its accept deadline, its title, and how
/// late it runs.
fn task_line(task: &serde_json::Value) -> String {
    let text = |field: &str| task[field].as_str().unwrap_or_default().to_owned();
    let mut line = format!(
        "{}\t{}\t{}\t{}\t{}",
        text("id"),
        text("status"),
        text("jurisdiction"),
        text("accept_due_at"),
        text("title")
    );
    if task["supervision"] != "none" {
        line.push_str(&format!(
            "\t[{} card, escalated to {}]",
            text("supervision"),
            text("escalated_to")
        ));
    }
    if let Some(late) = task["overdue"].as_array().filter(|l| !l.is_empty()) {
        let late: Vec<_> = late.iter().filter_map(|c| c.as_str()).collect();
        line.push_str(&format!("\t[late: {}]", late.join(", ")));
    }
    line
}

/// Which tasks `tiaokuai task list` shows.
#[derive(Debug, Clone, Default)]
pub struct TaskListing {
    pub status: Option<String>,
    pub jurisdiction: Option<String>,
    pub overdue: bool,
}

/// `tiaokuai task list`: one line a task.
pub async fn task_list(server: &str, token: &str, listing: &TaskListing) -> Result<String, String> {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(status) = &listing.status {
        query.append_pair("status", status);
    }
    if let Some(jurisdiction) = &listing.jurisdiction {
        query.append_pair("jurisdiction", jurisdiction);
    }
    if listing.overdue {
        query.append_pair("overdue", "true");
    }
    let query = query.finish();
    let path = if query.is_empty() {
        "/v1/tasks".to_owned()
    } else {
        format!("/v1/tasks?{query}")
    };
    let tasks = get_json(server, token, &path).await?;
    let lines: Vec<String> = tasks
        .as_array()
        .into_iter()
        .flatten()
        .map(task_line)
        .collect();
    Ok(lines.join("\n"))
}

/// `tiaokuai task show`: the task and its history, as JSON.
pub async fn task_show(server: &str, token: &str, id: &str) -> Result<String, String> {
    let task = get_json(server, token, &format!("/v1/tasks/{}", path_segment(id))).await?;
    Ok(serde_json::to_string_pretty(&task).expect("JSON prints"))
}

/// `tiaokuai task send`: dispatches a task written on the command line.
pub async fn task_send(
    server: &str,
    token: &str,
    task: &serde_json::Value,
) -> Result<String, String> {
    let created = post_json(server, token, "/v1/tasks", task).await?;
    Ok(task_line(&created))
}

/// `tiaokuai task accept|resolve|verify|return`: the task as it stands after.
pub async fn task_act(
    server: &str,
    token: &str,
    id: &str,
    action: &str,
    body: &serde_json::Value,
) -> Result<String, String> {
    let path = format!("/v1/tasks/{}/{action}", path_segment(id));
    let changed = post_json(server, token, &path, body).await?;
    Ok(task_line(&changed))
}

/// `text` as one path segment, whatever it holds.
fn path_segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
