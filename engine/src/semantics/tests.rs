//! The rewrites through a real DataFusion session: what is refused is refused as the caller's
//! mistake, with a message that says what to write instead.

use std::sync::Arc;

use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;

use crate::error::{EngineError, classify};

async fn failure(sql: &str) -> EngineError {
    let mut state = SessionStateBuilder::new()
        .with_default_features()
        .with_analyzer_rule(Arc::new(super::SqlSemantics))
        .build();
    super::register_functions(&mut state).unwrap();
    let context = SessionContext::new_with_state(state);
    context
        .sql("CREATE TABLE t (id INT, name TEXT) AS VALUES (1, 'a'), (NULL, NULL)")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let planned = match context.sql(sql).await {
        Ok(frame) => frame.collect().await.map(drop),
        Err(error) => Err(error),
    };
    classify(&planned.expect_err(sql))
}

#[tokio::test]
async fn refusals_are_the_callers_mistake_and_say_why() {
    let in_select_list =
        failure("SELECT id NOT IN (SELECT id FROM t u WHERE u.name = t.name) FROM t").await;
    assert!(
        matches!(&in_select_list, EngineError::BadRequest(m) if m.contains("WHERE and HAVING")),
        "{in_select_list:?}"
    );
    let below_top = failure(
        "SELECT id FROM t WHERE id NOT IN (SELECT c FROM (SELECT count(*) AS c FROM t u WHERE u.name = t.name) x WHERE c < 5)",
    )
    .await;
    assert!(
        matches!(&below_top, EngineError::BadRequest(m) if m.contains("NOT EXISTS")),
        "{below_top:?}"
    );
    let class = failure("SELECT id FROM t WHERE name SIMILAR TO '[[:alpha:]]'").await;
    assert!(
        matches!(&class, EngineError::InvalidSql(m) if m.contains("[[:alpha:]]")),
        "{class:?}"
    );
    let column_pattern = failure("SELECT id FROM t WHERE name SIMILAR TO name").await;
    assert!(
        matches!(&column_pattern, EngineError::BadRequest(m) if m.contains("constant pattern")),
        "{column_pattern:?}"
    );
}
