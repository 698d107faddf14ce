//! An in-memory `ObjectStore`, for handler tests and benchmarks.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::{ObjectMeta, ObjectStore, ObjectStoreError};

/// The numbered parts of an open upload.
type Parts = Vec<(i32, Vec<u8>)>;

/// Completed objects and open uploads, kept in memory.
#[derive(Default)]
pub struct MemoryObjects {
    open: Mutex<HashMap<String, (ObjectMeta, Parts)>>,
    objects: Mutex<HashMap<String, (ObjectMeta, Vec<u8>)>>,
}

impl MemoryObjects {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The object at `key`: its metadata and bytes.
    pub fn get(&self, key: &str) -> Option<(ObjectMeta, Vec<u8>)> {
        self.objects
            .lock()
            .expect("lock poisoned")
            .get(key)
            .cloned()
    }

    /// Keys of completed objects.
    pub fn keys(&self) -> Vec<String> {
        self.objects
            .lock()
            .expect("lock poisoned")
            .keys()
            .cloned()
            .collect()
    }

    /// Number of uploads started and neither completed nor aborted.
    pub fn open_uploads(&self) -> usize {
        self.open.lock().expect("lock poisoned").len()
    }
}

#[async_trait]
impl ObjectStore for MemoryObjects {
    async fn create_multipart(
        &self,
        key: &str,
        meta: &ObjectMeta,
    ) -> Result<String, ObjectStoreError> {
        let mut open = self.open.lock().expect("lock poisoned");
        let id = format!("upload-{}", open.len() + 1);
        open.insert(format!("{key}#{id}"), (meta.clone(), Vec::new()));
        Ok(id)
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Vec<u8>,
    ) -> Result<String, ObjectStoreError> {
        let mut open = self.open.lock().expect("lock poisoned");
        let upload = open
            .get_mut(&format!("{key}#{upload_id}"))
            .ok_or_else(|| ObjectStoreError::other("no such upload"))?;
        upload.1.push((number, body));
        Ok(format!("\"etag-{number}\""))
    }

    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        mut parts: Vec<(i32, String)>,
    ) -> Result<(), ObjectStoreError> {
        let (meta, mut uploaded) = self
            .open
            .lock()
            .expect("lock poisoned")
            .remove(&format!("{key}#{upload_id}"))
            .ok_or_else(|| ObjectStoreError::other("no such upload"))?;
        parts.sort();
        uploaded.sort_by_key(|(n, _)| *n);
        if parts
            .iter()
            .map(|(n, _)| *n)
            .ne(uploaded.iter().map(|(n, _)| *n))
        {
            return Err(ObjectStoreError::other(
                "parts do not match the uploaded ones",
            ));
        }
        let bytes = uploaded.into_iter().flat_map(|(_, b)| b).collect();
        self.objects
            .lock()
            .expect("lock poisoned")
            .insert(key.to_string(), (meta, bytes));
        Ok(())
    }

    async fn abort(&self, key: &str, upload_id: &str) -> Result<(), ObjectStoreError> {
        self.open
            .lock()
            .expect("lock poisoned")
            .remove(&format!("{key}#{upload_id}"));
        Ok(())
    }

    async fn size_of(&self, key: &str) -> Result<Option<u64>, ObjectStoreError> {
        Ok(self
            .objects
            .lock()
            .expect("lock poisoned")
            .get(key)
            .map(|(_, bytes)| bytes.len() as u64))
    }

    async fn uploads_of(&self, key: &str) -> Result<Vec<String>, ObjectStoreError> {
        let prefix = format!("{key}#");
        Ok(self
            .open
            .lock()
            .expect("lock poisoned")
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
            .collect())
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, ObjectStoreError> {
        Ok(format!(
            "memory://objects/{key}?expires-in={}",
            ttl.as_secs()
        ))
    }
}
