//! The audit chain's verifier against tampered copies of one catalog: each tampering is
//! detected with the problem it is (the golden lines below), and the untouched chain verifies.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};
use serde_json::json;
use tiaokuai_catalog::chain::{self, AuditKey, Checkpoint, Verification};
use tiaokuai_catalog::{Catalog, SqliteCatalog};

const KEY: [u8; 32] = [7; 32];
const OTHER_KEY: [u8; 32] = [9; 32];

/// A catalog with 12 records: checkpoint 1 signs 1–5, checkpoint 2 signs 6–10, and 11–12 are
/// the unsigned tail. Returns the catalog file, a copy taken after checkpoint 1 (with record
/// 6 written), and the head kept beside the key.
async fn fixture(dir: &Path) -> (PathBuf, PathBuf, Checkpoint) {
    let path = dir.join("catalog.db");
    let older = dir.join("older.db");
    let key = AuditKey::from_seed(KEY);
    let catalog = SqliteCatalog::open(&path).unwrap();
    let write = |n: usize| {
        let catalog = &catalog;
        async move {
            catalog
                .record(
                    "xiashan_official",
                    "query",
                    &format!("q{n}"),
                    json!({"n": n}),
                )
                .await
                .unwrap();
        }
    };
    for n in 1..=5 {
        write(n).await;
    }
    chain::checkpoint(&catalog, &key).await.unwrap().unwrap();
    write(6).await;
    copy(&path, &older);
    for n in 7..=10 {
        write(n).await;
    }
    let head = chain::checkpoint(&catalog, &key).await.unwrap().unwrap();
    assert!(
        chain::checkpoint(&catalog, &key).await.unwrap().is_none(),
        "nothing new to sign"
    );
    write(11).await;
    write(12).await;
    drop(catalog);
    (path, older, head)
}

/// A consistent copy of a live catalog.
fn copy(from: &Path, to: &Path) {
    let conn = Connection::open(from).unwrap();
    conn.execute("VACUUM INTO ?1", [to.to_str().unwrap()])
        .unwrap();
}

/// A copy of `path` changed by `tamper` (run with the append-only triggers dropped, as an
/// attacker with the file would).
fn tampered(path: &Path, name: &str, tamper: impl FnOnce(&Connection)) -> PathBuf {
    let copy = path.with_file_name(format!("{name}.db"));
    std::fs::copy(path, &copy).unwrap();
    let conn = Connection::open(&copy).unwrap();
    conn.execute_batch(
        "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete; \
         DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete;",
    )
    .unwrap();
    tamper(&conn);
    drop(conn);
    copy
}

async fn verify(path: &Path, key: [u8; 32], head: Option<&Checkpoint>) -> Verification {
    let catalog = SqliteCatalog::open_read_only(path).unwrap();
    let keys = vec![AuditKey::from_seed(key).public()];
    chain::verify(&catalog, keys, head.cloned()).await.unwrap()
}

fn lines(verification: &Verification) -> Vec<String> {
    verification
        .problems
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn rehash(conn: &Connection, seq: i64) {
    let (prev, at, principal, action, target, detail): (String, String, String, String, String, String) = conn
        .query_row(
            "SELECT prev_hash, at, principal, action, target, detail FROM audit_events WHERE id = ?1",
            [seq],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .unwrap();
    let hash = chain::record_hash(&prev, seq, &at, &principal, &action, &target, &detail);
    conn.execute(
        "UPDATE audit_events SET hash = ?1 WHERE id = ?2",
        params![hash, seq],
    )
    .unwrap();
}

#[tokio::test]
async fn every_tampering_is_detected_and_the_untouched_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (path, older, head) = fixture(dir.path()).await;

    let untouched = verify(&path, KEY, Some(&head)).await;
    assert!(untouched.is_intact(), "{untouched}");
    assert_eq!((untouched.records, untouched.checkpoints), (12, 2));
    assert_eq!(untouched.unsigned_tail(), 2);
    assert_eq!(
        untouched.to_string(),
        "12 records, 2 checkpoints: the chain is intact; the newest 2 records (after record 10) are chained but not yet signed"
    );

    type Case = (
        &'static str,
        Box<dyn FnOnce(&Connection)>,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "modified",
            Box::new(|c| {
                c.execute(
                    "UPDATE audit_events SET principal = 'nobody' WHERE id = 3",
                    [],
                )
                .unwrap();
            }),
            vec!["record 3 was changed after it was written: its content does not match its hash"],
        ),
        (
            "modified_and_rehashed",
            Box::new(|c| {
                c.execute(
                    "UPDATE audit_events SET target = 'q-other' WHERE id = 3",
                    [],
                )
                .unwrap();
                rehash(c, 3);
            }),
            vec!["record 4 does not follow record 3: a record was inserted, removed or moved here"],
        ),
        (
            "deleted",
            Box::new(|c| {
                c.execute("DELETE FROM audit_events WHERE id = 7", [])
                    .unwrap();
            }),
            vec!["record 7 is missing: the chain jumps from 6 to 8"],
        ),
        (
            "inserted",
            Box::new(|c| {
                // records 8… move up one, and a forged record 8 links to record 7
                c.execute("UPDATE audit_events SET id = -id WHERE id >= 8", [])
                    .unwrap();
                c.execute("UPDATE audit_events SET id = 1 - id WHERE id < 0", [])
                    .unwrap();
                let prev: String = c
                    .query_row("SELECT hash FROM audit_events WHERE id = 7", [], |r| {
                        r.get(0)
                    })
                    .unwrap();
                c.execute(
                    "INSERT INTO audit_events (id, at, principal, action, target, detail, prev_hash, hash) \
                     VALUES (8, '2026-01-01T00:00:00.000Z', 'admin', 'query', 'forged', '{}', ?1, '')",
                    [prev],
                )
                .unwrap();
                rehash(c, 8);
            }),
            vec![
                "record 9 does not follow record 8: a record was inserted, removed or moved here",
                "record 9 was changed after it was written: its content does not match its hash",
                "record 10 was changed after it was written: its content does not match its hash",
                "record 11 was changed after it was written: its content does not match its hash",
                "record 12 was changed after it was written: its content does not match its hash",
                "record 13 was changed after it was written: its content does not match its hash",
                "checkpoint 2 signed another chain: its hash of record 10 is not this chain's",
            ],
        ),
        (
            "reordered",
            Box::new(|c| {
                c.execute_batch(
                    "UPDATE audit_events SET id = 100 WHERE id = 4; \
                     UPDATE audit_events SET id = 4 WHERE id = 5; \
                     UPDATE audit_events SET id = 5 WHERE id = 100;",
                )
                .unwrap();
            }),
            vec![
                "record 4 does not follow record 3: a record was inserted, removed or moved here",
                "record 4 was changed after it was written: its content does not match its hash",
                "record 5 does not follow record 4: a record was inserted, removed or moved here",
                "record 5 was changed after it was written: its content does not match its hash",
                "record 6 does not follow record 5: a record was inserted, removed or moved here",
                "checkpoint 1 signed another chain: its hash of record 5 is not this chain's",
            ],
        ),
        (
            "truncated",
            Box::new(|c| {
                c.execute("DELETE FROM audit_events WHERE id >= 9", [])
                    .unwrap();
            }),
            vec![
                "the chain ends at record 8, but checkpoint 2 signed it up to record 10: the newest records were removed",
            ],
        ),
        (
            "wrong_key",
            Box::new(|c| {
                let mut second: Checkpoint = c
                    .query_row(
                        "SELECT chain_id, number, from_seq, to_seq, hash, previous, at FROM audit_checkpoints WHERE number = 2",
                        [],
                        |r| {
                            Ok(Checkpoint {
                                chain_id: r.get(0)?,
                                number: r.get(1)?,
                                from_seq: r.get(2)?,
                                to_seq: r.get(3)?,
                                hash: r.get(4)?,
                                previous: r.get(5)?,
                                at: r.get(6)?,
                                key_id: String::new(),
                                signature: String::new(),
                            })
                        },
                    )
                    .unwrap();
                second = AuditKey::from_seed(OTHER_KEY).sign(second);
                c.execute(
                    "UPDATE audit_checkpoints SET key_id = ?1, signature = ?2 WHERE number = 2",
                    params![second.key_id, second.signature],
                )
                .unwrap();
            }),
            vec![
                "checkpoint 2's signature does not verify with the audit key: another key signed it, or it was altered",
                "the catalog's checkpoint 2 is not the one kept beside the key: the catalog holds another chain",
            ],
        ),
        (
            "unsigned_segment",
            Box::new(|c| {
                c.execute(
                    "UPDATE audit_checkpoints SET signature = '' WHERE number = 1",
                    [],
                )
                .unwrap();
            }),
            vec![
                "records 1 to 5 are signed by no checkpoint: a checkpoint was removed or left unsigned",
                "checkpoint 2 does not follow checkpoint 1: a checkpoint was inserted, altered or moved",
            ],
        ),
        (
            "checkpoint_removed",
            Box::new(|c| {
                c.execute("DELETE FROM audit_checkpoints WHERE number = 1", [])
                    .unwrap();
            }),
            vec![
                "records 1 to 5 are signed by no checkpoint: a checkpoint was removed or left unsigned",
            ],
        ),
    ];
    for (name, tamper, expected) in cases {
        let copy = tampered(&path, name, tamper);
        let found = verify(&copy, KEY, Some(&head)).await;
        assert!(!found.is_intact(), "{name}: not detected");
        assert_eq!(lines(&found), expected, "{name}");
        assert!(found.to_string().contains("NOT intact"), "{name}");
    }

    // an older copy of the whole catalog, consistent in itself, against the head
    let replayed = verify(&older, KEY, Some(&head)).await;
    assert_eq!(
        lines(&replayed),
        vec![
            "the catalog is older than its audit head: the head kept beside the key is checkpoint 2 (record 10), the catalog's newest checkpoint is 1; an older copy of the chain replaced it"
        ]
    );
    // the same copy verifies without the head: nothing in it is broken, only old
    assert!(verify(&older, KEY, None).await.is_intact());

    // the whole chain against another key
    let other = verify(&path, OTHER_KEY, None).await;
    assert_eq!(
        lines(&other),
        vec![
            "checkpoint 1's signature does not verify with the audit key: another key signed it, or it was altered",
            "checkpoint 2's signature does not verify with the audit key: another key signed it, or it was altered",
        ]
    );
}

#[tokio::test]
async fn the_catalog_refuses_to_change_or_remove_records_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = fixture(dir.path()).await;
    let conn = Connection::open(&path).unwrap();
    for statement in [
        "UPDATE audit_events SET principal = 'x' WHERE id = 1",
        "DELETE FROM audit_events WHERE id = 12",
        "UPDATE audit_checkpoints SET signature = '' WHERE number = 1",
        "DELETE FROM audit_checkpoints",
    ] {
        let error = conn.execute(statement, []).unwrap_err().to_string();
        assert!(error.contains("append-only"), "{statement}: {error}");
    }
}

#[tokio::test]
async fn a_checkpoint_that_does_not_follow_or_does_not_sign_the_chain_is_not_added() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, head) = fixture(dir.path()).await;
    let catalog = SqliteCatalog::open(&path).unwrap();
    let key = AuditKey::from_seed(KEY);
    let chain_id = catalog.audit_chain_id().await.unwrap();
    let (seq, hash) = catalog.audit_head().await.unwrap().unwrap();
    let next = |number, from_seq, hash: &str, previous: &str| {
        key.sign(Checkpoint {
            chain_id: chain_id.clone(),
            number,
            from_seq,
            to_seq: seq,
            hash: hash.to_owned(),
            previous: previous.to_owned(),
            at: "2026-12-01T00:00:00.000Z".to_owned(),
            key_id: String::new(),
            signature: String::new(),
        })
    };
    let digest = head.digest();
    for (why, wrong) in [
        ("a number already taken", next(2, 11, &hash, &digest)),
        ("a gap before it", next(3, 12, &hash, &digest)),
        ("another hash", next(3, 11, &"0".repeat(64), &digest)),
        ("another previous", next(3, 11, &hash, "beef")),
    ] {
        assert!(
            !catalog.add_audit_checkpoint(&wrong).await.unwrap(),
            "{why}"
        );
    }
    assert!(
        catalog
            .add_audit_checkpoint(&next(3, 11, &hash, &digest))
            .await
            .unwrap()
    );
    drop(catalog);
    let verified = verify(&path, KEY, Some(&head)).await;
    assert!(verified.is_intact(), "{verified}");
    assert_eq!(verified.unsigned_tail(), 0);
}
