//! Installing the demo into a data directory all at once.
//!
//! The demo is built in a folder of its own inside the data directory (`.demo-build`), with a
//! catalog, keys and files of its own, while the data directory itself stays empty. Only when
//! the build is complete are the file URLs in its catalog moved to their final place and its
//! entries moved up into the data directory, the tokens file last: the tokens file is what
//! says a demo is there. A failed build removes its folder; a build cut short by a crash is
//! finished (if it was complete) or removed (if it was not) by the next start, so a restart
//! after any failure serves.

use std::path::{Path, PathBuf};

use crate::start::{self, CATALOG_FILE, ServerConfig, StartError};

use super::{TOKENS_FILE, build, exists};

/// The folder inside the data directory that a demo is built in.
const BUILD_DIR: &str = ".demo-build";
/// Written into the build folder once the build and its catalog are final.
const COMPLETE: &str = ".complete";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StartError + '_ {
    move |source| StartError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Builds the demo into the data directory unless it already holds one. The data directory
/// must be missing or empty (a mount point will do); a catalog elsewhere (`--catalog`) is
/// refused, because the demo's catalog moves with its files.
pub async fn install(config: &ServerConfig) -> Result<(), StartError> {
    let config = config.resolved()?;
    let data_dir = &config.data_dir;
    start::create_dir(data_dir)?;
    recover(data_dir)?;
    if exists(data_dir) {
        return Ok(());
    }
    if config.catalog_path() != data_dir.join(CATALOG_FILE) {
        return Err(StartError::Demo(format!(
            "the demo keeps its catalog in the data directory; leave out --catalog ({})",
            config.catalog_path().display()
        )));
    }
    if let Some(entry) = std::fs::read_dir(data_dir)
        .map_err(io(data_dir))?
        .next()
        .transpose()
        .map_err(io(data_dir))?
    {
        return Err(StartError::Demo(format!(
            "{} is not empty (it holds {:?}); the demo needs an empty or missing data directory",
            data_dir.display(),
            entry.file_name()
        )));
    }
    let building = data_dir.join(BUILD_DIR);
    let built = build_in(&config, &building).await;
    if let Err(error) = built {
        let _ = std::fs::remove_dir_all(&building);
        return Err(error);
    }
    move_up(&building, data_dir)
}

/// Builds the demo in `building` as if it were the data directory, then points the file URLs
/// its catalog stores at the data directory the files are about to move to.
async fn build_in(config: &ServerConfig, building: &Path) -> Result<(), StartError> {
    let mut inner = config.clone();
    inner.data_dir = building.to_owned();
    inner.catalog = None;
    inner.admin_token = None;
    inner.engine.spill_dir = building.join(start::SPILL_DIR);
    let engine = start::open_engine(&inner).await?;
    let catalog = engine.catalog().clone();
    let admin = tiaokuai_policies::Caller::named(&*catalog, "admin")
        .await?
        .ok_or_else(|| StartError::Demo("no admin principal".into()))?;
    build(building, &engine, &admin).await?;
    drop(engine);
    let url = |dir: &Path| {
        url::Url::from_directory_path(dir)
            .map(String::from)
            .map_err(|()| StartError::Demo(format!("{} is not an absolute path", dir.display())))
    };
    catalog
        .relocate_file_urls(&url(building)?, &url(&config.data_dir)?)
        .await?;
    drop(catalog);
    let complete = building.join(COMPLETE);
    std::fs::write(&complete, b"").map_err(io(&complete))
}

/// Moves every entry of a complete build up into the data directory, the tokens file last.
fn move_up(building: &Path, data_dir: &Path) -> Result<(), StartError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(building)
        .map_err(io(building))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io(building))?;
    entries.retain(|path| path.file_name().is_some_and(|n| n != COMPLETE));
    entries.sort_by_key(|path| path.file_name().is_some_and(|n| n == TOKENS_FILE));
    for entry in entries {
        let name = entry.file_name().expect("an entry has a name");
        let target = data_dir.join(name);
        std::fs::rename(&entry, &target).map_err(io(&target))?;
    }
    let complete = building.join(COMPLETE);
    std::fs::remove_file(&complete).map_err(io(&complete))?;
    std::fs::remove_dir(building).map_err(io(building))
}

/// Finishes or removes a demo build that a crash cut short: one marked complete was only
/// interrupted while moving up; any other is removed.
pub fn recover(data_dir: &Path) -> Result<(), StartError> {
    let building = data_dir.join(BUILD_DIR);
    if !building.exists() {
        return Ok(());
    }
    if building.join(COMPLETE).exists() {
        tracing::info!(dir = %building.display(), "finishing a demo build that was interrupted");
        move_up(&building, data_dir)
    } else {
        tracing::warn!(dir = %building.display(), "removing a demo build that did not finish");
        std::fs::remove_dir_all(&building).map_err(io(&building))
    }
}
