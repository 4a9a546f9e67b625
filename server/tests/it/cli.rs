//! The `tiaokuai` command itself: its data-directory commands, run as a user would.

use std::process::Command;

fn tiaokuai(data_dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tiaokuai"))
        .args(args)
        .env("TIAOKUAI_DATA_DIR", data_dir)
        .env("TIAOKUAI_LOG", "warn")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn help_documents_every_flag_with_its_variable() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, help, _) = tiaokuai(dir.path(), &["serve", "--help"]);
    assert!(ok);
    for variable in [
        "TIAOKUAI_LISTEN",
        "TIAOKUAI_DATA_DIR",
        "TIAOKUAI_CATALOG",
        "TIAOKUAI_DEMO",
        "TIAOKUAI_ADMIN_TOKEN",
        "TIAOKUAI_QUERY_TIMEOUT_SECS",
        "TIAOKUAI_MEMORY_LIMIT_MB",
        "TIAOKUAI_LISTING_CACHE_SECS",
        "TIAOKUAI_MAX_BODY_BYTES",
        "TIAOKUAI_MAX_SQL_BYTES",
    ] {
        assert!(
            help.contains(variable),
            "serve --help lacks {variable}:\n{help}"
        );
    }
}

#[test]
fn jurisdictions_tokens_and_policy_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree.csv");
    std::fs::write(&tree, "code,name,level,parent\n330824000000,开化县,county,\n330824116000,马金镇,township,330824000000\n").unwrap();
    let (ok, out, err) = tiaokuai(
        dir.path(),
        &["jurisdictions", "import", tree.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "2 jurisdictions imported");

    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "code,name,level,parent\n33082411600,坏,township,330824000000\n",
    )
    .unwrap();
    let (ok, _, err) = tiaokuai(
        dir.path(),
        &["jurisdictions", "import", bad.to_str().unwrap()],
    );
    assert!(!ok);
    assert!(err.contains("12 ASCII digits"), "{err}");

    let (ok, token, err) = tiaokuai(dir.path(), &["token", "create", "--principal", "carol"]);
    assert!(ok, "{err}");
    assert!(
        token.trim().starts_with("tk_") && token.trim().len() == 67,
        "{token}"
    );

    let policy = dir.path().join("policy.csv");
    std::fs::write(
        &policy,
        "# test\np, dispatcher, *, village.*, read, allow\ng, carol, dispatcher, 330824116000\n",
    )
    .unwrap();
    let (ok, _, err) = tiaokuai(dir.path(), &["policy", "import", policy.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, exported, err) = tiaokuai(dir.path(), &["policy", "export"]);
    assert!(ok, "{err}");
    assert!(
        exported.contains("p, dispatcher, *, village.*, read, allow"),
        "{exported}"
    );
    assert!(
        exported.contains("g, carol, dispatcher, 330824116000"),
        "{exported}"
    );
    assert!(
        exported.contains("g, admin, admin, *"),
        "the bootstrap admin survives an import:\n{exported}"
    );

    std::fs::write(
        &policy,
        "p, dispatcher, 33082411600, village.*, read, allow\n",
    )
    .unwrap();
    let (ok, _, err) = tiaokuai(dir.path(), &["policy", "import", policy.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("line 1"), "{err}");
    let (_, unchanged, _) = tiaokuai(dir.path(), &["policy", "export"]);
    assert_eq!(unchanged, exported);
}

#[test]
fn a_damaged_key_file_stops_the_server_instead_of_being_replaced() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.key"), b"short").unwrap();
    let (ok, _, err) = tiaokuai(dir.path(), &["policy", "export"]);
    assert!(!ok);
    assert!(err.contains("secret.key is not a 32-byte key"), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join("secret.key")).unwrap(),
        b"short"
    );
}

#[test]
fn grants_round_trip_through_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree.csv");
    std::fs::write(
        &tree,
        "code,name,level,parent\n330824000000,开化县,county,\n330824116000,马金镇,township,330824000000\n",
    )
    .unwrap();
    let (ok, _, err) = tiaokuai(
        dir.path(),
        &["jurisdictions", "import", tree.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    let (ok, out, err) = tiaokuai(
        dir.path(),
        &[
            "grant",
            "add",
            "--jurisdiction",
            "330824116000",
            "--kind",
            "host",
            "DB.Majin.Example:5432",
        ],
    );
    assert!(ok, "{err}");
    let grant: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(grant["location"], "db.majin.example:5432");
    let (ok, _, err) = tiaokuai(
        dir.path(),
        &[
            "grant",
            "add",
            "--jurisdiction",
            "330824116000",
            "--kind",
            "env",
            "TIAOKUAI_",
        ],
    );
    assert!(!ok);
    assert!(err.contains("TIAOKUAI"), "{err}");
    let (ok, listed, err) = tiaokuai(dir.path(), &["grant", "list"]);
    assert!(ok, "{err}");
    assert_eq!(listed.lines().count(), 1, "{listed}");
    let id = grant["id"].as_str().unwrap();
    let (ok, _, err) = tiaokuai(dir.path(), &["grant", "remove", id]);
    assert!(ok, "{err}");
    let (ok, listed, _) = tiaokuai(dir.path(), &["grant", "list"]);
    assert!(ok);
    assert!(listed.trim().is_empty(), "{listed}");
    let (ok, _, err) = tiaokuai(dir.path(), &["grant", "remove", id]);
    assert!(!ok);
    assert!(err.contains("not found"), "{err}");
}
