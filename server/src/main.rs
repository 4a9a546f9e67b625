//! The `tiaokuai` command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tiaokuai::client::OutputFormat;
use tiaokuai::{ServerConfig, demo, start};
use tiaokuai_catalog::jurisdiction;
use tiaokuai_engine::config::{
    DEFAULT_MAX_EXPRESSION_DEPTH, DEFAULT_MAX_VALUE_BYTES, MAX_EXPRESSION_DEPTH,
};
use tiaokuai_policies::Caller;

/// tiaokuai (条块): one SQL engine and one policy point over the data of a county, its
/// townships and its villages.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Log filter, e.g. `info` or `tiaokuai=debug,tower_http=info`.
    #[arg(long, env = "TIAOKUAI_LOG", default_value = "info", global = true)]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Store {
    /// Directory for the catalog, demo data and spill files.
    #[arg(long, env = "TIAOKUAI_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// The catalog database file (default: catalog.db in the data directory).
    #[arg(long, env = "TIAOKUAI_CATALOG")]
    catalog: Option<PathBuf>,
}

impl Store {
    fn config(&self) -> ServerConfig {
        ServerConfig {
            catalog: self.catalog.clone(),
            ..ServerConfig::new(&self.data_dir)
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve {
        #[command(flatten)]
        store: Store,
        /// Address to listen on.
        #[arg(long, env = "TIAOKUAI_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Build the 开化县 demo first if the data directory is empty.
        #[arg(long, env = "TIAOKUAI_DEMO")]
        demo: bool,
        /// Token that authenticates the `admin` principal.
        #[arg(long, env = "TIAOKUAI_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
        /// Time limit of one query, in seconds.
        #[arg(long, env = "TIAOKUAI_QUERY_TIMEOUT_SECS", default_value_t = 300)]
        query_timeout_secs: u64,
        /// Memory shared by all running queries, in MiB; sorts and aggregations spill past it.
        #[arg(long, env = "TIAOKUAI_MEMORY_LIMIT_MB", default_value_t = 4096)]
        memory_limit_mb: usize,
        /// How long a folder listing is reused, in seconds; new files show up within it.
        #[arg(long, env = "TIAOKUAI_LISTING_CACHE_SECS", default_value_t = 30)]
        listing_cache_secs: u64,
        /// Largest request body accepted, in bytes.
        #[arg(long, env = "TIAOKUAI_MAX_BODY_BYTES", default_value_t = 1 << 20)]
        max_body_bytes: usize,
        /// Largest SQL text accepted, in bytes.
        #[arg(long, env = "TIAOKUAI_MAX_SQL_BYTES", default_value_t = 256 << 10)]
        max_sql_bytes: usize,
        /// Seconds a query's response may wait for its client to read; past it the query is
        /// cancelled (releasing its source) and the response cut.
        #[arg(long, env = "TIAOKUAI_SEND_IDLE_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
        send_idle_timeout_secs: u64,
        /// Queries one principal may run at once; more are refused with 429 overloaded.
        #[arg(long, env = "TIAOKUAI_MAX_QUERIES_PER_PRINCIPAL", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
        max_queries_per_principal: u64,
        /// Queries that callers of one role group may run at once, and what each may take:
        /// `ROLE=RUNNING:QUEUED[,timeout=SECS][,memory=MB]` (repeatable). A caller is in the
        /// group of the first of its roles, by name, that has one; every other non-admin
        /// caller is in the default group. A group's time limit only shortens the server's.
        #[arg(long = "role-limit", value_parser = role_limit)]
        role_limits: Vec<(String, tiaokuai_engine::admission::GroupLimit)>,
        /// OpenTelemetry collector to send traces to over OTLP/gRPC, e.g.
        /// `http://127.0.0.1:4317` or `https://collector.example:4317`; without it no traces
        /// are made.
        #[arg(long, env = "TIAOKUAI_OTLP_ENDPOINT", value_parser = tiaokuai::traces::endpoint)]
        otlp_endpoint: Option<String>,
        /// PEM file of the CA that signed an https collector's certificate (by default the
        /// system's roots).
        #[arg(long, env = "TIAOKUAI_OTLP_CA_FILE")]
        otlp_ca_file: Option<PathBuf>,
        /// Queries the default group may run at once; more wait in its queue.
        #[arg(long, env = "TIAOKUAI_MAX_RUNNING_QUERIES", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
        max_running_queries: u64,
        /// Queries that may wait in the default group's queue; more are refused with 429.
        #[arg(long, env = "TIAOKUAI_MAX_QUEUED_QUERIES", default_value_t = 64)]
        max_queued_queries: u64,
        /// How many levels a statement may nest (expressions, subqueries, joins, set
        /// operations, WITH clauses); deeper statements are refused with a 400.
        #[arg(long, env = "TIAOKUAI_MAX_EXPRESSION_DEPTH", default_value_t = DEFAULT_MAX_EXPRESSION_DEPTH,
              value_parser = expression_depth)]
        max_expression_depth: usize,
        /// Largest value, in bytes, that a function whose output size the caller chooses
        /// (repeat, lpad, array_repeat, range, string_agg, …) may make; larger ones are
        /// refused with a 400.
        #[arg(long, env = "TIAOKUAI_MAX_VALUE_BYTES", default_value_t = DEFAULT_MAX_VALUE_BYTES)]
        max_value_bytes: usize,
        /// Days a stored run of a report (its record and its result) is kept after it ends.
        #[arg(long, env = "TIAOKUAI_RUN_RETENTION_DAYS", default_value_t = 90)]
        run_retention_days: u64,
        /// Largest result a stored run of a report may keep, in MiB; a larger one fails the
        /// run.
        #[arg(long, env = "TIAOKUAI_MAX_RUN_RESULT_MB", default_value_t = 256)]
        max_run_result_mb: u64,
        /// Seconds between signatures of the audit chain's newest records.
        #[arg(long, env = "TIAOKUAI_AUDIT_CHECKPOINT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        audit_checkpoint_secs: u64,
        /// Seconds running requests have to finish once SIGTERM (or Ctrl-C) asks the server
        /// to stop; no new connection is taken meanwhile.
        #[arg(long, env = "TIAOKUAI_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
        shutdown_grace_secs: u64,
    },
    /// Fill an empty data directory with the 开化县 demo and print the demo tokens' file.
    Demo {
        #[command(flatten)]
        store: Store,
    },
    /// Manage tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Keep the access policy in a file: `p, role, jurisdiction, object, action, effect` and
    /// `g, principal, role, jurisdiction` lines.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Grant jurisdictions the folders, buckets, hosts and secret namespaces that sources
    /// registered by their departments may use.
    Grant {
        #[command(subcommand)]
        command: GrantCommand,
    },
    /// Check the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage the jurisdiction tree.
    Jurisdictions {
        #[command(subcommand)]
        command: JurisdictionsCommand,
    },
    /// Run SQL on a server and print the answer.
    Query {
        /// The server's base URL.
        #[arg(long, env = "TIAOKUAI_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Bearer token.
        #[arg(long, env = "TIAOKUAI_TOKEN", hide_env_values = true)]
        token: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        /// One SQL statement.
        sql: String,
    },
    /// List, show and run saved reports on a server.
    Report {
        /// The server's base URL.
        #[arg(long, env = "TIAOKUAI_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Bearer token.
        #[arg(long, env = "TIAOKUAI_TOKEN", hide_env_values = true)]
        token: String,
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Send, list and act on dispatch tasks on a server.
    Task {
        /// The server's base URL.
        #[arg(long, env = "TIAOKUAI_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Bearer token.
        #[arg(long, env = "TIAOKUAI_TOKEN", hide_env_values = true)]
        token: String,
        #[command(subcommand)]
        command: TaskCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TaskCommand {
    /// The tasks you may see: id, status, jurisdiction, accept deadline, title, lateness.
    List {
        /// dispatched, accepted, resolved, verified or returned.
        #[arg(long)]
        status: Option<String>,
        /// Only tasks assigned inside this jurisdiction (12 digits).
        #[arg(long)]
        jurisdiction: Option<String>,
        /// Only tasks with a clock running late.
        #[arg(long)]
        overdue: bool,
    },
    /// A task and its history.
    Show { id: String },
    /// Dispatch a task to a jurisdiction.
    Send {
        /// The jurisdiction that must act (12 digits).
        #[arg(long)]
        jurisdiction: String,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        detail: String,
        /// Policy lines name the task `tasks.<category>`.
        #[arg(long, default_value = "general")]
        category: String,
        /// normal, urgent or critical.
        #[arg(long, default_value = "normal")]
        urgency: String,
        /// Minutes to accept it in.
        #[arg(long, default_value_t = 30)]
        accept_minutes: u32,
    },
    /// Accept a dispatched task (待受理 → 处理中).
    Accept {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Resolve a task you are handling (→ 办结待验证).
    Resolve {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Verify a resolved task (→ 已验证).
    Verify {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Return a resolution to its assignee (→ 回退), saying why.
    Return {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// The reports you may run or manage: name, id, version, description.
    List,
    /// A report's definition (by name or id).
    Show { report: String },
    /// Run a report as yourself (by name or id).
    Run {
        report: String,
        /// A parameter value, `name=value`; a date range is `name=FROM..TO`. Repeat for each.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue a new token for a principal (created if missing) and print it.
    Create {
        #[command(flatten)]
        store: Store,
        /// The principal's name.
        #[arg(long)]
        principal: String,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Replace the whole policy with the lines of a file (the bootstrap admin stays).
    Import {
        #[command(flatten)]
        store: Store,
        /// The policy file.
        file: PathBuf,
    },
    /// Print the whole policy.
    Export {
        #[command(flatten)]
        store: Store,
    },
}

#[derive(Debug, Subcommand)]
enum GrantCommand {
    /// Grant a location or secret namespace to a jurisdiction and print the grant.
    Add {
        #[command(flatten)]
        store: Store,
        /// The jurisdiction whose sources may use it (12-digit code).
        #[arg(long)]
        jurisdiction: String,
        /// `path` (a folder), `s3` (s3://bucket/prefix/), `host` (NAME[:PORT], an address or a
        /// network), `env` (a prefix of variable names) or `secret_file` (a folder).
        #[arg(long)]
        kind: String,
        /// The location, in the kind's form.
        location: String,
    },
    /// Print every grant, one JSON object per line.
    List {
        #[command(flatten)]
        store: Store,
    },
    /// Revoke a grant by its id.
    Remove {
        #[command(flatten)]
        store: Store,
        /// The grant's id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify a catalog's audit chain offline (the server may run or not): every record, link
    /// and checkpoint signature, against the audit public key and the head kept in the data
    /// directory. Exits 1 if anything is broken.
    Verify {
        #[command(flatten)]
        store: Store,
        /// An audit public key: 64 hex digits, or a file holding them (default: audit.pub in
        /// the data directory). Repeat it for a catalog that several servers sign.
        #[arg(long = "public-key")]
        public_keys: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum JurisdictionsCommand {
    /// Add or update nodes from a `code,name,level,parent` CSV file.
    Import {
        #[command(flatten)]
        store: Store,
        /// The CSV file.
        file: PathBuf,
    },
}

/// `ROLE=RUNNING:QUEUED[,timeout=SECS][,memory=MB]`.
fn role_limit(text: &str) -> Result<(String, tiaokuai_engine::admission::GroupLimit), String> {
    tiaokuai_engine::admission::GroupLimit::parse_role(text)
}

/// A depth bound the query threads' stacks were measured to hold.
fn expression_depth(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(depth) if (1..=MAX_EXPRESSION_DEPTH).contains(&depth) => Ok(depth),
        _ => Err(format!("a whole number from 1 to {MAX_EXPRESSION_DEPTH}")),
    }
}

async fn admin_caller(catalog: &dyn tiaokuai_catalog::Catalog) -> Result<Caller, String> {
    Caller::named(catalog, "admin")
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no admin principal".to_owned())
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve {
            store,
            listen,
            demo,
            admin_token,
            query_timeout_secs,
            memory_limit_mb,
            listing_cache_secs,
            max_body_bytes,
            max_sql_bytes,
            send_idle_timeout_secs,
            max_queries_per_principal,
            role_limits,
            otlp_endpoint: _,
            otlp_ca_file: _,
            max_running_queries,
            max_queued_queries,
            max_expression_depth,
            max_value_bytes,
            run_retention_days,
            max_run_result_mb,
            shutdown_grace_secs,
            audit_checkpoint_secs,
        } => {
            let mut config = store.config();
            config.admin_token = admin_token;
            config.engine.query_timeout = Duration::from_secs(query_timeout_secs);
            config.engine.memory_limit = memory_limit_mb << 20;
            config.engine.listing_cache_ttl = Duration::from_secs(listing_cache_secs);
            config.limits.max_body_bytes = max_body_bytes;
            config.limits.max_sql_bytes = max_sql_bytes;
            config.limits.send_idle_timeout = Duration::from_secs(send_idle_timeout_secs);
            config.engine.max_queries_per_principal =
                usize::try_from(max_queries_per_principal).unwrap_or(usize::MAX);
            config.engine.max_expression_depth = max_expression_depth;
            config.engine.default_group = tiaokuai_engine::admission::GroupLimit::new(
                usize::try_from(max_running_queries).unwrap_or(usize::MAX),
                usize::try_from(max_queued_queries).unwrap_or(usize::MAX),
            );
            config.engine.role_groups = role_limits;
            config.engine.max_value_bytes = max_value_bytes;
            config.runs.retention = Duration::from_secs(run_retention_days.saturating_mul(86_400));
            config.runs.max_result_bytes = max_run_result_mb.saturating_mul(1 << 20);
            config.audit_checkpoint_every = Duration::from_secs(audit_checkpoint_secs);
            let config = config.resolved().map_err(|e| e.to_string())?;
            if demo && !demo::exists(&config.data_dir) {
                demo::install(&config).await.map_err(|e| e.to_string())?;
                tracing::info!(tokens = %config.data_dir.join(demo::TOKENS_FILE).display(), "demo built");
            }
            let state = start::open(&config).await.map_err(|e| e.to_string())?;
            if config.admin_token.is_none() {
                tracing::warn!(
                    "TIAOKUAI_ADMIN_TOKEN is not set: admin can only use tokens issued earlier"
                );
            }
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            tracing::info!(address = %listener.local_addr().map_err(|e| e.to_string())?, "serving");
            let grace = Duration::from_secs(shutdown_grace_secs);
            start::serve(listener, state, grace)
                .await
                .map_err(|e| e.to_string())
        }
        Command::Demo { store } => {
            let config = store.config().resolved().map_err(|e| e.to_string())?;
            if demo::exists(&config.data_dir) {
                return Err(format!(
                    "{} already holds a demo",
                    config.data_dir.display()
                ));
            }
            demo::install(&config).await.map_err(|e| e.to_string())?;
            println!("{}", config.data_dir.join(demo::TOKENS_FILE).display());
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Create { store, principal },
        } => {
            let catalog = start::open_catalog(&store.config()).map_err(|e| e.to_string())?;
            catalog
                .ensure_principal(&principal)
                .await
                .map_err(|e| e.to_string())?;
            let (_, token) = catalog
                .issue_token(&principal, "cli")
                .await
                .map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(())
        }
        Command::Policy {
            command: PolicyCommand::Import { store, file },
        } => {
            let engine = start::open_engine(&store.config())
                .await
                .map_err(|e| e.to_string())?;
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let admin = admin_caller(&**engine.catalog()).await?;
            engine
                .import_policy(&admin, &text)
                .await
                .map_err(|e| e.to_string())?;
            println!("policy imported from {}", file.display());
            Ok(())
        }
        Command::Policy {
            command: PolicyCommand::Export { store },
        } => {
            let engine = start::open_engine(&store.config())
                .await
                .map_err(|e| e.to_string())?;
            print!(
                "{}",
                engine.export_policy().await.map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::Grant { command } => {
            let store = match &command {
                GrantCommand::Add { store, .. }
                | GrantCommand::List { store }
                | GrantCommand::Remove { store, .. } => store,
            };
            let engine = start::open_engine(&store.config())
                .await
                .map_err(|e| e.to_string())?;
            let admin = admin_caller(&**engine.catalog()).await?;
            match command {
                GrantCommand::Add {
                    jurisdiction,
                    kind,
                    location,
                    ..
                } => {
                    let request = tiaokuai_engine::GrantRequest {
                        jurisdiction,
                        kind,
                        location,
                    };
                    let grant = engine
                        .add_grant(&admin, request)
                        .await
                        .map_err(|e| e.to_string())?;
                    println!(
                        "{}",
                        serde_json::to_string(&grant).map_err(|e| e.to_string())?
                    );
                }
                GrantCommand::List { .. } => {
                    for grant in engine.grants(&admin).await.map_err(|e| e.to_string())? {
                        println!(
                            "{}",
                            serde_json::to_string(&grant).map_err(|e| e.to_string())?
                        );
                    }
                }
                GrantCommand::Remove { id, .. } => {
                    engine
                        .delete_grant(&admin, &id)
                        .await
                        .map_err(|e| e.to_string())?;
                    println!("grant {id} revoked");
                }
            }
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify { store, public_keys },
        } => {
            let config = store.config().resolved().map_err(|e| e.to_string())?;
            let verification =
                tiaokuai::audit::verify(&config.catalog_path(), &config.data_dir, &public_keys)
                    .await?;
            println!("{verification}");
            if verification.is_intact() {
                Ok(())
            } else {
                Err("the audit chain is broken".to_owned())
            }
        }
        Command::Jurisdictions {
            command: JurisdictionsCommand::Import { store, file },
        } => {
            let catalog = start::open_catalog(&store.config()).map_err(|e| e.to_string())?;
            let text =
                std::fs::File::open(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let nodes = jurisdiction::read_csv(text).map_err(|e| e.to_string())?;
            let count = catalog
                .upsert_jurisdictions(&nodes, "cli")
                .await
                .map_err(|e| e.to_string())?;
            println!("{count} jurisdictions imported");
            Ok(())
        }
        Command::Query {
            server,
            token,
            format,
            sql,
        } => {
            let out = tiaokuai::client::query(&server, &token, &sql, format).await?;
            println!("{out}");
            Ok(())
        }
        Command::Report {
            server,
            token,
            command,
        } => {
            use tiaokuai::client;
            let out = match command {
                ReportCommand::List => client::report_list(&server, &token).await?,
                ReportCommand::Show { report } => {
                    client::report_show(&server, &token, &report).await?
                }
                ReportCommand::Run {
                    report,
                    params,
                    format,
                } => client::report_run(&server, &token, &report, &params, format).await?,
            };
            println!("{out}");
            Ok(())
        }
        Command::Task {
            server,
            token,
            command,
        } => {
            use tiaokuai::client;
            let note = |note: Option<String>| serde_json::json!({"note": note});
            let out = match command {
                TaskCommand::List {
                    status,
                    jurisdiction,
                    overdue,
                } => {
                    let listing = client::TaskListing {
                        status,
                        jurisdiction,
                        overdue,
                    };
                    client::task_list(&server, &token, &listing).await?
                }
                TaskCommand::Show { id } => client::task_show(&server, &token, &id).await?,
                TaskCommand::Send {
                    jurisdiction,
                    title,
                    detail,
                    category,
                    urgency,
                    accept_minutes,
                } => {
                    let task = serde_json::json!({
                        "jurisdiction": jurisdiction,
                        "title": title,
                        "detail": detail,
                        "category": category,
                        "urgency": urgency,
                        "clocks": {"accept_minutes": accept_minutes},
                    });
                    client::task_send(&server, &token, &task).await?
                }
                TaskCommand::Accept { id, note: n } => {
                    client::task_act(&server, &token, &id, "accept", &note(n)).await?
                }
                TaskCommand::Resolve { id, note: n } => {
                    client::task_act(&server, &token, &id, "resolve", &note(n)).await?
                }
                TaskCommand::Verify { id, note: n } => {
                    client::task_act(&server, &token, &id, "verify", &note(n)).await?
                }
                TaskCommand::Return { id, reason } => {
                    let body = serde_json::json!({"reason": reason});
                    client::task_act(&server, &token, &id, "return", &body).await?
                }
            };
            println!("{out}");
            Ok(())
        }
    }
}

/// Stack of the HTTP threads. Queries are parsed, planned and run on the engine's own threads
/// (see `tiaokuai_engine::limits::runner`), whose stacks hold the deepest statement allowed;
/// these threads only decode requests and encode answers, and get the main thread's stack.
const HTTP_STACK_BYTES: usize = 8 << 20;

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(HTTP_STACK_BYTES)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(cli_main()),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn cli_main() -> ExitCode {
    let cli = Cli::parse();
    let otlp = match &cli.command {
        Command::Serve {
            otlp_endpoint: Some(endpoint),
            otlp_ca_file,
            ..
        } => Some(tiaokuai::traces::Collector {
            endpoint: endpoint.clone(),
            ca_file: otlp_ca_file.clone(),
        }),
        _ => None,
    };
    let traces = match tiaokuai::traces::init(&cli.log, otlp.as_ref()) {
        Ok(traces) => traces,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = run(cli.command).await;
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
