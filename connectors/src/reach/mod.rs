//! [`Reach`]: what a source registered by someone other than admin may open.
//!
//! A department may register its own data, but the server opens it: with the server's network
//! position, the server's files and the server's environment. So a source registered by a
//! non-admin reaches only what admin has granted to the jurisdiction that owns it ([`Grant`]):
//! folders on the server, S3 buckets or prefixes, network hosts (HTTP servers, S3 endpoints,
//! database servers), and the server operator's secrets by namespace. The server's own files
//! (data directory, catalog, keys, spill files) are never reachable, whatever is granted.
//!
//! Paths are compared after resolving `..` and symbolic links; hosts are checked on the
//! address actually connected to ([`http`] for HTTP and S3, [`Reach::resolve`] for
//! databases), so a DNS name cannot lead to an address that was not granted. Every refusal
//! reads the same whether the thing exists or not.

pub mod address;
pub mod http;
pub mod local;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use address::{IpNet, special};

use crate::error::{ConnectorError, Result};

/// The prefix no granted environment namespace may cover: the server's own settings, among
/// them the admin token.
const SERVER_ENV_PREFIX: &str = "TIAOKUAI";

/// One thing admin grants to a jurisdiction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Grant {
    /// A folder on the server: file sources and SQLite files under it.
    Path(PathBuf),
    /// An S3 bucket, or a prefix inside it (ending in `/`).
    S3 { bucket: String, prefix: String },
    /// A network host: a DNS name or an IP network, with a port or any port.
    Host {
        host: HostPattern,
        port: Option<u16>,
    },
    /// Environment variables whose names start with this prefix, as `env:NAME` secrets.
    Env(String),
    /// Files under this folder, as `file:/path` secrets.
    SecretFile(PathBuf),
}

/// The host part of a [`Grant::Host`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// A DNS name, lowercase: its addresses are allowed unless they are [`special`].
    Name(String),
    /// An address or network: the addresses in it are allowed, special ones only when the
    /// network itself is special (`127.0.0.1`, not `0.0.0.0/0`).
    Net(IpNet),
}

/// The kinds of grant, as the API names them.
pub const GRANT_KINDS: [&str; 5] = ["path", "s3", "host", "env", "secret_file"];

impl Grant {
    /// Parses a grant of `kind` for `location`, as admin gives it.
    pub fn parse(kind: &str, location: &str) -> Result<Self, String> {
        let location = location.trim();
        match kind {
            "path" => absolute_folder(location).map(Grant::Path),
            "secret_file" => absolute_folder(location).map(Grant::SecretFile),
            "s3" => parse_bucket(location),
            "host" => parse_host(location),
            "env" => {
                let valid = !location.is_empty()
                    && location
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                if !valid {
                    Err(format!(
                        "an env grant is a prefix of variable names in A-Z, 0-9 and '_' (e.g. CIVIL_), not {location:?}"
                    ))
                } else if location.starts_with(SERVER_ENV_PREFIX)
                    || SERVER_ENV_PREFIX.starts_with(location)
                {
                    Err(format!(
                        "{location:?} would cover the server's own {SERVER_ENV_PREFIX}_* settings"
                    ))
                } else {
                    Ok(Grant::Env(location.to_owned()))
                }
            }
            other => Err(format!(
                "unknown grant kind {other:?}; kinds are {}",
                GRANT_KINDS.join(", ")
            )),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Grant::Path(_) => "path",
            Grant::S3 { .. } => "s3",
            Grant::Host { .. } => "host",
            Grant::Env(_) => "env",
            Grant::SecretFile(_) => "secret_file",
        }
    }

    /// The location in its one written form (what the catalog stores and the API shows).
    pub fn location(&self) -> String {
        match self {
            Grant::Path(path) | Grant::SecretFile(path) => {
                let text = path.display().to_string();
                if text.ends_with('/') {
                    text
                } else {
                    format!("{text}/")
                }
            }
            Grant::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
            Grant::Host { host, port } => {
                let host = match host {
                    HostPattern::Name(name) => name.clone(),
                    HostPattern::Net(net) if port.is_some() && net.to_string().contains(':') => {
                        format!("[{net}]")
                    }
                    HostPattern::Net(net) => net.to_string(),
                };
                match port {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                }
            }
            Grant::Env(prefix) => prefix.clone(),
        }
    }
}

fn absolute_folder(location: &str) -> Result<PathBuf, String> {
    let path = Path::new(location);
    if !path.is_absolute() {
        return Err(format!("{location:?} is not an absolute path"));
    }
    if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!("{location:?} must not contain '..'"));
    }
    Ok(PathBuf::from(location.trim_end_matches('/')).join(""))
}

fn parse_bucket(location: &str) -> Result<Grant, String> {
    let rest = location.strip_prefix("s3://").ok_or_else(|| {
        format!("an s3 grant is s3://bucket/ or s3://bucket/prefix/, not {location:?}")
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'));
    if !bucket_ok {
        return Err(format!("{bucket:?} is not an S3 bucket name"));
    }
    if prefix.split('/').any(|s| s == "." || s == "..") || prefix.contains("//") {
        return Err(format!(
            "the prefix of {location:?} must not hold '.', '..' or '//'"
        ));
    }
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    };
    Ok(Grant::S3 {
        bucket: bucket.to_owned(),
        prefix,
    })
}

fn parse_host(location: &str) -> Result<Grant, String> {
    let bad = || {
        format!(
            "a host grant is NAME, NAME:PORT, an address, or a network such as 10.1.0.0/16 (IPv6 in brackets with a port: [fd00::/8]:5432); not {location:?}"
        )
    };
    let (host, port) = if let Some(inner) = location.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else if location.matches(':').count() > 1 {
        (location, None)
    } else {
        match location.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (location, None),
        }
    };
    let port = port
        .map(|p| p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad))
        .transpose()?;
    if host.is_empty() {
        return Err(bad());
    }
    let looks_numeric = host.contains('/')
        || host.contains(':')
        || host.chars().all(|c| c.is_ascii_digit() || c == '.');
    let pattern = if looks_numeric {
        HostPattern::Net(host.parse::<IpNet>()?)
    } else {
        HostPattern::Name(host_name(host).ok_or_else(bad)?)
    };
    Ok(Grant::Host {
        host: pattern,
        port,
    })
}

/// A DNS name in its comparable form: lowercase, without a trailing dot.
fn host_name(text: &str) -> Option<String> {
    let name = text.trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !label.starts_with('-')
    };
    (name.len() <= 253 && name.split('.').all(label_ok)).then_some(name)
}

/// What one owner's sources may reach: the grants to the owner and the server's own paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reach {
    owner: String,
    grants: Vec<Grant>,
    /// The server's own files, symbolic links resolved: never reachable.
    private: Vec<PathBuf>,
}

impl Reach {
    /// The reach of sources owned by `owner`, given admin's grants to it and the server's
    /// private paths.
    pub fn new(owner: impl Into<String>, grants: Vec<Grant>, private: &[PathBuf]) -> Self {
        let private = private
            .iter()
            .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
            .collect();
        Self {
            owner: owner.into(),
            grants,
            private,
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    fn refused(&self, what: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::OutOfReach(format!(
            "{what} is not among the locations admin has granted to {}",
            self.owner
        ))
    }

    /// The real path of `path`, if it lies under a granted folder and outside the server's
    /// own files. The refusal is the same whether the path exists or not.
    pub fn path(&self, path: &Path) -> Result<PathBuf> {
        let refused = || self.refused(format!("the path {}", path.display()));
        let real = path.canonicalize().map_err(|_| refused())?;
        if self.is_private(&real) {
            return Err(refused());
        }
        let granted = self.grants.iter().any(|g| match g {
            Grant::Path(root) => root.canonicalize().is_ok_and(|root| real.starts_with(root)),
            _ => false,
        });
        if granted { Ok(real) } else { Err(refused()) }
    }

    /// Whether `real` (a resolved path) is one of the server's own files, or a folder that
    /// holds one.
    pub fn is_private(&self, real: &Path) -> bool {
        self.private
            .iter()
            .any(|p| real.starts_with(p) || p.starts_with(real))
    }

    /// Whether objects under `key_prefix` of `bucket` were granted.
    pub fn bucket(&self, bucket: &str, key_prefix: &str) -> Result<()> {
        let refused = || self.refused(format!("s3://{bucket}/{key_prefix}"));
        if key_prefix
            .split('/')
            .any(|s| s == "." || s == ".." || s.contains('\\'))
        {
            return Err(refused());
        }
        let granted = self.grants.iter().any(|g| match g {
            Grant::S3 { bucket: b, prefix } => {
                b == bucket && key_prefix.starts_with(prefix.as_str())
            }
            _ => false,
        });
        if granted { Ok(()) } else { Err(refused()) }
    }

    /// A grant without a port allows every port; a check without one (a DNS answer, whose
    /// port is checked with the host before) matches every grant.
    fn port_matches(granted: Option<u16>, port: Option<u16>) -> bool {
        granted.is_none() || port.is_none() || granted == port
    }

    /// Whether connecting to `addr` (found for the DNS name `name`, if any) on `port` was
    /// granted.
    pub fn allows_address(&self, name: Option<&str>, addr: IpAddr, port: Option<u16>) -> bool {
        let name = name.and_then(host_name);
        let addr = address::canonical(addr);
        self.grants.iter().any(|g| match g {
            Grant::Host {
                host,
                port: granted,
            } if Self::port_matches(*granted, port) => match host {
                HostPattern::Name(n) => name.as_deref() == Some(n.as_str()) && !special(addr),
                HostPattern::Net(net) => net.contains(addr) && (!special(addr) || net.is_special()),
            },
            _ => false,
        })
    }

    /// The check before connecting to `host:port`: a DNS name must be granted by name (or a
    /// network be granted, which its addresses are then checked against), an address must be
    /// granted itself. The addresses of a name are checked when it is resolved.
    pub fn host(&self, host: &str, port: u16) -> Result<()> {
        let refused = || self.refused(format!("the host {host}:{port}"));
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(addr) = literal.parse::<IpAddr>() {
            return if self.allows_address(None, addr, Some(port)) {
                Ok(())
            } else {
                Err(refused())
            };
        }
        let Some(name) = host_name(host) else {
            return Err(refused());
        };
        let granted = self.grants.iter().any(|g| match g {
            Grant::Host {
                host,
                port: granted,
            } if Self::port_matches(*granted, Some(port)) => match host {
                HostPattern::Name(n) => *n == name,
                HostPattern::Net(_) => true,
            },
            _ => false,
        });
        if granted { Ok(()) } else { Err(refused()) }
    }

    /// Resolves `host` and keeps the addresses that were granted; fails if none is.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>> {
        self.host(host, port)?;
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let found: Vec<SocketAddr> = match literal.parse::<IpAddr>() {
            Ok(addr) => vec![SocketAddr::new(addr, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|_| self.refused(format!("the host {host}:{port}")))?
                .collect(),
        };
        let name = literal.parse::<IpAddr>().is_err().then_some(host);
        let allowed: Vec<SocketAddr> = found
            .into_iter()
            .filter(|a| self.allows_address(name, a.ip(), Some(port)))
            .collect();
        if allowed.is_empty() {
            Err(self.refused(format!("the host {host}:{port}")))
        } else {
            Ok(allowed)
        }
    }

    fn secret_refused(&self) -> ConnectorError {
        ConnectorError::OutOfReach(format!(
            "the secret reference is not available to sources owned by {}: give the secret inline, or a reference inside a namespace admin has granted to {}",
            self.owner, self.owner
        ))
    }

    /// Checks a secret as a non-admin gives it: a value given inline is fine (it will be
    /// sealed); a reference must lie in a namespace granted to the owner and resolve; an
    /// already sealed value is refused, since only the server seals. Every refusal, for a
    /// reference out of reach, missing or unreadable, is the same.
    pub fn given_secret(&self, given: &str) -> Result<()> {
        if given.starts_with(crate::secret::SEALED) {
            return Err(self.secret_refused());
        }
        if !crate::secret::is_reference(given) {
            return Ok(());
        }
        self.stored_secret(given)
    }

    /// Checks a stored secret of a confined source again before it is used: a sealed value
    /// was sealed by this server from what the registrant gave inline; a reference must
    /// still be granted and readable.
    pub fn stored_secret(&self, stored: &str) -> Result<()> {
        if stored.starts_with(crate::secret::SEALED) {
            return Ok(());
        }
        let refused = || self.secret_refused();
        match stored.split_once(':') {
            Some(("env", name)) => {
                let valid = name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                let granted = self
                    .grants
                    .iter()
                    .any(|g| matches!(g, Grant::Env(prefix) if name.starts_with(prefix.as_str())));
                let server_own = name.to_ascii_uppercase().starts_with(SERVER_ENV_PREFIX);
                if valid && granted && !server_own && std::env::var_os(name).is_some() {
                    Ok(())
                } else {
                    Err(refused())
                }
            }
            Some(("file", path)) => {
                let path = Path::new(path);
                let real = path
                    .is_absolute()
                    .then(|| path.canonicalize().ok())
                    .flatten()
                    .ok_or_else(refused)?;
                let granted = self.grants.iter().any(|g| match g {
                    Grant::SecretFile(dir) => {
                        dir.canonicalize().is_ok_and(|dir| real.starts_with(dir))
                    }
                    _ => false,
                });
                if granted
                    && !self.is_private(&real)
                    && real.is_file()
                    && std::fs::File::open(&real).is_ok()
                {
                    Ok(())
                } else {
                    Err(refused())
                }
            }
            _ => Err(refused()),
        }
    }
}

#[cfg(test)]
mod tests;
