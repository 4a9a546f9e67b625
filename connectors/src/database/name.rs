//! A table inside a database, as its registration names it.

use super::dialect::Dialect;
use super::spec::DatabaseKind;
use crate::error::{ConnectorError, Result};

/// A table inside a database: `schema.table` or `table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteName {
    pub schema: Option<String>,
    pub table: String,
}

fn valid_identifier(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 128
        && !part
            .chars()
            .any(|c| c.is_control() || matches!(c, '"' | '`' | '\'' | '\\' | '.'))
}

impl RemoteName {
    pub fn parse(kind: DatabaseKind, text: &str) -> Result<Self> {
        let (schema, table) = match text.split_once('.') {
            Some((schema, table)) => (Some(schema.to_owned()), table.to_owned()),
            None => (None, text.to_owned()),
        };
        let parts_ok = valid_identifier(&table) && schema.as_deref().is_none_or(valid_identifier);
        if !parts_ok {
            return Err(ConnectorError::invalid(format!(
                "remote table {text:?}: give \"table\" or \"schema.table\", without quotes, dots or backslashes inside names"
            )));
        }
        let dialect = kind.dialect();
        if schema.is_some() && !dialect.schemas() {
            return Err(ConnectorError::invalid(format!(
                "remote table {text:?}: a {} table is named without a schema",
                dialect.label()
            )));
        }
        Ok(Self { schema, table })
    }

    pub fn display(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.table),
            None => self.table.clone(),
        }
    }

    /// The name as `dialect` quotes it.
    pub fn sql(&self, dialect: &dyn Dialect) -> String {
        let mut out = String::new();
        if let Some(schema) = &self.schema {
            out.push_str(&dialect.identifier(schema));
            out.push('.');
        }
        out.push_str(&dialect.identifier(&self.table));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_names() {
        let postgres = DatabaseKind::Postgres.dialect();
        let name = RemoteName::parse(DatabaseKind::Postgres, "public.people").unwrap();
        assert_eq!(name.sql(postgres), "\"public\".\"people\"");
        assert_eq!(
            RemoteName::parse(DatabaseKind::Mysql, "people")
                .unwrap()
                .sql(DatabaseKind::Mysql.dialect()),
            "`people`"
        );
        assert!(RemoteName::parse(DatabaseKind::Postgres, "a\".b").is_err());
        let refused = RemoteName::parse(DatabaseKind::Sqlite, "main.t").unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("a SQLite table is named without a schema"),
            "{refused}"
        );
        assert!(RemoteName::parse(DatabaseKind::Postgres, "").is_err());
    }
}
