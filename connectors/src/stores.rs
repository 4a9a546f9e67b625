//! One object store per source, registered under a key of its own.
//!
//! DataFusion finds a file's store by the `scheme://host` of its URL. Registering each source's
//! store under `scheme://<source key>` instead of the real bucket or host keeps sources apart: two
//! departments may use the same bucket with different credentials, and removing one source never
//! disturbs another. The object paths are namespaced by the same key ([`NamespacedStore`]), so
//! DataFusion's path-keyed caches keep sources apart too. Local files need no store of their
//! own: their absolute paths are already unique.

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
use crate::secret;
use crate::spec::FileSourceSpec;

/// Bounded network behaviour for every remote store: a source that is down fails within
/// seconds instead of retrying for minutes.
fn client_options() -> ClientOptions {
    ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(60))
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

/// The URLs DataFusion reads: the source's own, re-hosted under its store key.
pub fn listing_urls(spec: &FileSourceSpec) -> Result<Vec<ListingTableUrl>> {
    spec.urls
        .iter()
        .map(|url| {
            let internal = if url.scheme() == "file" {
                url.clone()
            } else {
                let host = store_host(spec);
                let mut internal = Url::parse(&format!("{}://{host}", url.scheme()))
                    .map_err(|e| ConnectorError::invalid(format!("source key: {e}")))?;
                internal.set_path(&format!("/{host}{}", url.path()));
                internal
            };
            ListingTableUrl::parse(internal.as_str())
                .map_err(|e| ConnectorError::invalid(format!("{url}: {e}")))
        })
        .collect()
}

/// Builds the source's store and registers it with the shared runtime. Idempotent: a source
/// registered again (a re-check, a restart) replaces its own store only.
pub fn register(spec: &FileSourceSpec, runtime: &RuntimeEnv) -> Result<()> {
    let first = &spec.urls[0];
    let store: Arc<dyn ObjectStore> = match first.scheme() {
        "file" => return Ok(()),
        "s3" => {
            let bucket = first.host_str().unwrap_or_default();
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(spec.s3.region.clone().unwrap_or_else(|| "us-east-1".into()))
                .with_client_options(client_options())
                .with_retry(retry());
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
            Arc::new(
                HttpBuilder::new()
                    .with_url(base)
                    .with_client_options(client_options().with_allow_http(first.scheme() == "http"))
                    .with_retry(retry())
                    .build()
                    .map_err(|e| {
                        ConnectorError::invalid(format!("cannot configure HTTP for {base}: {e}"))
                    })?,
            )
        }
        other => {
            return Err(ConnectorError::invalid(format!(
                "unsupported scheme {other:?}"
            )));
        }
    };
    let host = store_host(spec);
    let key = Url::parse(&format!("{}://{host}", first.scheme()))
        .map_err(|e| ConnectorError::invalid(format!("source key: {e}")))?;
    runtime.register_object_store(&key, Arc::new(NamespacedStore::new(&host, store)));
    Ok(())
}
