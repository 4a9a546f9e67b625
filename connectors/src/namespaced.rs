//! [`NamespacedStore`]: a read-only view of a remote store whose paths carry a namespace.
//!
//! DataFusion caches Parquet footers by object path alone, and two sources may well hold
//! `people/part-0.parquet` in different buckets or on different hosts. Each remote source's
//! objects are therefore shown to DataFusion under `<namespace>/<path>`, with the source's
//! own namespace, so no cache entry of one source can ever answer for another.

use std::fmt;
use std::sync::Arc;

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

#[derive(Debug)]
pub struct NamespacedStore {
    namespace: Path,
    inner: Arc<dyn ObjectStore>,
}

impl NamespacedStore {
    pub fn new(namespace: &str, inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            namespace: Path::from(namespace),
            inner,
        }
    }

    /// The inner path of a namespaced one.
    fn strip(&self, path: &Path) -> Result<Path> {
        match path.prefix_match(&self.namespace) {
            Some(parts) => Ok(Path::from_iter(parts)),
            None => Err(object_store::Error::NotFound {
                path: path.to_string(),
                source: format!("outside the source's namespace {}", self.namespace).into(),
            }),
        }
    }

    fn add(namespace: &Path, path: &Path) -> Path {
        Path::from_iter(namespace.parts().chain(path.parts()))
    }

    fn read_only() -> object_store::Error {
        object_store::Error::NotSupported {
            source: "sources are read-only".into(),
        }
    }
}

impl fmt::Display for NamespacedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NamespacedStore({}, {})", self.namespace, self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for NamespacedStore {
    async fn put_opts(
        &self,
        _location: &Path,
        _payload: PutPayload,
        _opts: PutOptions,
    ) -> Result<PutResult> {
        Err(Self::read_only())
    }

    async fn put_multipart_opts(
        &self,
        _location: &Path,
        _opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        Err(Self::read_only())
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let mut result = self.inner.get_opts(&self.strip(location)?, options).await?;
        result.meta.location = location.clone();
        Ok(result)
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(&self.strip(location)?, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        locations.map(|_| Err(Self::read_only())).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let inner_prefix = match prefix.map(|p| self.strip(p)).transpose() {
            Ok(p) => p,
            Err(e) => return futures::stream::once(async { Err(e) }).boxed(),
        };
        let namespace = self.namespace.clone();
        self.inner
            .list(inner_prefix.as_ref())
            .map_ok(move |mut meta| {
                meta.location = Self::add(&namespace, &meta.location);
                meta
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let inner_prefix = prefix.map(|p| self.strip(p)).transpose()?;
        let mut result = self
            .inner
            .list_with_delimiter(inner_prefix.as_ref())
            .await?;
        for path in &mut result.common_prefixes {
            *path = Self::add(&self.namespace, path);
        }
        for meta in &mut result.objects {
            meta.location = Self::add(&self.namespace, &meta.location);
        }
        Ok(result)
    }

    async fn copy_opts(&self, _from: &Path, _to: &Path, _options: CopyOptions) -> Result<()> {
        Err(Self::read_only())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn paths_gain_and_lose_the_namespace() {
        let inner = Arc::new(InMemory::new());
        inner
            .put(
                &Path::from("people/a.parquet"),
                PutPayload::from_static(b"abc"),
            )
            .await
            .unwrap();
        let store = NamespacedStore::new("src-1", inner);
        let listed: Vec<ObjectMeta> = store
            .list(Some(&Path::from("src-1/people")))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].location, Path::from("src-1/people/a.parquet"));
        let got = store
            .get(&Path::from("src-1/people/a.parquet"))
            .await
            .unwrap();
        assert_eq!(got.meta.location, Path::from("src-1/people/a.parquet"));
        assert_eq!(got.bytes().await.unwrap().as_ref(), b"abc");
        assert!(
            store
                .get(&Path::from("src-2/people/a.parquet"))
                .await
                .is_err()
        );
        assert!(
            store
                .put(&Path::from("src-1/x"), PutPayload::from_static(b"x"))
                .await
                .is_err()
        );
    }
}
