//! The 开化县 demo answers cross-village queries.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tiaokuai::demo;

use crate::harness::TestServer;

#[tokio::test]
async fn the_demo_answers_cross_village_queries() {
    let server = TestServer::start().await;
    let state = tiaokuai::open(&tiaokuai::ServerConfig::new(
        server.data_dir().join("demo-dir"),
    ))
    .await
    .unwrap();
    let catalog = state.engine.catalog();
    let caller = tiaokuai_policies::Caller::named(catalog, "admin")
        .unwrap()
        .unwrap();
    let data_dir = server.data_dir().join("demo-dir");
    let tokens = demo::build(&data_dir, &state.engine, &caller)
        .await
        .unwrap();
    assert_eq!(tokens.len(), 5);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir.join(demo::TOKENS_FILE)).unwrap())
            .unwrap();
    assert_eq!(written.as_object().unwrap().len(), 5);
    // building twice is refused rather than mixing data
    assert!(
        demo::build(&data_dir, &state.engine, &caller)
            .await
            .is_err()
    );
    drop(state);

    let mut config = tiaokuai::ServerConfig::new(&data_dir);
    config.admin_token = Some(crate::harness::ADMIN_TOKEN.into());
    let served = TestServer::serve(tempfile::tempdir().unwrap(), &config).await;
    let admin = &tokens["admin"];
    let rows = served
        .rows(admin, "SELECT j.name, count(*) FROM village.residents r JOIN system.jurisdictions j ON r.jurisdiction_code = j.code GROUP BY j.name")
        .await;
    assert_eq!(rows.len(), 269);
    let rows = served
        .rows(
            admin,
            "SELECT count(*) FROM system.jurisdictions WHERE level = 'township'",
        )
        .await;
    assert_eq!(rows, vec![json!([14])]);
    // every resident's ID number carries the county's prefix and its owner's birth date
    let rows = served
        .rows(admin, "SELECT count(*) FROM village.residents WHERE substr(id_card, 1, 6) <> '330824' OR substr(id_card, 7, 8) <> replace(CAST(birth_date AS VARCHAR), '-', '')")
        .await;
    assert_eq!(rows, vec![json!([0])]);
    let rows = served.rows(admin, "SELECT count(DISTINCT jurisdiction_code) FROM village.garden_orders WHERE jurisdiction_code LIKE '330824116%'").await;
    assert_eq!(rows, vec![json!([37])]);
    for (name, token) in &tokens {
        let whoami: Value = served.get(token, "/v1/whoami").await.json().await.unwrap();
        assert_eq!(&whoami["principal"], name);
    }

    // the same question, answered for each principal by role and jurisdiction
    let count = "SELECT count(*), count(DISTINCT jurisdiction_code) FROM village.residents";
    let all = served.rows(admin, count).await;
    let majin_total = served
        .rows(
            admin,
            "SELECT count(*) FROM village.residents WHERE jurisdiction_code LIKE '330824116%'",
        )
        .await;
    let xiashan_total = served
        .rows(
            admin,
            "SELECT count(*) FROM village.residents WHERE jurisdiction_code = '330824116224'",
        )
        .await;
    assert_eq!(all[0][1], json!(269));
    assert_eq!(served.rows(&tokens["county_dispatcher"], count).await, all);
    assert_eq!(served.rows(&tokens["civil_officer"], count).await, all);
    assert_eq!(
        served.rows(&tokens["majin_dispatcher"], count).await,
        vec![json!([majin_total[0][0], 37])]
    );
    assert_eq!(
        served.rows(&tokens["xiashan_official"], count).await,
        vec![json!([xiashan_total[0][0], 1])]
    );

    let person = "SELECT name, id_card, phone FROM village.residents WHERE jurisdiction_code = '330824116224' AND phone IS NOT NULL ORDER BY resident_id LIMIT 1";
    let plain = served.rows(admin, person).await[0].clone();
    let (name, id_card, phone) = (
        plain[0].as_str().unwrap(),
        plain[1].as_str().unwrap(),
        plain[2].as_str().unwrap(),
    );
    let masked_name = format!("{}*", name.chars().next().unwrap());
    let masked_id = format!("{}********{}", &id_card[..6], &id_card[14..]);
    let masked_phone = format!("{}****{}", &phone[..3], &phone[7..]);
    assert_eq!(
        served.rows(&tokens["xiashan_official"], person).await,
        vec![json!([name, id_card, phone])]
    );
    assert_eq!(
        served.rows(&tokens["civil_officer"], person).await,
        vec![json!([name, masked_id, phone])]
    );
    assert_eq!(
        served.rows(&tokens["majin_dispatcher"], person).await,
        vec![json!([masked_name, masked_id, masked_phone])]
    );
    assert_eq!(
        served.rows(&tokens["county_dispatcher"], person).await,
        vec![json!([masked_name, masked_id, masked_phone])]
    );

    // 条 and 块: the civil-affairs officer does not see the garden orders it was denied
    let (status, _) = served
        .query(
            &tokens["civil_officer"],
            "SELECT count(*) FROM village.garden_orders",
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = served
        .query(
            &tokens["xiashan_official"],
            "SELECT count(*) FROM village.garden_orders",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}
