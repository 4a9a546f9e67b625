//! Registered sources and their tables.

use super::{from_json, now, to_json};
use crate::error::{CatalogError, Result};
use crate::jurisdiction::JurisdictionCode;
use crate::model::*;
use crate::store::validate_table_name;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use std::collections::BTreeMap;

const SOURCE_COLUMNS: &str = "id, name, kind, url, options, secret_ref, owner, table_def, columns, created_by, created_at, updated_at, confined";

pub(crate) fn table_name_taken(tx: &Transaction<'_>, name: &str) -> Result<bool> {
    let in_sources = tx
        .query_row(
            "SELECT 1 FROM sources WHERE table_name = ?1",
            [name],
            |_| Ok(()),
        )
        .optional()?;
    let in_datasets = tx
        .query_row("SELECT 1 FROM datasets WHERE name = ?1", [name], |_| Ok(()))
        .optional()?;
    let in_databases = tx
        .query_row(
            "SELECT 1 FROM source_tables WHERE name = ?1",
            [name],
            |_| Ok(()),
        )
        .optional()?;
    Ok(in_sources.is_some() || in_datasets.is_some() || in_databases.is_some())
}

/// Stores a registered source. Its name and its table's name must both be new.
pub(crate) fn insert_source(conn: &mut Connection, new: NewSource) -> Result<SourceRecord> {
    if new.name.is_empty() || new.name.len() > 128 || new.name.chars().any(|c| c.is_control()) {
        return Err(CatalogError::invalid(
            "a source name must be 1 to 128 printable characters",
        ));
    }
    let mut names = std::collections::HashSet::new();
    for table in new.content.tables() {
        validate_table_name(&table.name)?;
        if !names.insert(table.name.as_str()) {
            return Err(CatalogError::invalid(format!(
                "table {:?} is listed twice",
                table.name
            )));
        }
    }
    if let SourceContent::Database { tables, .. } = &new.content
        && tables.is_empty()
    {
        return Err(CatalogError::invalid(
            "a database source lists the tables it shares",
        ));
    }
    let tx = conn.transaction()?;
    // names are unique per registrant: no one learns of another's source from a conflict
    let exists = tx
        .query_row(
            "SELECT 1 FROM sources WHERE name = ?1 AND created_by = ?2",
            [&new.name, &new.created_by],
            |_| Ok(()),
        )
        .optional()?;
    if exists.is_some() {
        return Err(CatalogError::Conflict(format!(
            "you already have a source named {:?}",
            new.name
        )));
    }
    for name in new.content.tables().into_iter().map(|t| &t.name) {
        if table_name_taken(&tx, name)? {
            return Err(CatalogError::Conflict(format!(
                "a table named {name:?} already exists"
            )));
        }
    }
    let at = now();
    let record = SourceRecord {
        id: new.id,
        name: new.name,
        url: new.url,
        options: new.options,
        secret: new.secret,
        owner: new.owner,
        content: new.content,
        created_by: new.created_by,
        confined: new.confined,
        created_at: at.clone(),
        updated_at: at,
    };
    let (table, columns, tables): (_, &[ColumnDef], &[RemoteTableDef]) = match &record.content {
        SourceContent::Files { table, columns, .. } => (table.as_ref(), columns, &[]),
        SourceContent::Database { tables, .. } => (None, &[], tables),
    };
    tx.execute(
        "INSERT INTO sources (id, name, kind, url, options, secret_ref, owner, table_def, table_name, columns, created_by, created_at, updated_at, confined)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            record.id,
            record.name,
            record.kind().as_str(),
            record.url,
            to_json(&record.options),
            record.secret,
            record.owner.as_str(),
            table.map(to_json),
            table.map(|t| t.name.clone()),
            to_json(&columns),
            record.created_by,
            record.created_at,
            record.updated_at,
            record.confined,
        ],
    )?;
    for (position, table) in tables.iter().enumerate() {
        tx.execute(
            "INSERT INTO source_tables (source_id, position, name, definition) VALUES (?1, ?2, ?3, ?4)",
            params![record.id, position, table.table.name, to_json(table)],
        )?;
    }
    super::audit::write(
        &tx,
        &record.created_by,
        "source.create",
        &record.id,
        serde_json::json!({"name": record.name, "kind": record.kind().as_str()}),
    )?;
    tx.commit()?;
    Ok(record)
}

pub(crate) fn source_from_row(row: &Row<'_>) -> rusqlite::Result<([Option<String>; 12], bool)> {
    let mut out: [Option<String>; 12] = Default::default();
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = row.get(i)?;
    }
    Ok((out, row.get(12)?))
}

/// A stored source, with its database tables (empty for files).
pub(crate) fn decode_source(
    (fields, confined): ([Option<String>; 12], bool),
    tables: Vec<RemoteTableDef>,
) -> Result<SourceRecord> {
    let [
        id,
        name,
        kind,
        url,
        options,
        secret,
        owner,
        table,
        columns,
        created_by,
        created_at,
        updated_at,
    ] = fields;
    let text =
        |v: Option<String>| v.ok_or_else(|| CatalogError::Corrupt("missing source field".into()));
    let kind: SourceKind = text(kind)?
        .parse()
        .map_err(|e: CatalogError| CatalogError::Corrupt(e.to_string()))?;
    let content = match kind {
        SourceKind::Files(format) => SourceContent::Files {
            format,
            columns: from_json(&text(columns)?)?,
            table: table.map(|t| from_json(&t)).transpose()?,
        },
        SourceKind::Database(engine) => SourceContent::Database { engine, tables },
    };
    Ok(SourceRecord {
        id: text(id)?,
        name: text(name)?,
        url: text(url)?,
        options: from_json(&text(options)?)?,
        secret,
        owner: JurisdictionCode::parse(&text(owner)?)
            .map_err(|e| CatalogError::Corrupt(e.to_string()))?,
        content,
        created_by: text(created_by)?,
        confined,
        created_at: text(created_at)?,
        updated_at: text(updated_at)?,
    })
}

pub(crate) fn sources(conn: &mut Connection) -> Result<Vec<SourceRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {} FROM sources ORDER BY name",
        SOURCE_COLUMNS
    ))?;
    let stored = stmt
        .query_map([], source_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    drop(stmt);
    // every database table in one statement, not one statement per source
    let mut stmt = conn
        .prepare("SELECT source_id, definition FROM source_tables ORDER BY source_id, position")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut tables: BTreeMap<String, Vec<RemoteTableDef>> = BTreeMap::new();
    for row in rows {
        let (source, definition) = row?;
        tables
            .entry(source)
            .or_default()
            .push(from_json(&definition)?);
    }
    drop(stmt);
    stored
        .into_iter()
        .map(|row| {
            let id = row.0[0].clone().unwrap_or_default();
            decode_source(row, tables.remove(&id).unwrap_or_default())
        })
        .collect()
}

pub(crate) fn source_tables(conn: &Connection, id: &str) -> Result<Vec<RemoteTableDef>> {
    let mut stmt = conn
        .prepare("SELECT definition FROM source_tables WHERE source_id = ?1 ORDER BY position")?;
    let rows = stmt.query_map([id], |row| row.get::<_, String>(0))?;
    rows.map(|row| from_json(&row?)).collect()
}

pub(crate) fn source(conn: &mut Connection, id: &str) -> Result<Option<SourceRecord>> {
    let found = conn
        .query_row(
            &format!("SELECT {} FROM sources WHERE id = ?1", SOURCE_COLUMNS),
            [id],
            source_from_row,
        )
        .optional()?;
    let Some(fields) = found else {
        return Ok(None);
    };
    Ok(Some(decode_source(fields, source_tables(conn, id)?)?))
}

/// Whether any registrant has a source of this name.
pub(crate) fn has_source_named(conn: &mut Connection, name: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sources WHERE name = ?1 LIMIT 1",
            [name],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Points every source URL under the folder URL `from` (and every file in its
/// `options.files`) at the same place under `to`, in one transaction: for a data
/// directory built in one place and moved to another.
pub(crate) fn relocate_file_urls(conn: &mut Connection, from: &str, to: &str) -> Result<usize> {
    let moved = |url: &str| url.strip_prefix(from).map(|rest| format!("{to}{rest}"));
    let tx = conn.transaction()?;
    let rows: Vec<(String, String, String)> = {
        let mut stmt = tx.prepare("SELECT id, url, options FROM sources")?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut changed = 0;
    for (id, url, options) in rows {
        let mut options: serde_json::Map<String, serde_json::Value> = from_json(&options)?;
        let mut touched = false;
        if let Some(serde_json::Value::Array(files)) = options.get_mut("files") {
            for file in files.iter_mut() {
                if let Some(new) = file.as_str().and_then(moved) {
                    *file = serde_json::Value::String(new);
                    touched = true;
                }
            }
        }
        let new_url = moved(&url);
        if new_url.is_none() && !touched {
            continue;
        }
        tx.execute(
            "UPDATE sources SET url = ?2, options = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, new_url.unwrap_or(url), to_json(&options), now()],
        )?;
        changed += 1;
    }
    tx.commit()?;
    Ok(changed)
}

/// Re-pins a source's schema after a check.
pub(crate) fn update_source_columns(
    conn: &mut Connection,
    id: &str,
    columns: &[ColumnDef],
    by: &str,
) -> Result<()> {
    let tx = conn.transaction()?;
    let changed = tx.execute(
        "UPDATE sources SET columns = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, to_json(&columns), now()],
    )?;
    if changed == 0 {
        return Err(CatalogError::NotFound(format!("source {id:?}")));
    }
    super::audit::write(
        &tx,
        by,
        "source.repin",
        id,
        serde_json::json!({"columns": columns.iter().map(|c| &c.name).collect::<Vec<_>>()}),
    )?;
    tx.commit()?;
    Ok(())
}

/// Deletes a source that no dataset uses.
pub(crate) fn delete_source(conn: &mut Connection, id: &str, by: &str) -> Result<SourceRecord> {
    let tx = conn.transaction()?;
    let found = tx
        .query_row(
            &format!("SELECT {} FROM sources WHERE id = ?1", SOURCE_COLUMNS),
            [id],
            source_from_row,
        )
        .optional()?;
    let found = found.ok_or_else(|| CatalogError::NotFound(format!("source {id:?}")))?;
    let record = decode_source(found, source_tables(&tx, id)?)?;
    let used_by: Option<String> = tx
        .query_row(
            "SELECT d.name FROM dataset_members m JOIN datasets d ON d.id = m.dataset_id WHERE m.source_id = ?1 LIMIT 1",
            [id],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(dataset) = used_by {
        return Err(CatalogError::Conflict(format!(
            "source {:?} is a member of dataset {dataset:?}; delete the dataset first",
            record.name
        )));
    }
    tx.execute("DELETE FROM source_tables WHERE source_id = ?1", [id])?;
    tx.execute("DELETE FROM sources WHERE id = ?1", [id])?;
    super::audit::write(
        &tx,
        by,
        "source.delete",
        id,
        serde_json::json!({"name": record.name}),
    )?;
    tx.commit()?;
    Ok(record)
}
