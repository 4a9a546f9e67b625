//! How fresh the tables a statement reads are, as a stored run records it: a file table's
//! files as listed now and when the newest changed, a database table read live. A union
//! dataset counts only the members inside the caller's scope, so the record says nothing of
//! the villages the caller may not read.

use tiaokuai_catalog::{SourceContent, SourceFreshness, SourceRecord};
use tiaokuai_connectors::list;
use tiaokuai_policies::Caller;

use super::register::PROBE_TIMEOUT;
use crate::engine::Engine;
use crate::reach::Confinement;
use crate::registry::{TableKind, file_spec};

/// What the files of some sources came to.
#[derive(Default)]
struct Tally {
    sources: usize,
    files: usize,
    newest: Option<String>,
    error: Option<String>,
}

impl Engine {
    /// The freshness of every table `sql` names, as `caller` would read them. Never fails: a
    /// table that cannot be told of says why in its entry.
    pub async fn freshness(&self, caller: &Caller, sql: &str) -> Vec<SourceFreshness> {
        let Some(names) = crate::statement::tables_named(sql) else {
            return Vec::new();
        };
        let confinement = match self.confinement().await {
            Ok(confinement) => confinement,
            Err(error) => {
                tracing::warn!(%error, "freshness: the grants could not be read");
                Confinement::default()
            }
        };
        let registry = self.registry();
        let mut found = Vec::new();
        for name in names {
            let Some(entry) = registry.get(&name) else {
                continue;
            };
            let mut freshness = SourceFreshness {
                table: name.clone(),
                kind: "live".into(),
                sources: 0,
                files: None,
                last_modified: None,
                error: None,
            };
            let sources: Vec<SourceRecord> = match (entry.info.kind, &entry.info.id) {
                (TableKind::Source, Some(id)) => match self.catalog.source(id).await {
                    Ok(Some(source)) => vec![source],
                    _ => Vec::new(),
                },
                (TableKind::Dataset, Some(id)) => self.members(caller, &name, id).await,
                _ => Vec::new(),
            };
            if sources
                .iter()
                .any(|s| matches!(s.content, SourceContent::Database { .. }))
            {
                freshness.kind = "database".into();
                freshness.sources = sources.len();
            } else if !sources.is_empty() {
                let tally = self.list_files(&sources, &confinement).await;
                freshness.kind = "files".into();
                freshness.sources = tally.sources;
                freshness.files = Some(tally.files);
                freshness.last_modified = tally.newest;
                freshness.error = tally.error;
            }
            found.push(freshness);
        }
        found
    }

    /// The member sources of a union dataset inside the caller's read scope.
    async fn members(&self, caller: &Caller, table: &str, id: &str) -> Vec<SourceRecord> {
        let Ok(Some(dataset)) = self.catalog.dataset(id).await else {
            return Vec::new();
        };
        let scope = if caller.is_admin() {
            tiaokuai_policies::Scope::all()
        } else {
            match self.policies.snapshot().decide(caller, table, &[]) {
                Ok(decision) => decision.read.clone(),
                Err(_) => return Vec::new(),
            }
        };
        let mut sources = Vec::new();
        for member in dataset.members {
            if !scope.allows(member.jurisdiction.as_str()) {
                continue;
            }
            if let Ok(Some(source)) = self.catalog.source(&member.source).await {
                sources.push(source);
            }
        }
        sources
    }

    async fn list_files(&self, sources: &[SourceRecord], confinement: &Confinement) -> Tally {
        let mut tally = Tally::default();
        for source in sources {
            let SourceContent::Files { format, .. } = &source.content else {
                continue;
            };
            tally.sources += 1;
            let listed = match file_spec(source, *format, self.seal_key.as_ref(), confinement) {
                Ok(spec) => tokio::time::timeout(PROBE_TIMEOUT, list(&spec, &self.base))
                    .await
                    .map_err(|_| format!("{} did not answer within {PROBE_TIMEOUT:?}", source.name))
                    .and_then(|listed| listed.map_err(|e| format!("{}: {e}", source.name))),
                Err(error) => Err(format!("{}: {}", source.name, error.public_message())),
            };
            match listed {
                Ok(listed) => {
                    tally.files += listed.files;
                    tally.newest = listed
                        .last_modified
                        .into_iter()
                        .chain(tally.newest.take())
                        .max();
                }
                Err(error) => {
                    tally.error.get_or_insert(error);
                }
            }
        }
        tally
    }
}
