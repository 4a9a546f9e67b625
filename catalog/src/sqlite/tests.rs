use super::*;
use crate::store::Catalog as _;
use crate::token;

fn raw(code: &str, name: &str, level: &str, parent: Option<&str>) -> RawJurisdiction {
    RawJurisdiction {
        code: code.into(),
        name: name.into(),
        level: level.into(),
        parent: parent.map(Into::into),
    }
}

fn kaihua() -> Vec<RawJurisdiction> {
    vec![
        raw("330824000000", "开化县", "county", None),
        raw("330824116000", "马金镇", "township", Some("330824000000")),
        raw("330824116224", "霞山村", "village", Some("330824116000")),
    ]
}

fn source(name: &str, table: Option<&str>) -> NewSource {
    NewSource {
        id: token::new_id("src"),
        name: name.into(),
        url: "file:///tmp/x/".into(),
        options: Default::default(),
        secret: None,
        owner: JurisdictionCode::parse("330824116224").unwrap(),
        content: SourceContent::Files {
            format: FileFormat::Parquet,
            columns: vec![ColumnDef::new("a", ColumnType::Int64, true)],
            table: table.map(|t| TableDef {
                name: t.into(),
                binding: Binding::Fixed {
                    fixed: JurisdictionCode::parse("330824116224").unwrap(),
                },
                classification: Default::default(),
            }),
        },
        created_by: "admin".into(),
        confined: false,
    }
}

#[tokio::test]
async fn migrations_persist_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    {
        let catalog = SqliteCatalog::open(&path).unwrap();
        catalog
            .upsert_jurisdictions(&kaihua(), "admin")
            .await
            .unwrap();
    }
    let catalog = SqliteCatalog::open(&path).unwrap();
    assert_eq!(catalog.jurisdictions().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_bad_batch_stores_nothing() {
    let catalog = SqliteCatalog::open_in_memory().unwrap();
    let mut batch = kaihua();
    batch.push(raw("33082411622", "bad", "village", Some("330824116000")));
    assert!(matches!(
        catalog.upsert_jurisdictions(&batch, "admin").await,
        Err(CatalogError::Invalid(_))
    ));
    assert!(catalog.jurisdictions().await.unwrap().is_empty());
    // a later batch may refer to parents stored earlier
    catalog
        .upsert_jurisdictions(&kaihua()[..2], "admin")
        .await
        .unwrap();
    catalog
        .upsert_jurisdictions(&kaihua()[2..], "admin")
        .await
        .unwrap();
    assert_eq!(catalog.jurisdictions().await.unwrap().len(), 3);
}

#[tokio::test]
async fn tokens_authenticate_until_revoked() {
    let catalog = SqliteCatalog::open_in_memory().unwrap();
    let alice = catalog.create_principal("alice", "admin").await.unwrap();
    let (info, secret) = catalog.issue_token("alice", "admin").await.unwrap();
    assert_eq!(catalog.authenticate(&secret).await.unwrap(), Some(alice));
    assert_eq!(catalog.authenticate("tk_wrong").await.unwrap(), None);
    catalog.revoke_token(&info.id, "admin").await.unwrap();
    assert_eq!(catalog.authenticate(&secret).await.unwrap(), None);
    assert!(matches!(
        catalog.revoke_token(&info.id, "admin").await,
        Err(CatalogError::NotFound(_))
    ));
}

#[tokio::test]
async fn bootstrap_token_replaces_the_previous_one() {
    let catalog = SqliteCatalog::open_in_memory().unwrap();
    let admin = catalog.ensure_principal("admin").await.unwrap();
    catalog
        .set_bootstrap_token(&admin.id, "first")
        .await
        .unwrap();
    catalog
        .set_bootstrap_token(&admin.id, "second")
        .await
        .unwrap();
    assert_eq!(catalog.authenticate("first").await.unwrap(), None);
    assert_eq!(
        catalog.authenticate("second").await.unwrap().unwrap().name,
        "admin"
    );
}

#[tokio::test]
async fn principal_names_are_unique_and_checked() {
    let catalog = SqliteCatalog::open_in_memory().unwrap();
    catalog.create_principal("bob", "admin").await.unwrap();
    assert!(matches!(
        catalog.create_principal("bob", "admin").await,
        Err(CatalogError::Conflict(_))
    ));
    assert!(matches!(
        catalog.create_principal("Bob Smith", "admin").await,
        Err(CatalogError::Invalid(_))
    ));
    assert!(matches!(
        catalog
            .assign_role("carol", "dispatcher", "*", "admin")
            .await,
        Err(CatalogError::NotFound(_))
    ));
    catalog
        .assign_role("bob", "dispatcher", "330824116000", "admin")
        .await
        .unwrap();
    catalog
        .assign_role("bob", "dispatcher", "330824116000", "admin")
        .await
        .unwrap();
    let bob = catalog.principal_by_name("bob").await.unwrap().unwrap();
    assert_eq!(catalog.roles_of(&bob.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn sources_and_datasets_share_one_table_namespace() {
    let catalog = SqliteCatalog::open_in_memory().unwrap();
    catalog
        .upsert_jurisdictions(&kaihua(), "admin")
        .await
        .unwrap();
    let a = catalog
        .insert_source(source("a", Some("village.a")))
        .await
        .unwrap();
    assert!(matches!(
        catalog.insert_source(source("a", None)).await,
        Err(CatalogError::Conflict(_))
    ));
    assert!(matches!(
        catalog.insert_source(source("b", Some("village.a"))).await,
        Err(CatalogError::Conflict(_))
    ));
    assert!(matches!(
        catalog.insert_source(source("c", Some("system.x"))).await,
        Err(CatalogError::Invalid(_))
    ));
    assert!(matches!(
        catalog
            .insert_source(source("g", Some("governance.tasks")))
            .await,
        Err(CatalogError::Invalid(_))
    ));
    let member = catalog.insert_source(source("m", None)).await.unwrap();
    let dataset = NewDataset {
        name: "village.a".into(),
        members: vec![DatasetMember {
            source: member.id.clone(),
            jurisdiction: JurisdictionCode::parse("330824116224").unwrap(),
        }],
        classification: Default::default(),
        columns: member.content.single_schema().unwrap().to_vec(),
        created_by: "admin".into(),
    };
    assert!(matches!(
        catalog.insert_dataset(dataset.clone()).await,
        Err(CatalogError::Conflict(_))
    ));
    let created = catalog
        .insert_dataset(NewDataset {
            name: "village.u".into(),
            ..dataset.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        catalog
            .dataset(&created.id)
            .await
            .unwrap()
            .unwrap()
            .members
            .len(),
        1
    );
    // a member cannot be deleted under its dataset, and a failed insert leaves nothing behind
    assert!(matches!(
        catalog.delete_source(&member.id, "admin").await,
        Err(CatalogError::Conflict(_))
    ));
    let dangling = NewDataset {
        name: "village.v".into(),
        members: vec![DatasetMember {
            source: "src_missing".into(),
            jurisdiction: JurisdictionCode::parse("330824116224").unwrap(),
        }],
        ..dataset
    };
    assert!(matches!(
        catalog.insert_dataset(dangling).await,
        Err(CatalogError::NotFound(_))
    ));
    assert_eq!(catalog.datasets().await.unwrap().len(), 1);
    catalog.delete_dataset(&created.id, "admin").await.unwrap();
    catalog.delete_source(&member.id, "admin").await.unwrap();
    catalog.delete_source(&a.id, "admin").await.unwrap();
    assert!(catalog.sources().await.unwrap().is_empty());
    assert!(
        catalog
            .audit_events(100)
            .await
            .unwrap()
            .iter()
            .any(|e| e.action == "source.delete")
    );
}

#[tokio::test]
async fn a_newer_catalog_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
    }
    assert!(matches!(
        SqliteCatalog::open(&path),
        Err(CatalogError::Invalid(_))
    ));
}

#[tokio::test]
async fn source_names_are_unique_per_registrant() {
    let catalog = SqliteCatalog::open_in_memory().unwrap();
    catalog
        .insert_source(source("civil_db", None))
        .await
        .unwrap();
    assert!(matches!(
        catalog.insert_source(source("civil_db", None)).await,
        Err(CatalogError::Conflict(_))
    ));
    // another registrant's source of the same name is none of this one's business
    let theirs = NewSource {
        created_by: "civil_system".into(),
        confined: true,
        ..source("civil_db", None)
    };
    let stored = catalog.insert_source(theirs).await.unwrap();
    assert!(stored.confined);
    let again = catalog.source(&stored.id).await.unwrap().unwrap();
    assert!(again.confined);
    assert_eq!(again.created_by, "civil_system");
}

#[tokio::test]
async fn grants_are_stored_once_per_jurisdiction_kind_and_location() {
    let catalog = SqliteCatalog::open_in_memory().unwrap();
    catalog
        .upsert_jurisdictions(&kaihua(), "admin")
        .await
        .unwrap();
    let majin = JurisdictionCode::parse("330824116000").unwrap();
    let grant = catalog
        .insert_grant(&majin, "path", "/srv/majin/", "admin")
        .await
        .unwrap();
    assert!(matches!(
        catalog
            .insert_grant(&majin, "path", "/srv/majin/", "admin")
            .await,
        Err(CatalogError::Conflict(_))
    ));
    let unknown = JurisdictionCode::parse("330824999000").unwrap();
    assert!(matches!(
        catalog
            .insert_grant(&unknown, "path", "/srv/x/", "admin")
            .await,
        Err(CatalogError::Invalid(_))
    ));
    assert_eq!(catalog.grants().await.unwrap(), vec![grant.clone()]);
    catalog.delete_grant(&grant.id, "admin").await.unwrap();
    assert!(catalog.grants().await.unwrap().is_empty());
    assert!(matches!(
        catalog.delete_grant(&grant.id, "admin").await,
        Err(CatalogError::NotFound(_))
    ));
}

/// A catalog file as the first `version` migrations leave it.
fn catalog_at_version(path: &std::path::Path, version: usize) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    for step in super::migrations::first(version) {
        let super::migrations::Migration::Sql(sql) = step else {
            unreachable!("the first migrations are SQL")
        };
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "user_version", version).unwrap();
    conn
}

/// A catalog made by the previous version: its sources keep their tables and dataset
/// memberships, and those a non-admin registered become confined.
#[tokio::test]
async fn a_version_3_catalog_is_migrated_with_its_references_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    {
        let conn = catalog_at_version(&path, 3);
        conn.execute_batch(
            r#"
            INSERT INTO sources VALUES ('src_a', 'village_files', 'parquet', 'file:///srv/a/', '{}', NULL, '330824116224', NULL, NULL, '[]', 'admin', 't', 't');
            INSERT INTO sources VALUES ('src_b', 'civil_db', 'sqlite', 'file:///srv/civil.db', '{}', NULL, '330824000000', NULL, NULL, '[]', 'civil_system', 't', 't');
            INSERT INTO source_tables VALUES ('src_b', 0, 'civil.visits', '{"name":"civil.visits","binding":{"column":"village_code"},"classification":{},"remote":"visits","columns":[]}');
            INSERT INTO datasets VALUES ('ds_1', 'village.files', '{}', '[]', 'admin', 't');
            INSERT INTO dataset_members VALUES ('ds_1', 0, 'src_a', '330824116224');
            "#,
        )
        .unwrap();
    }
    let catalog = SqliteCatalog::open(&path).unwrap();
    let sources = catalog.sources().await.unwrap();
    let by_id = |id: &str| sources.iter().find(|s| s.id == id).unwrap();
    assert!(!by_id("src_a").confined);
    assert!(by_id("src_b").confined);
    assert!(
        matches!(&by_id("src_b").content, SourceContent::Database { tables, .. } if tables.len() == 1)
    );
    assert_eq!(
        catalog.datasets().await.unwrap()[0].members[0].source,
        "src_a"
    );
    // the dataset's reference to its member still holds
    assert!(matches!(
        catalog.delete_source("src_a", "admin").await,
        Err(CatalogError::Conflict(_))
    ));
    catalog.delete_source("src_b", "admin").await.unwrap();
    assert!(catalog.grants().await.unwrap().is_empty());
    drop(catalog);
    // and it opens again at the new version
    let catalog = SqliteCatalog::open(&path).unwrap();
    assert_eq!(catalog.sources().await.unwrap().len(), 1);
}

/// Reads on the pool's readers and writes on its writer, many at once from async tasks: each
/// read sees a whole batch or none of it, and every write lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_and_the_writer_work_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = std::sync::Arc::new(SqliteCatalog::open(&dir.path().join("catalog.db")).unwrap());
    catalog
        .upsert_jurisdictions(&kaihua(), "admin")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let catalog = catalog.clone();
        tasks.push(tokio::spawn(async move {
            if i % 4 == 0 {
                catalog
                    .create_principal(&format!("p{i}"), "admin")
                    .await
                    .map(|_| 1)
            } else {
                catalog.jurisdictions().await.map(|nodes| {
                    assert_eq!(nodes.len(), 3);
                    0
                })
            }
        }));
    }
    let mut written = 0;
    for task in tasks {
        written += task.await.unwrap().unwrap();
    }
    assert_eq!(written, 10);
    assert_eq!(catalog.principals().await.unwrap().len(), 10);
}

/// Column types written in Arrow's text form (before format 1) are rewritten into the stable
/// form once, and read back as the same types.
#[tokio::test]
async fn a_version_4_catalog_gets_stable_column_types() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    {
        let conn = catalog_at_version(&path, 4);
        conn.execute_batch(
            r#"
            INSERT INTO sources (id, name, kind, url, options, secret_ref, owner, table_def, table_name, columns, created_by, created_at, updated_at, confined)
                VALUES ('src_a', 'files', 'parquet', 'file:///srv/a/', '{}', NULL, '330824116224', NULL, NULL,
                        '[{"name":"at","data_type":"Timestamp(µs, \"UTC\")","nullable":true},{"name":"n","data_type":"Decimal128(14, 2)","nullable":false}]', 'admin', 't', 't', 0);
            INSERT INTO sources (id, name, kind, url, options, secret_ref, owner, table_def, table_name, columns, created_by, created_at, updated_at, confined)
                VALUES ('src_b', 'db', 'sqlite', 'file:///srv/civil.db', '{}', NULL, '330824000000', NULL, NULL, '[]', 'admin', 't', 't', 0);
            INSERT INTO source_tables VALUES ('src_b', 0, 'civil.visits', '{"name":"civil.visits","binding":{"column":"village_code"},"classification":{},"remote":"visits","columns":[{"name":"village_code","data_type":"Utf8","nullable":true}]}');
            INSERT INTO datasets VALUES ('ds_1', 'village.files', '{}', '[{"name":"n","data_type":"Int64","nullable":true}]', 'admin', 't');
            "#,
        )
        .unwrap();
    }
    let catalog = SqliteCatalog::open(&path).unwrap();
    let sources = catalog.sources().await.unwrap();
    let files = sources.iter().find(|s| s.id == "src_a").unwrap();
    assert_eq!(
        files.content.single_schema().unwrap(),
        vec![
            ColumnDef::new(
                "at",
                ColumnType::Timestamp {
                    unit: crate::model::TimeResolution::Us,
                    zone: Some("UTC".into())
                },
                true
            ),
            ColumnDef::new(
                "n",
                ColumnType::Decimal {
                    bits: 128,
                    precision: 14,
                    scale: 2
                },
                false
            ),
        ]
    );
    let database = sources.iter().find(|s| s.id == "src_b").unwrap();
    let SourceContent::Database { tables, .. } = &database.content else {
        panic!("a database source")
    };
    assert_eq!(tables[0].columns[0].column_type, ColumnType::Utf8);
    assert_eq!(
        catalog.datasets().await.unwrap()[0].columns[0].column_type,
        ColumnType::Int64
    );
    drop(catalog);
    // what is stored now is the stable form, not the text
    let conn = rusqlite::Connection::open(&path).unwrap();
    for sql in [
        "SELECT columns FROM sources WHERE id = 'src_a'",
        "SELECT definition FROM source_tables",
        "SELECT columns FROM datasets",
    ] {
        let stored: String = conn.query_row(sql, [], |row| row.get(0)).unwrap();
        assert!(stored.contains(r#""type":{"name":"#), "{sql}: {stored}");
    }
}

fn content(sql: &str) -> ReportContent {
    ReportContent {
        description: String::new(),
        sql: sql.into(),
        parameters: Vec::new(),
    }
}

/// A report keeps every version; a change from a stale version is a conflict, not a merge.
#[tokio::test]
async fn report_versions_are_kept_and_changes_are_ordered() {
    let catalog = SqliteCatalog::open_in_memory().unwrap();
    let new = NewReport {
        name: "reports.a".into(),
        owner: JurisdictionCode::parse("330824000000").unwrap(),
        content: content("SELECT 1"),
        created_by: "admin".into(),
    };
    let first = catalog.insert_report(new.clone()).await.unwrap();
    assert_eq!(first.version, 1);
    assert!(matches!(
        catalog.insert_report(new).await,
        Err(CatalogError::Conflict(_))
    ));
    let second = catalog
        .update_report(&first.id, 1, content("SELECT 2"), "erin")
        .await
        .unwrap();
    assert_eq!((second.version, second.updated_by.as_str()), (2, "erin"));
    assert!(matches!(
        catalog
            .update_report(&first.id, 1, content("SELECT 3"), "erin")
            .await,
        Err(CatalogError::Conflict(_))
    ));
    let versions = catalog.report_versions(&first.id).await.unwrap();
    let sql: Vec<&str> = versions.iter().map(|v| v.sql.as_str()).collect();
    assert_eq!(sql, ["SELECT 1", "SELECT 2"]);
    let old = catalog.report(&first.id, Some(1)).await.unwrap().unwrap();
    assert_eq!(old.sql, "SELECT 1");
    assert!(catalog.report(&first.id, Some(3)).await.unwrap().is_none());
    catalog.delete_report(&first.id, "admin").await.unwrap();
    assert!(catalog.report_versions(&first.id).await.unwrap().is_empty());
}

/// A run ends once; what it ended with never changes.
#[tokio::test]
async fn a_finished_run_never_changes() {
    let catalog = SqliteCatalog::open_in_memory().unwrap();
    let run = catalog
        .insert_run(NewRun {
            id: "run_1".into(),
            report_id: "rep_1".into(),
            report_version: 1,
            parameters: Default::default(),
            principal: "carol".into(),
            policy_version: 7,
            schedule_id: None,
            scope: None,
            freshness: Vec::new(),
        })
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Running);
    let done = catalog
        .finish_run(
            "run_1",
            RunOutcome::Succeeded {
                row_count: 2,
                bytes: 10,
                result: "run_1.parquet".into(),
                sha256: "ab".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (done.status, done.row_count),
        (RunStatus::Succeeded, Some(2))
    );
    let again = catalog
        .finish_run("run_1", RunOutcome::Failed { error: "x".into() })
        .await;
    assert!(matches!(again, Err(CatalogError::Conflict(_))));
    assert_eq!(catalog.fail_running_runs("stopped").await.unwrap(), 0);
    assert_eq!(
        catalog.run("run_1").await.unwrap().unwrap().status,
        RunStatus::Succeeded
    );
}

fn new_task(id: &str, origin_key: Option<&str>) -> NewTask {
    NewTask {
        id: id.into(),
        title: "走访独居老人".into(),
        detail: String::new(),
        category: "visit".into(),
        jurisdiction: JurisdictionCode::parse("330824116224").unwrap(),
        department: None,
        urgency: Urgency::Normal,
        clocks: TaskClocks::default(),
        origin: TaskOrigin::Manual,
        run_id: None,
        row: None,
        origin_key: origin_key.map(Into::into),
        created_by: "carol".into(),
        created_at: "2026-12-01T08:00:00.000Z".into(),
        accept_due_at: "2026-12-01T08:30:00.000Z".into(),
        red_at: "2026-12-01T09:00:00.000Z".into(),
    }
}

fn change(action: &'static str, from: &[TaskStatus], to: TaskStatus) -> TaskTransition {
    TaskTransition {
        action,
        from: from.to_vec(),
        to,
        at: "2026-12-01T08:10:00.000Z".into(),
        by: "alice".into(),
        note: Some("on my way".into()),
        due_at: Some("2026-12-02T08:10:00.000Z".into()),
    }
}

#[tokio::test]
async fn a_task_changes_only_from_where_it_stands_and_keeps_its_history() {
    let catalog = SqliteCatalog::open_in_memory().unwrap();
    let stored = catalog
        .insert_tasks(vec![new_task("task_1", Some("alert_1/run_1/330824116224"))])
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    // the same origin key again creates nothing, and the batch around it still lands
    let again = catalog
        .insert_tasks(vec![
            new_task("task_2", Some("alert_1/run_1/330824116224")),
            new_task("task_3", None),
        ])
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["task_3"]
    );

    let accept = || change("accept", &[TaskStatus::Dispatched], TaskStatus::Accepted);
    let accepted = catalog.transition_task("task_1", accept()).await.unwrap();
    assert_eq!(accepted.status, TaskStatus::Accepted);
    assert_eq!(
        accepted.accepted_at.as_deref(),
        Some("2026-12-01T08:10:00.000Z")
    );
    assert_eq!(
        accepted.handle_due_at.as_deref(),
        Some("2026-12-02T08:10:00.000Z")
    );
    let twice = catalog
        .transition_task("task_1", accept())
        .await
        .unwrap_err();
    assert!(
        matches!(&twice, CatalogError::Conflict(m) if m.contains("is accepted")),
        "{twice}"
    );
    let missing = catalog
        .transition_task("task_9", accept())
        .await
        .unwrap_err();
    assert!(matches!(missing, CatalogError::NotFound(_)), "{missing}");

    // an accepted task is never escalated, a dispatched one once per level
    let yellow = TaskEscalation {
        to: Supervision::Yellow,
        escalated_to: Some(JurisdictionCode::parse("330824116000").unwrap()),
        at: "2026-12-01T08:31:00.000Z".into(),
    };
    assert!(
        catalog
            .escalate_task("task_1", yellow.clone())
            .await
            .unwrap()
            .is_none()
    );
    let due = catalog
        .due_escalations("2026-12-01T08:31:00.000Z")
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["task_3"]
    );
    let escalated = catalog
        .escalate_task("task_3", yellow.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(escalated.supervision, Supervision::Yellow);
    assert!(
        catalog
            .escalate_task("task_3", yellow)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        catalog
            .due_escalations("2026-12-01T08:59:00.000Z")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        catalog
            .due_escalations("2026-12-01T09:00:00.000Z")
            .await
            .unwrap()
            .len(),
        1
    );

    let history = catalog.task_events("task_1").await.unwrap();
    let actions: Vec<_> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["dispatch", "accept"]);
    assert_eq!(history[1].by, "alice");
    assert_eq!(history[1].note.as_deref(), Some("on my way"));
    let escalations = catalog.task_events("task_3").await.unwrap();
    assert_eq!(escalations.len(), 2);
    assert_eq!(
        escalations[1].escalated_to.as_ref().unwrap().as_str(),
        "330824116000"
    );
}

#[tokio::test]
async fn a_tick_is_claimed_once() {
    let catalog = SqliteCatalog::open_in_memory().unwrap();
    catalog
        .upsert_jurisdictions(&kaihua(), "admin")
        .await
        .unwrap();
    let report = catalog
        .insert_report(NewReport {
            name: "reports.r".into(),
            owner: JurisdictionCode::parse("330824000000").unwrap(),
            content: content("SELECT 1"),
            created_by: "carol".into(),
        })
        .await
        .unwrap();
    let stored = catalog
        .insert_schedule(NewSchedule {
            id: "sch_1".into(),
            report_id: report.id.clone(),
            name: "daily".into(),
            cron: "0 8 * * *".into(),
            time_zone: "Asia/Shanghai".into(),
            run_as: "carol".into(),
            parameters: Default::default(),
            fan_out: None,
            created_by: "carol".into(),
            next_run_at: "2026-12-02T00:00:00.000Z".into(),
        })
        .await
        .unwrap();
    assert!(stored.last_runs.is_empty());
    assert!(
        catalog
            .due_schedules("2026-12-01T23:59:59.999Z")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        catalog
            .due_schedules("2026-12-02T00:00:00.000Z")
            .await
            .unwrap()
            .len(),
        1
    );
    let due = "2026-12-02T00:00:00.000Z";
    let next = "2026-12-03T00:00:00.000Z";
    assert!(catalog.claim_tick("sch_1", due, next).await.unwrap());
    assert!(!catalog.claim_tick("sch_1", due, next).await.unwrap());
    let failed = ScheduleOutcome {
        at: due.into(),
        runs: vec!["run_1".into()],
        error: Some("source down".into()),
    };
    catalog.finish_tick("sch_1", failed).await.unwrap();
    let after = catalog.schedule("sch_1").await.unwrap().unwrap();
    assert_eq!(after.next_run_at, next);
    assert_eq!(after.last_error.as_deref(), Some("source down"));
    assert_eq!(after.last_success_at, None);
    let ok = ScheduleOutcome {
        at: next.into(),
        runs: vec!["run_2".into()],
        error: None,
    };
    catalog.finish_tick("sch_1", ok).await.unwrap();
    let after = catalog.schedule("sch_1").await.unwrap().unwrap();
    assert_eq!(after.last_success_at.as_deref(), Some(next));
    assert_eq!(after.last_error, None);
    // a report's schedules go with it
    catalog.delete_report(&report.id, "carol").await.unwrap();
    assert!(catalog.schedules().await.unwrap().is_empty());
}
