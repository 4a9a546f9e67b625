//! Runs every attack file in `tests/attacks/`.

use std::path::PathBuf;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_suite() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/attacks");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no attack files in {}", dir.display());
    let mut failures = Vec::new();
    let mut records = 0;
    for file in &files {
        records += std::fs::read_to_string(file)
            .unwrap()
            .matches("\nquery ")
            .count();
        failures.extend(crate::slt::run(file).await);
    }
    assert!(
        records >= 40,
        "the suite holds only {records} query records"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
