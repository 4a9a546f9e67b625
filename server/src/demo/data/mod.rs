//! Seeded synthetic village data for the 开化县 (Kaihua county, 330824000000) demo.
//!
//! Every village gets three Parquet tables, `<root>/<village code>/<table>/part-0.parquet`:
//! its registered residents, its collective-economy income per year and the orders of its
//! shared vegetable garden (共享菜园). The data is invented but shaped like the real thing — an
//! ageing mountain county with many elderly people, many of them living alone, and resident ID
//! numbers that pass the GB 11643 check — so that the demo's queries, policies and masking have
//! something believable to work on.
//!
//! Determinism: each village and table draws from its own ChaCha8 stream derived from the seed
//! and the village code, so the same seed always gives byte-identical files, and a village's
//! data does not depend on which other villages are written alongside it.
//!
//! - [`people`]: residents, by household, with their ID numbers and phones.
//! - [`income`]: collective-economy income per year.
//! - [`garden`]: orders of the shared vegetable garden.
//! - [`sampling`]: the seeded draws and fixed dates every table uses.

mod garden;
mod income;
mod people;
mod sampling;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use garden::*;
use income::*;
use people::*;

pub(crate) use people::{
    Gender, birth_date, chinese_name, elder_age, id_number, phone_number, surname,
};

/// One village of the tree: 12-digit code, official name, its township's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Village<'a> {
    /// The 12-digit statistical division code, e.g. `330824100201`.
    pub code: &'a str,
    /// The official name (村名); not written into the tables, which key on `code`.
    pub name: &'a str,
    /// The 12-digit code of the township (乡镇/街道) the village belongs to.
    pub township: &'a str,
}

/// The tables written per village (folder names and SQL table names: village.residents, …).
pub const TABLES: [&str; 3] = ["residents", "collective_income", "garden_orders"];

/// What can go wrong while writing the demo data; every variant names the file or folder.
#[derive(Debug, thiserror::Error)]
pub enum DemoDataError {
    /// Creating a folder or a file failed.
    #[error("demo data: I/O error at {}: {source}", path.display())]
    Io {
        /// The folder or file being created.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Assembling the Arrow batch for a file failed.
    #[error("demo data: building the Arrow batch for {}: {source}", path.display())]
    Arrow {
        /// The file the batch was meant for.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: ArrowError,
    },
    /// Encoding or writing a Parquet file failed.
    #[error("demo data: writing Parquet file {}: {source}", path.display())]
    Parquet {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: ParquetError,
    },
    /// A village code cannot be used as a folder name (or is listed twice).
    #[error("demo data: invalid village code {code:?}: {reason}")]
    InvalidVillage {
        /// The offending code.
        code: String,
        /// Why it was rejected.
        reason: &'static str,
    },
}

/// Writes `<root>/<village code>/<table>/part-0.parquet` for every village and table in TABLES.
/// `residents_per_village` controls size (the demo uses about 300). Same seed => byte-identical data.
/// Returns the number of rows written per table (same order as TABLES).
///
/// Villages differ in size like real ones do: each gets between 70% and 130% of
/// `residents_per_village` residents (at least one unless it is 0), 6 income rows (2019–2024)
/// and 40–120 garden orders (none when it has no residents, as orders name a grower household).
/// Codes must be 12 ASCII digits and distinct, since they become folder names; they are all
/// checked before anything is written. On a later error the villages already written stay on disk.
pub fn write_villages(
    root: &Path,
    villages: &[Village<'_>],
    residents_per_village: usize,
    seed: u64,
) -> Result<[usize; 3], DemoDataError> {
    validate_codes(villages)?;
    let props = writer_properties();
    let mut counts = [0_usize; 3];
    for village in villages {
        let written = write_village(root, village.code, residents_per_village, seed, &props)?;
        for (total, rows) in counts.iter_mut().zip(written) {
            *total += rows;
        }
    }
    Ok(counts)
}

/// The Parquet file every table of every village is written to.
const PART_FILE: &str = "part-0.parquet";

/// Separate ChaCha streams per table, so that e.g. a change to the garden generator does not
/// reshuffle every village's residents.
const STREAM_RESIDENTS: u64 = 1;
const STREAM_INCOME: u64 = 2;
const STREAM_GARDEN: u64 = 3;

/// Rejects codes that are not 12 digits (they would escape `root` or break the SQL naming) and
/// duplicates (the second village would silently overwrite the first).
fn validate_codes(villages: &[Village<'_>]) -> Result<(), DemoDataError> {
    let mut seen = HashSet::with_capacity(villages.len());
    for village in villages {
        let code = village.code;
        let reason = if code.len() != 12 || !code.bytes().all(|b| b.is_ascii_digit()) {
            Some("expected 12 ASCII digits")
        } else if !seen.insert(code) {
            Some("listed more than once")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(DemoDataError::InvalidVillage {
                code: code.to_owned(),
                reason,
            });
        }
    }
    Ok(())
}

/// Snappy keeps the files small without slowing the demo's scans; page statistics let
/// DataFusion prune row groups and pages when policies filter on dates or codes.
fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Page)
        .build()
}

/// Generates and writes the three tables of one village; returns their row counts.
fn write_village(
    root: &Path,
    code: &str,
    residents_per_village: usize,
    seed: u64,
    props: &WriterProperties,
) -> Result<[usize; 3], DemoDataError> {
    let village_dir = root.join(code);
    let [residents_path, income_path, garden_path] =
        TABLES.map(|table| table_file(&village_dir, table));

    let mut rng = village_rng(seed, code, STREAM_RESIDENTS);
    let size = village_size(&mut rng, residents_per_village);
    let people = generate_people(&mut rng, size);
    let residents = residents_batch(&mut rng, code, &people).map_err(arrow_err(&residents_path))?;

    let mut rng = village_rng(seed, code, STREAM_INCOME);
    let income = income_batch(&mut rng).map_err(arrow_err(&income_path))?;

    let households = people.last().map_or(0, |p| p.household);
    let mut rng = village_rng(seed, code, STREAM_GARDEN);
    let garden = garden_batch(&mut rng, code, households).map_err(arrow_err(&garden_path))?;

    write_parquet(&residents_path, &residents, props)?;
    write_parquet(&income_path, &income, props)?;
    write_parquet(&garden_path, &garden, props)?;
    Ok([residents.num_rows(), income.num_rows(), garden.num_rows()])
}

fn table_file(village_dir: &Path, table: &str) -> PathBuf {
    village_dir.join(table).join(PART_FILE)
}

fn arrow_err(path: &Path) -> impl FnOnce(ArrowError) -> DemoDataError + '_ {
    move |source| DemoDataError::Arrow {
        path: path.to_path_buf(),
        source,
    }
}

fn parquet_err(path: &Path) -> impl FnOnce(ParquetError) -> DemoDataError + '_ {
    move |source| DemoDataError::Parquet {
        path: path.to_path_buf(),
        source,
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DemoDataError + '_ {
    move |source| DemoDataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes one batch as a whole Parquet file, replacing any earlier one.
fn write_parquet(
    path: &Path,
    batch: &RecordBatch,
    props: &WriterProperties,
) -> Result<(), DemoDataError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let file = File::create(path).map_err(io_err(path))?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props.clone()))
        .map_err(parquet_err(path))?;
    writer.write(batch).map_err(parquet_err(path))?;
    // close() writes the footer and flushes the writer's buffer into the file.
    writer.close().map_err(parquet_err(path))?;
    Ok(())
}

/// A per-village, per-table generator: the seed and the code are mixed into one 64-bit seed
/// (FNV-1a, then SplitMix64 to spread similar codes apart) so villages are independent.
pub(crate) fn village_rng(seed: u64, code: &str, stream: u64) -> ChaCha8Rng {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in code.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(splitmix64(seed ^ splitmix64(hash)));
    rng.set_stream(stream);
    rng
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
