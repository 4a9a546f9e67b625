//! [`ConfinedLocalStore`]: local files of a confined source, checked on every read.
//!
//! A department that may register a folder can usually write into it too, and so could add a
//! symbolic link to the server's data directory after registration. Every object this store
//! lists or reads is therefore resolved to its real path and checked against the owner's
//! [`Reach`] first: a link that leads outside the granted folders is neither listed nor read.

use std::fmt;
use std::sync::Arc;

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

use super::Reach;

/// A read-only local file system that reads only what a [`Reach`] allows.
#[derive(Debug)]
pub struct ConfinedLocalStore {
    inner: Arc<LocalFileSystem>,
    reach: Arc<Reach>,
}

impl ConfinedLocalStore {
    pub fn new(reach: Arc<Reach>) -> Self {
        Self {
            inner: Arc::new(LocalFileSystem::new()),
            reach,
        }
    }

    fn check(&self, location: &Path) -> Result<()> {
        let refused = |message: String| object_store::Error::NotFound {
            path: location.to_string(),
            source: message.into(),
        };
        let path = self
            .inner
            .path_to_filesystem(location)
            .map_err(|e| refused(e.to_string()))?;
        self.reach
            .path(&path)
            .map(drop)
            .map_err(|e| refused(e.to_string()))
    }

    fn allowed(&self, meta: &ObjectMeta) -> bool {
        self.check(&meta.location).is_ok()
    }

    fn read_only() -> object_store::Error {
        object_store::Error::NotSupported {
            source: "sources are read-only".into(),
        }
    }
}

impl fmt::Display for ConfinedLocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfinedLocalStore({})", self.reach.owner())
    }
}

#[async_trait::async_trait]
impl ObjectStore for ConfinedLocalStore {
    async fn put_opts(&self, _: &Path, _: PutPayload, _: PutOptions) -> Result<PutResult> {
        Err(Self::read_only())
    }

    async fn put_multipart_opts(
        &self,
        _: &Path,
        _: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        Err(Self::read_only())
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.check(location)?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> Result<Vec<bytes::Bytes>> {
        self.check(location)?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        locations.map(|_| Err(Self::read_only())).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        if let Some(prefix) = prefix
            && let Err(e) = self.check(prefix)
        {
            return futures::stream::once(async { Err(e) }).boxed();
        }
        let reach = Arc::new(Self {
            inner: self.inner.clone(),
            reach: self.reach.clone(),
        });
        self.inner
            .list(prefix)
            .try_filter(move |meta| futures::future::ready(reach.allowed(meta)))
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        if let Some(prefix) = prefix {
            self.check(prefix)?;
        }
        let mut result = self.inner.list_with_delimiter(prefix).await?;
        result.objects.retain(|meta| self.allowed(meta));
        result.common_prefixes.retain(|p| self.check(p).is_ok());
        Ok(result)
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> Result<()> {
        Err(Self::read_only())
    }
}
