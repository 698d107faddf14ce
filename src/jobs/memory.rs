//! In-memory job records, queue and staging: the reference semantics of
//! the DynamoDB, SQS and S3 implementations, for tests.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Expect, JobMessage, JobQueue, JobRecord, JobStore, Staging};
use crate::error::{Fault, FaultKind};

/// Records keyed by organization and job id.
#[derive(Default)]
pub struct MemoryJobs {
    records: Mutex<HashMap<(String, String), JobRecord>>,
}

impl MemoryJobs {
    /// No records.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `record` whatever is there (tools and tests: a record
    /// aged by hand).
    pub fn overwrite(&self, record: &JobRecord) {
        self.records.lock().expect("lock poisoned").insert(
            (record.org_id.clone(), record.job_id.clone()),
            record.clone(),
        );
    }
}

fn other(message: &str) -> Fault {
    Fault {
        kind: FaultKind::Other,
        message: message.to_string(),
    }
}

#[async_trait]
impl JobStore for MemoryJobs {
    async fn create(&self, record: &JobRecord) -> Result<(), Fault> {
        let mut records = self.records.lock().expect("lock poisoned");
        let key = (record.org_id.clone(), record.job_id.clone());
        if records.contains_key(&key) {
            return Err(other("the job exists"));
        }
        records.insert(key, record.clone());
        Ok(())
    }

    async fn get(&self, org: &str, job_id: &str) -> Result<Option<JobRecord>, Fault> {
        Ok(self
            .records
            .lock()
            .expect("lock poisoned")
            .get(&(org.to_string(), job_id.to_string()))
            .cloned())
    }

    async fn replace(&self, record: &JobRecord, expect: &Expect) -> Result<bool, Fault> {
        let mut records = self.records.lock().expect("lock poisoned");
        let key = (record.org_id.clone(), record.job_id.clone());
        match records.get(&key) {
            Some(current) if expect.holds(current) => {
                records.insert(key, record.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// Messages sent, first in first out.
#[derive(Default)]
pub struct MemoryQueue {
    messages: Mutex<VecDeque<JobMessage>>,
}

impl MemoryQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// The oldest message, taken off the queue.
    pub fn pop(&self) -> Option<JobMessage> {
        self.messages.lock().expect("lock poisoned").pop_front()
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.messages.lock().expect("lock poisoned").len()
    }

    /// Whether no message waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn send(&self, message: &JobMessage) -> Result<(), Fault> {
        self.messages
            .lock()
            .expect("lock poisoned")
            .push_back(message.clone());
        Ok(())
    }
}

/// Staged objects in memory.
#[derive(Default)]
pub struct MemoryStaging {
    objects: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryStaging {
    /// Nothing staged.
    pub fn new() -> Self {
        Self::default()
    }

    /// The keys staged.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .objects
            .lock()
            .expect("lock poisoned")
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }
}

#[async_trait]
impl Staging for MemoryStaging {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), Fault> {
        self.objects
            .lock()
            .expect("lock poisoned")
            .insert(key.to_string(), bytes);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, Fault> {
        self.objects
            .lock()
            .expect("lock poisoned")
            .get(key)
            .cloned()
            .ok_or_else(|| other("no such staged object"))
    }

    async fn delete(&self, key: &str) -> Result<(), Fault> {
        self.objects.lock().expect("lock poisoned").remove(key);
        Ok(())
    }
}
