//! The audit trail as a hash chain, and the signed checkpoints that pin it.
//!
//! Every audit record carries its sequence number and the hash of the record before it; its
//! own hash covers both and everything it says, so changing, removing, inserting or moving a
//! record breaks the chain at that record. A [`Checkpoint`] signs the chain's newest hash with
//! the server's Ed25519 audit key ([`AuditKey`]). Checkpoints link to each other, each covering
//! the records after the one before, so removing the newest records is caught against the last
//! checkpoint, and removing a checkpoint leaves records that nothing signs. The newest
//! checkpoint is also kept beside the key (the *head*), so a catalog swapped for an older copy
//! of itself is caught too.
//!
//! [`Verifier`] reads a chain in order and reports every break it finds ([`Problem`]). It
//! needs only the records, the checkpoints and the public key, so a catalog can be checked
//! offline, by someone who does not trust the server that wrote it.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{CatalogError, Result};
use crate::store::Catalog;

/// One audit record as stored, with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedRecord {
    /// 1 for the first record, one more for each after it.
    pub seq: i64,
    pub at: String,
    pub principal: String,
    pub action: String,
    pub target: String,
    /// The detail document exactly as stored: its text is what the hash covers.
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl ChainedRecord {
    /// The hash this record's content and link call for (which its stored `hash` should be).
    pub fn computed_hash(&self) -> String {
        record_hash(
            &self.prev_hash,
            self.seq,
            &self.at,
            &self.principal,
            &self.action,
            &self.target,
            &self.detail,
        )
    }
}

fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What the first record of a chain links to: a hash of the chain's id, so that records of
/// one chain never link into another.
pub fn genesis(chain_id: &str) -> String {
    sha256_hex(format!("tiaokuai audit chain {chain_id}"))
}

/// A record's hash: SHA-256 over its link, its number and its content, as one JSON array (an
/// encoding with one reading, so no two records share the bytes hashed).
pub fn record_hash(
    prev_hash: &str,
    seq: i64,
    at: &str,
    principal: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> String {
    let canonical = serde_json::json!([
        "tiaokuai-audit-1",
        seq,
        prev_hash,
        at,
        principal,
        action,
        target,
        detail
    ]);
    sha256_hex(canonical.to_string())
}

/// A signed statement that the chain's record `to_seq` has the hash `hash`, covering the
/// records from `from_seq` (the one after the previous checkpoint's `to_seq`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub chain_id: String,
    /// 1 for the first checkpoint, one more for each after it.
    pub number: i64,
    pub from_seq: i64,
    pub to_seq: i64,
    pub hash: String,
    /// The [`Checkpoint::digest`] of the checkpoint before (the chain's genesis for the first).
    pub previous: String,
    pub at: String,
    /// Which key signed it ([`AuditPublicKey::id`]).
    pub key_id: String,
    /// The Ed25519 signature of everything above, hex; empty if unsigned.
    pub signature: String,
}

impl Checkpoint {
    fn message(&self) -> Vec<u8> {
        serde_json::json!([
            "tiaokuai-audit-checkpoint-1",
            self.chain_id,
            self.number,
            self.from_seq,
            self.to_seq,
            self.hash,
            self.previous,
            self.at,
            self.key_id
        ])
        .to_string()
        .into_bytes()
    }

    /// What the next checkpoint links to: a hash of this one, signature included.
    pub fn digest(&self) -> String {
        let mut message = self.message();
        message.extend_from_slice(self.signature.as_bytes());
        sha256_hex(message)
    }

    fn verifies_with(&self, key: &AuditPublicKey) -> bool {
        let Ok(bytes) = hex::decode(&self.signature) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return false;
        };
        key.0.verify_strict(&self.message(), &signature).is_ok()
    }
}

/// The key that signs checkpoints, kept in a file of its own (64 hex digits, readable only by
/// its owner).
pub struct AuditKey(SigningKey);

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AuditKey")
            .field(&self.public().id())
            .finish()
    }
}

impl AuditKey {
    /// A key from its 32 secret bytes.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }

    /// The key in `path`, made (with a fresh random secret) if the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(text.trim())
                .map_err(|e| CatalogError::Invalid(format!("{}: {e}", path.display()))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::from_seed(rand::random());
                key.save(path)?;
                Ok(key)
            }
            Err(error) => Err(CatalogError::Invalid(format!(
                "the audit key {} cannot be read: {error}",
                path.display()
            ))),
        }
    }

    fn parse(text: &str) -> std::result::Result<Self, String> {
        let bytes = hex::decode(text).map_err(|_| "the audit key is not hex".to_owned())?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the audit key is not 32 bytes".to_owned())?;
        Ok(Self::from_seed(seed))
    }

    fn save(&self, path: &Path) -> Result<()> {
        let failed = |e: std::io::Error| {
            CatalogError::Invalid(format!(
                "the audit key {} cannot be written: {e}",
                path.display()
            ))
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(failed)?;
        file.write_all(hex::encode(self.0.to_bytes()).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(failed)
    }

    pub fn public(&self) -> AuditPublicKey {
        AuditPublicKey(self.0.verifying_key())
    }

    /// Signs `checkpoint` (its `key_id` set to this key's).
    pub fn sign(&self, mut checkpoint: Checkpoint) -> Checkpoint {
        checkpoint.key_id = self.public().id();
        checkpoint.signature = hex::encode(self.0.sign(&checkpoint.message()).to_bytes());
        checkpoint
    }
}

/// The public half of an audit key, which is all a verifier needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPublicKey(VerifyingKey);

impl AuditPublicKey {
    /// A key from its 64 hex digits.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = || CatalogError::Invalid("an audit public key is 64 hex digits".to_owned());
        let bytes: [u8; 32] = hex::decode(text.trim())
            .map_err(|_| invalid())?
            .try_into()
            .map_err(|_| invalid())?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| invalid())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// A short name for the key, written in each checkpoint it signs.
    pub fn id(&self) -> String {
        sha256_hex(self.0.to_bytes())[..16].to_owned()
    }
}

/// One break in a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A record's content does not hash to its stored hash.
    Altered { seq: i64 },
    /// Records are missing: the chain jumps over `from..=to`.
    Missing { from: i64, to: i64 },
    /// A record does not link to the one before it.
    Unlinked { seq: i64 },
    /// The chain ends before the newest checkpoint's record.
    Truncated {
        last_seq: i64,
        checkpoint: i64,
        signed_to: i64,
    },
    /// A checkpoint's hash is not the chain's hash at its record.
    NotThisChain { checkpoint: i64, seq: i64 },
    /// A checkpoint's signature does not verify with any of the audit keys.
    BadSignature { checkpoint: i64 },
    /// Records that no checkpoint signs, before the newest checkpoint.
    Unsigned { from: i64, to: i64 },
    /// A checkpoint that does not follow the one before it.
    CheckpointUnlinked { checkpoint: i64 },
    /// The catalog's checkpoints end before the head kept beside the key.
    Older {
        head: i64,
        head_seq: i64,
        newest: Option<i64>,
    },
    /// The head kept beside the key is not the catalog's checkpoint of that number.
    HeadDiffers { head: i64 },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Altered { seq } => write!(
                f,
                "record {seq} was changed after it was written: its content does not match its hash"
            ),
            Self::Missing { from, to } if from == to => write!(
                f,
                "record {from} is missing: the chain jumps from {} to {}",
                from - 1,
                to + 1
            ),
            Self::Missing { from, to } => write!(
                f,
                "records {from} to {to} are missing: the chain jumps from {} to {}",
                from - 1,
                to + 1
            ),
            Self::Unlinked { seq } => write!(
                f,
                "record {seq} does not follow record {}: a record was inserted, removed or moved here",
                seq - 1
            ),
            Self::Truncated {
                last_seq,
                checkpoint,
                signed_to,
            } => write!(
                f,
                "the chain ends at record {last_seq}, but checkpoint {checkpoint} signed it up to record {signed_to}: the newest records were removed"
            ),
            Self::NotThisChain { checkpoint, seq } => write!(
                f,
                "checkpoint {checkpoint} signed another chain: its hash of record {seq} is not this chain's"
            ),
            Self::BadSignature { checkpoint } => write!(
                f,
                "checkpoint {checkpoint}'s signature does not verify with the audit key: another key signed it, or it was altered"
            ),
            Self::Unsigned { from, to } => write!(
                f,
                "records {from} to {to} are signed by no checkpoint: a checkpoint was removed or left unsigned"
            ),
            Self::CheckpointUnlinked { checkpoint } => write!(
                f,
                "checkpoint {checkpoint} does not follow checkpoint {}: a checkpoint was inserted, altered or moved",
                checkpoint - 1
            ),
            Self::Older {
                head,
                head_seq,
                newest,
            } => {
                let newest = newest.map_or("none".to_owned(), |n| n.to_string());
                write!(
                    f,
                    "the catalog is older than its audit head: the head kept beside the key is checkpoint {head} (record {head_seq}), the catalog's newest checkpoint is {newest}; an older copy of the chain replaced it"
                )
            }
            Self::HeadDiffers { head } => write!(
                f,
                "the catalog's checkpoint {head} is not the one kept beside the key: the catalog holds another chain"
            ),
        }
    }
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub records: u64,
    pub checkpoints: u64,
    /// The newest record's number (0 for an empty chain).
    pub last_seq: i64,
    /// The newest record a checkpoint signs (0 if none does).
    pub signed_to: i64,
    pub problems: Vec<Problem>,
}

impl Verification {
    /// Whether no record was changed, removed, inserted or moved, and every checkpoint holds.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }

    /// Records after the newest checkpoint: chained, but not yet signed.
    pub fn unsigned_tail(&self) -> i64 {
        (self.last_seq - self.signed_to).max(0)
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in &self.problems {
            writeln!(f, "BROKEN: {problem}")?;
        }
        let verdict = if self.is_intact() {
            "intact"
        } else {
            "NOT intact"
        };
        write!(
            f,
            "{} records, {} checkpoints: the chain is {verdict}",
            self.records, self.checkpoints
        )?;
        match self.unsigned_tail() {
            0 => Ok(()),
            tail => write!(
                f,
                "; the newest {tail} records (after record {}) are chained but not yet signed",
                self.signed_to
            ),
        }
    }
}

/// Checks a chain record by record, in order, holding only the hashes its checkpoints name.
#[derive(Debug)]
pub struct Verifier {
    keys: Vec<AuditPublicKey>,
    checkpoints: Vec<Checkpoint>,
    head: Option<Checkpoint>,
    /// The records the checkpoints sign, and their hashes once read.
    signed: HashMap<i64, Option<String>>,
    expected_seq: i64,
    expected_prev: String,
    records: u64,
    problems: Vec<Problem>,
}

impl Verifier {
    /// A verifier of the chain `chain_id`, with its checkpoints (in any order), the keys that
    /// may have signed them, and the head kept beside the key, if there is one.
    pub fn new(
        chain_id: &str,
        mut checkpoints: Vec<Checkpoint>,
        keys: Vec<AuditPublicKey>,
        head: Option<Checkpoint>,
    ) -> Self {
        checkpoints.sort_by_key(|c| c.number);
        let signed = checkpoints.iter().map(|c| (c.to_seq, None)).collect();
        Self {
            keys,
            checkpoints,
            head,
            signed,
            expected_seq: 1,
            expected_prev: genesis(chain_id),
            records: 0,
            problems: Vec::new(),
        }
    }

    /// Reads the next record (records come in the order of their numbers).
    pub fn record(&mut self, record: &ChainedRecord) {
        self.records += 1;
        if record.seq > self.expected_seq {
            self.problems.push(Problem::Missing {
                from: self.expected_seq,
                to: record.seq - 1,
            });
        } else if record.prev_hash != self.expected_prev {
            self.problems.push(Problem::Unlinked { seq: record.seq });
        }
        if record.computed_hash() != record.hash {
            self.problems.push(Problem::Altered { seq: record.seq });
        }
        if let Some(hash) = self.signed.get_mut(&record.seq) {
            *hash = Some(record.hash.clone());
        }
        self.expected_seq = record.seq + 1;
        self.expected_prev.clone_from(&record.hash);
    }

    /// Checks the checkpoints against what was read, and reports.
    pub fn finish(mut self) -> Verification {
        let last_seq = self.expected_seq - 1;
        let mut expected_from = 1;
        let mut previous = self.checkpoints.first().map(|c| genesis(&c.chain_id));
        let mut expected_number = 1;
        for checkpoint in &self.checkpoints {
            let number = checkpoint.number;
            if checkpoint.signature.is_empty() {
                self.problems.push(Problem::Unsigned {
                    from: checkpoint.from_seq,
                    to: checkpoint.to_seq,
                });
            } else if !self
                .keys
                .iter()
                .filter(|k| k.id() == checkpoint.key_id)
                .any(|k| checkpoint.verifies_with(k))
            {
                self.problems
                    .push(Problem::BadSignature { checkpoint: number });
            }
            if checkpoint.from_seq > expected_from {
                self.problems.push(Problem::Unsigned {
                    from: expected_from,
                    to: checkpoint.from_seq - 1,
                });
            } else if number != expected_number
                || checkpoint.from_seq != expected_from
                || previous.as_deref() != Some(checkpoint.previous.as_str())
            {
                self.problems
                    .push(Problem::CheckpointUnlinked { checkpoint: number });
            }
            match self.signed.get(&checkpoint.to_seq) {
                Some(Some(hash)) if *hash == checkpoint.hash => {}
                Some(Some(_)) => self.problems.push(Problem::NotThisChain {
                    checkpoint: number,
                    seq: checkpoint.to_seq,
                }),
                _ => {}
            }
            expected_number = number + 1;
            expected_from = checkpoint.to_seq + 1;
            previous = Some(checkpoint.digest());
        }
        let signed_to = self.checkpoints.last().map_or(0, |c| c.to_seq);
        if let Some(newest) = self.checkpoints.last()
            && newest.to_seq > last_seq
        {
            self.problems.push(Problem::Truncated {
                last_seq,
                checkpoint: newest.number,
                signed_to,
            });
        }
        if let Some(head) = &self.head {
            match self.checkpoints.iter().find(|c| c.number == head.number) {
                Some(stored) if stored == head => {}
                Some(_) => self
                    .problems
                    .push(Problem::HeadDiffers { head: head.number }),
                None => self.problems.push(Problem::Older {
                    head: head.number,
                    head_seq: head.to_seq,
                    newest: self.checkpoints.last().map(|c| c.number),
                }),
            }
        }
        Verification {
            records: self.records,
            checkpoints: self.checkpoints.len() as u64,
            last_seq,
            signed_to,
            problems: self.problems,
        }
    }
}

/// Records read per catalog call while verifying.
const VERIFY_PAGE: usize = 10_000;

/// Verifies a catalog's whole chain against `keys` and, if given, the head kept beside the key.
pub async fn verify(
    catalog: &dyn Catalog,
    keys: Vec<AuditPublicKey>,
    head: Option<Checkpoint>,
) -> Result<Verification> {
    let chain_id = catalog.audit_chain_id().await?;
    let checkpoints = catalog.audit_checkpoints().await?;
    let mut verifier = Verifier::new(&chain_id, checkpoints, keys, head);
    let mut after = 0;
    loop {
        let page = catalog.audit_records(after, VERIFY_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for record in &page {
            verifier.record(record);
        }
    }
    Ok(verifier.finish())
}

/// Signs the records written since the last checkpoint, if any, and returns the new
/// checkpoint. Another writer may sign them first (several servers on one catalog): then
/// nothing is added and `None` returned.
pub async fn checkpoint(catalog: &dyn Catalog, key: &AuditKey) -> Result<Option<Checkpoint>> {
    let chain_id = catalog.audit_chain_id().await?;
    let Some((to_seq, hash)) = catalog.audit_head().await? else {
        return Ok(None);
    };
    let last = catalog.last_audit_checkpoint().await?;
    let (number, from_seq, previous) = match last {
        Some(last) if last.to_seq >= to_seq => return Ok(None),
        Some(last) => (last.number + 1, last.to_seq + 1, last.digest()),
        None => (1, 1, genesis(&chain_id)),
    };
    let checkpoint = key.sign(Checkpoint {
        chain_id,
        number,
        from_seq,
        to_seq,
        hash,
        previous,
        at: crate::sqlite::now(),
        key_id: String::new(),
        signature: String::new(),
    });
    Ok(catalog
        .add_audit_checkpoint(&checkpoint)
        .await?
        .then_some(checkpoint))
}

/// The head kept beside the key: the newest checkpoint this server signed.
pub fn read_head(path: &Path) -> Result<Option<Checkpoint>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| CatalogError::Invalid(format!("{}: {e}", path.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(CatalogError::Invalid(format!(
            "{}: {error}",
            path.display()
        ))),
    }
}

/// Replaces the head kept beside the key, atomically (a crash leaves the old head or the new).
pub fn write_head(path: &Path, checkpoint: &Checkpoint) -> Result<()> {
    let failed = |e: std::io::Error| {
        CatalogError::Invalid(format!(
            "the audit head {} cannot be written: {e}",
            path.display()
        ))
    };
    let temporary = path.with_extension("tmp");
    let text = serde_json::to_string_pretty(checkpoint).expect("a checkpoint serializes");
    let mut file = std::fs::File::create(&temporary).map_err(failed)?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(failed)?;
    std::fs::rename(&temporary, path).map_err(failed)
}
