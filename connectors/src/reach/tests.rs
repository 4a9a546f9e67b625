use std::net::IpAddr;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::ObjectStore;

use super::local::ConfinedLocalStore;
use super::*;

fn grant(kind: &str, location: &str) -> Grant {
    Grant::parse(kind, location).unwrap_or_else(|e| panic!("{kind} {location}: {e}"))
}

fn reach(grants: &[(&str, &str)], private: &[PathBuf]) -> Reach {
    Reach::new(
        "330824116000",
        grants.iter().map(|(k, l)| grant(k, l)).collect(),
        private,
    )
}

fn message(result: Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(ConnectorError::OutOfReach(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn grants_parse_into_one_written_form() {
    assert_eq!(grant("path", "/srv/majin").location(), "/srv/majin/");
    assert_eq!(grant("path", "/srv/majin/").location(), "/srv/majin/");
    assert_eq!(grant("s3", "s3://civil").location(), "s3://civil/");
    assert_eq!(
        grant("s3", "s3://civil/subsidies").location(),
        "s3://civil/subsidies/"
    );
    assert_eq!(
        grant("host", "DB.Civil.Example.").location(),
        "db.civil.example"
    );
    assert_eq!(
        grant("host", "db.civil.example:5432").location(),
        "db.civil.example:5432"
    );
    assert_eq!(grant("host", "10.1.0.0/16").location(), "10.1.0.0/16");
    assert_eq!(grant("host", "127.0.0.1:5055").location(), "127.0.0.1:5055");
    assert_eq!(grant("host", "[::1]:5432").location(), "[::1]:5432");
    assert_eq!(grant("host", "fd00::/8").location(), "fd00::/8");
    assert_eq!(grant("env", "CIVIL_").location(), "CIVIL_");
    for (kind, location) in [
        ("path", "relative/dir"),
        ("path", "/srv/../etc"),
        ("s3", "civil/"),
        ("s3", "s3://Bad_Bucket/"),
        ("s3", "s3://civil/../x/"),
        ("host", "db.example:0"),
        ("host", "db.example:99999"),
        ("host", "10.1.0.1/16"),
        ("host", "*.example"),
        ("host", "http://db.example"),
        ("env", ""),
        ("env", "civil_"),
        ("env", "TIAOKUAI_"),
        ("env", "TIAO"),
        ("env", "T"),
        ("secret_file", "secrets/"),
        ("bucket", "s3://civil/"),
    ] {
        assert!(Grant::parse(kind, location).is_err(), "{kind} {location}");
    }
}

#[test]
fn paths_must_lie_under_a_granted_folder_and_outside_the_servers_own() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("majin");
    let other = dir.path().join("other");
    let data = root.join("server-data");
    for folder in [&root, &other, &data] {
        std::fs::create_dir_all(folder).unwrap();
    }
    std::fs::write(root.join("a.parquet"), b"x").unwrap();
    std::fs::write(other.join("b.parquet"), b"x").unwrap();
    std::fs::write(data.join("catalog.db"), b"x").unwrap();
    let reach = reach(
        &[("path", root.to_str().unwrap())],
        std::slice::from_ref(&data),
    );
    assert!(reach.path(&root.join("a.parquet")).is_ok());

    // the same refusal whether the path exists or not
    let outside = message(reach.path(&other.join("b.parquet")));
    let missing = message(reach.path(&other.join("nothing.parquet")));
    assert_eq!(
        outside.replace("b.parquet", "X"),
        missing.replace("nothing.parquet", "X")
    );
    assert!(!outside.contains("exist"), "{outside}");
    // `..` and links are resolved first
    assert!(reach.path(&root.join("../other/b.parquet")).is_err());
    std::os::unix::fs::symlink(&other, root.join("link")).unwrap();
    assert!(reach.path(&root.join("link/b.parquet")).is_err());
    // the server's own files, even inside a granted folder, and folders that hold them
    assert!(reach.path(&data.join("catalog.db")).is_err());
    assert!(
        reach.path(&root).is_err(),
        "the granted folder holds the data dir"
    );
    assert!(reach.path(Path::new("/")).is_err());
}

#[test]
fn buckets_and_prefixes() {
    let reach = reach(&[("s3", "s3://civil/subsidies/")], &[]);
    assert!(reach.bucket("civil", "subsidies/").is_ok());
    assert!(reach.bucket("civil", "subsidies/2024/").is_ok());
    assert!(reach.bucket("civil", "subsidies/x.parquet").is_ok());
    assert!(reach.bucket("civil", "subsidies-secret/").is_err());
    assert!(reach.bucket("civil", "").is_err());
    assert!(reach.bucket("civil", "other/").is_err());
    assert!(reach.bucket("agri", "subsidies/").is_err());
    assert!(reach.bucket("civil", "subsidies/../other/").is_err());
}

#[test]
fn hosts_by_name_by_address_and_by_network() {
    let reach = reach(
        &[
            ("host", "files.example.org"),
            ("host", "db.example.org:5432"),
            ("host", "10.1.0.0/16"),
            ("host", "127.0.0.1:5055"),
        ],
        &[],
    );
    let ip = |text: &str| text.parse::<IpAddr>().unwrap();
    assert!(reach.host("files.example.org", 443).is_ok());
    assert!(reach.host("FILES.example.org.", 80).is_ok());
    assert!(reach.host("db.example.org", 5432).is_ok());
    assert!(
        reach.host("db.example.org", 5433).is_ok(),
        "any name may resolve into 10.1/16"
    );
    assert!(reach.host("10.1.2.3", 5433).is_ok());
    assert!(reach.host("10.2.2.3", 80).is_err());
    assert!(reach.host("127.0.0.1", 5055).is_ok());
    assert!(reach.host("127.0.0.1", 5432).is_err());
    assert!(reach.host("[::ffff:127.0.0.1]", 5055).is_ok());
    assert!(reach.host("169.254.169.254", 80).is_err());
    // a granted name still never leads to the server itself or a metadata service
    assert!(reach.allows_address(Some("files.example.org"), ip("93.184.216.34"), Some(443)));
    assert!(!reach.allows_address(Some("files.example.org"), ip("127.0.0.1"), Some(443)));
    assert!(!reach.allows_address(Some("files.example.org"), ip("169.254.169.254"), None));
    assert!(!reach.allows_address(Some("files.example.org"), ip("::1"), None));
    assert!(!reach.allows_address(Some("other.example.org"), ip("93.184.216.34"), None));
    assert!(reach.allows_address(Some("other.example.org"), ip("10.1.9.9"), None));
    let nothing = super::Reach::new("330824116000", Vec::new(), &[]);
    assert!(nothing.host("files.example.org", 443).is_err());
    let everything = super::Reach::new("330824116000", vec![grant("host", "0.0.0.0/0")], &[]);
    assert!(everything.host("8.8.8.8", 53).is_ok());
    assert!(
        everything.host("127.0.0.1", 8080).is_err(),
        "0.0.0.0/0 opens no loopback"
    );
    assert!(everything.host("169.254.169.254", 80).is_err());
}

#[tokio::test]
async fn names_are_resolved_and_their_answers_checked() {
    let loopback_named = reach(&[("host", "localhost:5432")], &[]);
    // localhost answers with loopback addresses, which a name grant never opens
    assert!(loopback_named.resolve("localhost", 5432).await.is_err());
    let loopback = reach(&[("host", "127.0.0.1:5432")], &[]);
    let found = loopback.resolve("127.0.0.1", 5432).await.unwrap();
    assert_eq!(found[0].to_string(), "127.0.0.1:5432");
    assert!(loopback.resolve("127.0.0.1", 5433).await.is_err());
}

#[test]
fn secrets_come_only_from_granted_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(secrets.join("civil.pw"), "pw").unwrap();
    std::fs::write(data.join("secret.key"), "key").unwrap();
    std::os::unix::fs::symlink(data.join("secret.key"), secrets.join("sneaky.pw")).unwrap();
    let reach = reach(
        &[
            // the test cannot set variables (that takes unsafe code): it grants one every
            // process has
            ("env", "HOM"),
            ("secret_file", secrets.to_str().unwrap()),
        ],
        std::slice::from_ref(&data),
    );
    assert!(reach.given_secret("an inline password").is_ok());
    assert!(reach.given_secret("env:HOME").is_ok());
    assert!(
        reach
            .given_secret(&format!("file:{}", secrets.join("civil.pw").display()))
            .is_ok()
    );
    let refusals = [
        "env:HOME_OF_NOBODY_REACHTEST".to_owned(),
        "env:TIAOKUAI_ADMIN_TOKEN".to_owned(),
        "env:PATH".to_owned(),
        "env:USER_REACHTEST".to_owned(),
        format!("file:{}", data.join("secret.key").display()),
        format!("file:{}", secrets.join("sneaky.pw").display()),
        format!("file:{}", secrets.join("missing.pw").display()),
        format!("file:{}/../data/secret.key", secrets.display()),
        "file:/etc/passwd".to_owned(),
        "file:relative.pw".to_owned(),
        "enc:v1:AAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
    ];
    let messages: Vec<String> = refusals
        .iter()
        .map(|r| message(reach.given_secret(r)))
        .collect();
    assert!(
        messages.iter().all(|m| m == &messages[0]),
        "one answer for every refusal: {messages:?}"
    );
    assert!(!messages[0].contains("TIAOKUAI_ADMIN_TOKEN") && !messages[0].contains("passwd"));
    // a stored sealed value was sealed by the server itself
    assert!(reach.stored_secret("enc:v1:AAAA").is_ok());
}

#[tokio::test]
async fn a_link_added_after_registration_is_neither_listed_nor_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("majin");
    let hidden = dir.path().join("hidden");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&hidden).unwrap();
    std::fs::write(root.join("a.parquet"), b"mine").unwrap();
    std::fs::write(hidden.join("b.parquet"), b"not mine").unwrap();
    let reach = Arc::new(reach(&[("path", root.to_str().unwrap())], &[]));
    let store = ConfinedLocalStore::new(reach);
    std::os::unix::fs::symlink(&hidden, root.join("link")).unwrap();
    std::os::unix::fs::symlink(hidden.join("b.parquet"), root.join("c.parquet")).unwrap();
    let prefix = object_store::path::Path::from_filesystem_path(&root).unwrap();
    let listed: Vec<String> = store
        .list(Some(&prefix))
        .map_ok(|m| m.location.filename().unwrap_or_default().to_owned())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed, vec!["a.parquet".to_owned()]);
    let own = prefix.clone().join("a.parquet");
    assert_eq!(
        store
            .get_opts(&own, Default::default())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        b"mine"
    );
    for sneaky in [
        prefix.clone().join("c.parquet"),
        prefix.clone().join("link").join("b.parquet"),
    ] {
        assert!(
            store.get_opts(&sneaky, Default::default()).await.is_err(),
            "{sneaky}"
        );
    }
    assert!(
        store
            .put_opts(
                &own,
                object_store::PutPayload::from_static(b"x"),
                Default::default()
            )
            .await
            .is_err()
    );
}
