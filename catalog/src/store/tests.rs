use super::*;

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
        kind: SourceKind::Parquet,
        url: "file:///tmp/x/".into(),
        options: Default::default(),
        secret: None,
        owner: JurisdictionCode::parse("330824116224").unwrap(),
        table: table.map(|t| TableDef {
            name: t.into(),
            binding: Binding::Fixed {
                fixed: JurisdictionCode::parse("330824116224").unwrap(),
            },
            classification: Default::default(),
        }),
        columns: vec![ColumnDef {
            name: "a".into(),
            data_type: "Int64".into(),
            nullable: true,
        }],
        tables: Vec::new(),
        created_by: "admin".into(),
        confined: false,
    }
}

#[test]
fn migrations_persist_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    {
        let catalog = Catalog::open(&path).unwrap();
        catalog.upsert_jurisdictions(&kaihua(), "admin").unwrap();
    }
    let catalog = Catalog::open(&path).unwrap();
    assert_eq!(catalog.jurisdictions().unwrap().len(), 3);
}

#[test]
fn a_bad_batch_stores_nothing() {
    let catalog = Catalog::open_in_memory().unwrap();
    let mut batch = kaihua();
    batch.push(raw("33082411622", "bad", "village", Some("330824116000")));
    assert!(matches!(
        catalog.upsert_jurisdictions(&batch, "admin"),
        Err(CatalogError::Invalid(_))
    ));
    assert!(catalog.jurisdictions().unwrap().is_empty());
    // a later batch may refer to parents stored earlier
    catalog
        .upsert_jurisdictions(&kaihua()[..2], "admin")
        .unwrap();
    catalog
        .upsert_jurisdictions(&kaihua()[2..], "admin")
        .unwrap();
    assert_eq!(catalog.jurisdictions().unwrap().len(), 3);
}

#[test]
fn tokens_authenticate_until_revoked() {
    let catalog = Catalog::open_in_memory().unwrap();
    let alice = catalog.create_principal("alice", "admin").unwrap();
    let (info, secret) = catalog.issue_token("alice", "admin").unwrap();
    assert_eq!(catalog.authenticate(&secret).unwrap(), Some(alice));
    assert_eq!(catalog.authenticate("tk_wrong").unwrap(), None);
    catalog.revoke_token(&info.id, "admin").unwrap();
    assert_eq!(catalog.authenticate(&secret).unwrap(), None);
    assert!(matches!(
        catalog.revoke_token(&info.id, "admin"),
        Err(CatalogError::NotFound(_))
    ));
}

#[test]
fn bootstrap_token_replaces_the_previous_one() {
    let catalog = Catalog::open_in_memory().unwrap();
    let admin = catalog.ensure_principal("admin").unwrap();
    catalog.set_bootstrap_token(&admin.id, "first").unwrap();
    catalog.set_bootstrap_token(&admin.id, "second").unwrap();
    assert_eq!(catalog.authenticate("first").unwrap(), None);
    assert_eq!(
        catalog.authenticate("second").unwrap().unwrap().name,
        "admin"
    );
}

#[test]
fn principal_names_are_unique_and_checked() {
    let catalog = Catalog::open_in_memory().unwrap();
    catalog.create_principal("bob", "admin").unwrap();
    assert!(matches!(
        catalog.create_principal("bob", "admin"),
        Err(CatalogError::Conflict(_))
    ));
    assert!(matches!(
        catalog.create_principal("Bob Smith", "admin"),
        Err(CatalogError::Invalid(_))
    ));
    assert!(matches!(
        catalog.assign_role("carol", "dispatcher", "*", "admin"),
        Err(CatalogError::NotFound(_))
    ));
    catalog
        .assign_role("bob", "dispatcher", "330824116000", "admin")
        .unwrap();
    catalog
        .assign_role("bob", "dispatcher", "330824116000", "admin")
        .unwrap();
    let bob = catalog.principal_by_name("bob").unwrap().unwrap();
    assert_eq!(catalog.roles_of(&bob.id).unwrap().len(), 1);
}

#[test]
fn sources_and_datasets_share_one_table_namespace() {
    let catalog = Catalog::open_in_memory().unwrap();
    catalog.upsert_jurisdictions(&kaihua(), "admin").unwrap();
    let a = catalog
        .insert_source(source("a", Some("village.a")))
        .unwrap();
    assert!(matches!(
        catalog.insert_source(source("a", None)),
        Err(CatalogError::Conflict(_))
    ));
    assert!(matches!(
        catalog.insert_source(source("b", Some("village.a"))),
        Err(CatalogError::Conflict(_))
    ));
    assert!(matches!(
        catalog.insert_source(source("c", Some("system.x"))),
        Err(CatalogError::Invalid(_))
    ));
    let member = catalog.insert_source(source("m", None)).unwrap();
    let dataset = NewDataset {
        name: "village.a".into(),
        members: vec![DatasetMember {
            source: member.id.clone(),
            jurisdiction: JurisdictionCode::parse("330824116224").unwrap(),
        }],
        classification: Default::default(),
        columns: member.columns.clone(),
        created_by: "admin".into(),
    };
    assert!(matches!(
        catalog.insert_dataset(dataset.clone()),
        Err(CatalogError::Conflict(_))
    ));
    let created = catalog
        .insert_dataset(NewDataset {
            name: "village.u".into(),
            ..dataset.clone()
        })
        .unwrap();
    assert_eq!(
        catalog.dataset(&created.id).unwrap().unwrap().members.len(),
        1
    );
    // a member cannot be deleted under its dataset, and a failed insert leaves nothing behind
    assert!(matches!(
        catalog.delete_source(&member.id, "admin"),
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
        catalog.insert_dataset(dangling),
        Err(CatalogError::NotFound(_))
    ));
    assert_eq!(catalog.datasets().unwrap().len(), 1);
    catalog.delete_dataset(&created.id, "admin").unwrap();
    catalog.delete_source(&member.id, "admin").unwrap();
    catalog.delete_source(&a.id, "admin").unwrap();
    assert!(catalog.sources().unwrap().is_empty());
    assert!(
        catalog
            .audit_events(100)
            .unwrap()
            .iter()
            .any(|e| e.action == "source.delete")
    );
}

#[test]
fn a_newer_catalog_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
    }
    assert!(matches!(
        Catalog::open(&path),
        Err(CatalogError::Invalid(_))
    ));
}

#[test]
fn source_names_are_unique_per_registrant() {
    let catalog = Catalog::open_in_memory().unwrap();
    catalog.insert_source(source("civil_db", None)).unwrap();
    assert!(matches!(
        catalog.insert_source(source("civil_db", None)),
        Err(CatalogError::Conflict(_))
    ));
    // another registrant's source of the same name is none of this one's business
    let theirs = NewSource {
        created_by: "civil_system".into(),
        confined: true,
        ..source("civil_db", None)
    };
    let stored = catalog.insert_source(theirs).unwrap();
    assert!(stored.confined);
    let again = catalog.source(&stored.id).unwrap().unwrap();
    assert!(again.confined);
    assert_eq!(again.created_by, "civil_system");
}

#[test]
fn grants_are_stored_once_per_jurisdiction_kind_and_location() {
    let catalog = Catalog::open_in_memory().unwrap();
    catalog.upsert_jurisdictions(&kaihua(), "admin").unwrap();
    let majin = JurisdictionCode::parse("330824116000").unwrap();
    let grant = catalog
        .insert_grant(&majin, "path", "/srv/majin/", "admin")
        .unwrap();
    assert!(matches!(
        catalog.insert_grant(&majin, "path", "/srv/majin/", "admin"),
        Err(CatalogError::Conflict(_))
    ));
    let unknown = JurisdictionCode::parse("330824999000").unwrap();
    assert!(matches!(
        catalog.insert_grant(&unknown, "path", "/srv/x/", "admin"),
        Err(CatalogError::Invalid(_))
    ));
    assert_eq!(catalog.grants().unwrap(), vec![grant.clone()]);
    catalog.delete_grant(&grant.id, "admin").unwrap();
    assert!(catalog.grants().unwrap().is_empty());
    assert!(matches!(
        catalog.delete_grant(&grant.id, "admin"),
        Err(CatalogError::NotFound(_))
    ));
}

/// A catalog made by the previous version: its sources keep their tables and dataset
/// memberships, and those a non-admin registered become confined.
#[test]
fn a_version_3_catalog_is_migrated_with_its_references_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in crate::migrations::first(3) {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
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
    let catalog = Catalog::open(&path).unwrap();
    let sources = catalog.sources().unwrap();
    let by_id = |id: &str| sources.iter().find(|s| s.id == id).unwrap();
    assert!(!by_id("src_a").confined);
    assert!(by_id("src_b").confined);
    assert_eq!(by_id("src_b").tables.len(), 1);
    assert_eq!(catalog.datasets().unwrap()[0].members[0].source, "src_a");
    // the dataset's reference to its member still holds
    assert!(matches!(
        catalog.delete_source("src_a", "admin"),
        Err(CatalogError::Conflict(_))
    ));
    catalog.delete_source("src_b", "admin").unwrap();
    assert!(catalog.grants().unwrap().is_empty());
    drop(catalog);
    // and it opens again at the new version
    let catalog = Catalog::open(&path).unwrap();
    assert_eq!(catalog.sources().unwrap().len(), 1);
}
