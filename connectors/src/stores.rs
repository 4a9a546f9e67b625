//! One object store per source, registered under a key of its own.
//!
//! DataFusion finds a file's store by the `scheme://host` of its URL. Registering each source's
//! store under `scheme://<source key>` instead of the real bucket or host keeps sources apart: two
//! departments may use the same bucket with different credentials, and removing one source never
//! disturbs another. The object paths are namespaced by the same key ([`NamespacedStore`]), so
//! DataFusion's path-keyed caches keep sources apart too. Local files need no store of their
//! own: their absolute paths are already unique, unless the source is confined to what its
//! owner was granted ([`crate::reach`]): then its files are read through a store of its own
//! that checks every path it opens.

use std::sync::Arc;
use std::time::Duration;

use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::aws::AmazonS3Builder;
use object_store::http::HttpBuilder;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use url::Url;

use crate::error::{ConnectorError, Result};
use crate::namespaced::NamespacedStore;
use crate::reach::Reach;
use crate::reach::http::ConfinedConnector;
use crate::reach::local::ConfinedLocalStore;
use crate::secret;
use crate::spec::FileSourceSpec;

/// The scheme under which a confined source's local files are read.
const CONFINED_FILE_SCHEME: &str = "confined-file";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Bounded network behaviour for every remote store: a source that is down fails within
/// seconds instead of retrying for minutes.
fn client_options() -> ClientOptions {
    ClientOptions::new()
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_timeout(REQUEST_TIMEOUT)
}

fn retry() -> RetryConfig {
    RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(15),
        ..RetryConfig::default()
    }
}

/// The host under which a source's store is registered: its key, made a valid hostname.
fn store_host(spec: &FileSourceSpec) -> String {
    spec.store_key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// The scheme DataFusion reads a source's URL under.
fn internal_scheme(spec: &FileSourceSpec, url: &Url) -> String {
    match (url.scheme(), &spec.reach) {
        ("file", Some(_)) => CONFINED_FILE_SCHEME.to_owned(),
        (scheme, _) => scheme.to_owned(),
    }
}

/// The URLs DataFusion reads: the source's own, re-hosted under its store key.
pub fn listing_urls(spec: &FileSourceSpec) -> Result<Vec<ListingTableUrl>> {
    spec.urls
        .iter()
        .map(|url| {
            let scheme = internal_scheme(spec, url);
            let internal = if scheme == "file" {
                url.clone()
            } else {
                let host = store_host(spec);
                let mut internal = Url::parse(&format!("{scheme}://{host}"))
                    .map_err(|e| ConnectorError::invalid(format!("source key: {e}")))?;
                internal.set_path(&format!("/{host}{}", url.path()));
                internal
            };
            ListingTableUrl::parse(internal.as_str())
                .map_err(|e| ConnectorError::invalid(format!("{url}: {e}")))
        })
        .collect()
}

/// Checks that every location of a confined source lies within its owner's grants, names
/// resolved: folders (after resolving `..` and links), the bucket and prefix, and the hosts
/// connected to (the S3 endpoint, or each HTTP file's host), by the addresses their names
/// have now. The addresses are checked again on every connection.
pub async fn check_reach(spec: &FileSourceSpec, reach: &Reach) -> Result<()> {
    for (host, port) in check_locations(spec, reach)? {
        reach.resolve(&host, port).await?;
    }
    Ok(())
}

/// The part of [`check_reach`] that needs no DNS; returns the hosts to resolve.
fn check_locations(spec: &FileSourceSpec, reach: &Reach) -> Result<Vec<(String, u16)>> {
    let mut hosts = Vec::new();
    for url in &spec.urls {
        match url.scheme() {
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|()| ConnectorError::invalid(format!("{url} is not a local path")))?;
                reach.path(&path)?;
            }
            "s3" => {
                let bucket = url.host_str().unwrap_or_default();
                let key = store_key_of(url)?;
                reach.bucket(bucket, &key)?;
                let endpoint = match &spec.s3.endpoint {
                    Some(endpoint) => Url::parse(endpoint)
                        .map_err(|e| ConnectorError::invalid(format!("endpoint: {e}")))?,
                    None => Url::parse(&format!(
                        "https://s3.{}.amazonaws.com",
                        spec.s3.region.as_deref().unwrap_or("us-east-1")
                    ))
                    .map_err(|e| ConnectorError::invalid(format!("region: {e}")))?,
                };
                hosts.push(check_host(&endpoint, reach)?);
            }
            _ => hosts.push(check_host(url, reach)?),
        }
    }
    Ok(hosts)
}

fn check_host(url: &Url, reach: &Reach) -> Result<(String, u16)> {
    let host = url
        .host_str()
        .ok_or_else(|| ConnectorError::invalid(format!("{url} names no host")))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| ConnectorError::invalid(format!("{url} names no port")))?;
    reach.host(host, port)?;
    Ok((host.to_owned(), port))
}

/// An object key prefix as the store will see it, `.` and `..` parts refused.
fn store_key_of(url: &Url) -> Result<String> {
    let path = object_store::path::Path::from_url_path(url.path())
        .map_err(|e| ConnectorError::invalid(format!("{url}: {e}")))?;
    let mut key = path.to_string();
    if url.path().ends_with('/') && !key.is_empty() {
        key.push('/');
    }
    Ok(key)
}

/// Builds the source's store and registers it with the shared runtime. Idempotent: a source
/// registered again (a re-check, a restart) replaces its own store only.
pub fn register(spec: &FileSourceSpec, runtime: &RuntimeEnv) -> Result<()> {
    if let Some(reach) = &spec.reach {
        check_locations(spec, reach)?;
    }
    let first = &spec.urls[0];
    let confined = |options: ClientOptions| -> (ClientOptions, Option<ConfinedConnector>) {
        let connector = spec
            .reach
            .clone()
            .map(|reach| ConfinedConnector::new(reach, CONNECT_TIMEOUT, REQUEST_TIMEOUT));
        (options, connector)
    };
    let store: Arc<dyn ObjectStore> = match first.scheme() {
        "file" => match &spec.reach {
            None => return Ok(()),
            Some(reach) => Arc::new(ConfinedLocalStore::new(reach.clone())),
        },
        "s3" => {
            let bucket = first.host_str().unwrap_or_default();
            let (options, connector) = confined(client_options());
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(spec.s3.region.clone().unwrap_or_else(|| "us-east-1".into()))
                .with_client_options(options)
                .with_retry(retry());
            if let Some(connector) = connector {
                builder = builder.with_http_connector(connector);
            }
            if let Some(endpoint) = &spec.s3.endpoint {
                builder = builder
                    .with_endpoint(endpoint)
                    .with_allow_http(spec.s3.allow_http || endpoint.starts_with("http://"));
            }
            match (&spec.s3.access_key_id, &spec.secret, spec.s3.skip_signature) {
                (_, _, true) => builder = builder.with_skip_signature(true),
                (Some(key_id), Some(reference), false) => {
                    builder =
                        builder
                            .with_access_key_id(key_id)
                            .with_secret_access_key(secret::resolve(
                                reference,
                                spec.seal_key.as_ref(),
                            )?);
                }
                // Without credentials the S3 client would ask a cloud metadata service for
                // some; a county server has none, so refuse instead.
                _ => {
                    return Err(ConnectorError::invalid(
                        "an s3:// source needs access_key_id with a secret reference, or skip_signature: true for a public bucket",
                    ));
                }
            }
            Arc::new(builder.build().map_err(|e| {
                ConnectorError::invalid(format!("cannot configure S3 for bucket {bucket:?}: {e}"))
            })?)
        }
        "http" | "https" => {
            let base = &first[..url::Position::BeforePath];
            let (options, connector) =
                confined(client_options().with_allow_http(first.scheme() == "http"));
            let mut builder = HttpBuilder::new()
                .with_url(base)
                .with_client_options(options)
                .with_retry(retry());
            if let Some(connector) = connector {
                builder = builder.with_http_connector(connector);
            }
            Arc::new(builder.build().map_err(|e| {
                ConnectorError::invalid(format!("cannot configure HTTP for {base}: {e}"))
            })?)
        }
        other => {
            return Err(ConnectorError::invalid(format!(
                "unsupported scheme {other:?}"
            )));
        }
    };
    let host = store_host(spec);
    let key = Url::parse(&format!("{}://{host}", internal_scheme(spec, first)))
        .map_err(|e| ConnectorError::invalid(format!("source key: {e}")))?;
    runtime.register_object_store(&key, Arc::new(NamespacedStore::new(&host, store)));
    Ok(())
}
