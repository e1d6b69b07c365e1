//! The remote state backend: each environment's documents in its own S3 bucket, its locks in
//! its own DynamoDB table, and `init`, which creates both.
//!
//! Every document write is a conditional S3 write: `If-Match` on the ETag this handle last
//! read or wrote, or `If-None-Match: *` for a stack's first document, so a writer whose
//! view is stale is refused by S3 itself. Every lock change is a conditional DynamoDB put on
//! the record's version.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb as ddb;
use aws_sdk_s3 as s3;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use ddb::types::AttributeValue;
use paystack_core::StateDocument;
use paystack_state::{LockInfo, LockRecord, LockStore, StateBackend, StateError, Writes, base_serial, decode, encode};
use s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::Clients;

mod init;

pub use init::{InitStep, Outcome, init};

/// A waiter that gave up at `location`, with the SDK's whole chain of causes.
fn remote_wait(action: &'static str, location: String, err: &impl std::error::Error) -> StateError {
    StateError::Remote { action, location, message: DisplayErrorContext(err).to_string(), retryable: false }
}

/// An AWS failure at `location`, with the SDK's whole chain of causes, and whether it may
/// pass if the request is sent again (throttled, refused, unanswered).
fn remote<E>(action: &'static str, location: String, err: &SdkError<E, HttpResponse>) -> StateError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let retryable =
        matches!(err, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_))
            || status.is_some_and(|s| s == 429 || s >= 500)
            || err.code().is_some_and(|c| {
                matches!(c, "Throttling" | "ThrottlingException" | "SlowDown" | "RequestLimitExceeded")
            });
    StateError::Remote { action, location, message: crate::error::describe(err), retryable }
}

/// Where one environment's state lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateLocation {
    pub bucket: String,
    pub lock_table: String,
}

/// One stack's state: `s3://BUCKET/STACK/state.json`, locked by the item `STACK` of the table.
pub struct RemoteBackend {
    s3: s3::Client,
    bucket: String,
    key: String,
    seen: Mutex<Option<Seen>>,
    writes: Writes,
    locks: Arc<DynamoLocks>,
}

/// The version of the document this handle last read or wrote.
#[derive(Clone)]
struct Seen {
    serial: u64,
    lineage: String,
    etag: String,
}

impl RemoteBackend {
    pub fn new(clients: &Clients, at: &StateLocation, stack: &str) -> Self {
        Self {
            s3: clients.s3.clone(),
            bucket: at.bucket.clone(),
            key: format!("{stack}/state.json"),
            seen: Mutex::new(None),
            writes: Writes::default(),
            locks: Arc::new(DynamoLocks {
                client: clients.dynamodb.clone(),
                table: at.lock_table.clone(),
                stack: stack.to_owned(),
            }),
        }
    }

    fn remember(&self, seen: Option<Seen>) {
        if let Ok(mut slot) = self.seen.lock() {
            *slot = seen;
        }
    }

    fn seen(&self) -> Option<Seen> {
        self.seen.lock().ok().and_then(|s| s.clone())
    }

    fn error<E>(&self, action: &'static str, err: SdkError<E, HttpResponse>) -> StateError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        if err.code() == Some("NoSuchBucket") {
            return StateError::NotInitialised { missing: format!("S3 bucket `{}`", self.bucket) };
        }
        remote(action, self.location(), &err)
    }
}

#[async_trait]
impl StateBackend for RemoteBackend {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    async fn read(&self) -> Result<Option<StateDocument>, StateError> {
        let out = match self.s3.get_object().bucket(&self.bucket).key(&self.key).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                self.remember(None);
                return Ok(None);
            }
            Err(e) => return Err(self.error("cannot read", e)),
        };
        let etag = out.e_tag().map(str::to_owned);
        let bytes = out.body.collect().await.map_err(|e| StateError::Remote {
            action: "cannot read",
            location: self.location(),
            message: e.to_string(),
            retryable: true,
        })?;
        let doc = decode(&bytes.into_bytes(), &self.location())?;
        self.remember(etag.map(|etag| Seen { serial: doc.serial, lineage: doc.lineage.clone(), etag }));
        Ok(Some(doc))
    }

    async fn write(&self, doc: &mut StateDocument) -> Result<(), StateError> {
        let mut next = doc.clone();
        next.write_id = self.writes.next();
        // At most twice: a second time only on top of this handle's own earlier write, whose
        // answer was lost after it landed.
        for _ in 0..2 {
            let seen = match self.seen() {
                Some(s) if s.serial == doc.serial && s.lineage == doc.lineage => Some(s),
                // This handle has not seen the version the caller holds: look at what is stored.
                _ => {
                    let stored = self.read().await?;
                    doc.serial = base_serial(stored.as_ref(), doc, &self.writes, &self.location())?;
                    self.seen()
                }
            };
            next.serial = doc.serial + 1;
            let put = self
                .s3
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type("application/json")
                .body(encode(&next).into());
            let put = match &seen {
                Some(s) => put.if_match(&s.etag),
                None => put.if_none_match("*"),
            };
            match put.send().await {
                Ok(out) => {
                    let etag = out.e_tag().map(str::to_owned);
                    self.remember(etag.map(|etag| Seen { serial: next.serial, lineage: next.lineage.clone(), etag }));
                    doc.serial = next.serial;
                    doc.write_id = next.write_id;
                    return Ok(());
                }
                Err(e) if matches!(e.code(), Some("PreconditionFailed" | "ConditionalRequestConflict")) => {
                    // Either this very write landed and its answer was lost (the SDK's retry
                    // then finds its own version), an earlier write of this handle did, or
                    // someone else wrote since this handle looked.
                    let stored = self.read().await?;
                    match stored {
                        Some(s) if s.write_id == next.write_id => {
                            doc.serial = s.serial;
                            doc.write_id = s.write_id;
                            return Ok(());
                        }
                        Some(s) if s.lineage == doc.lineage && self.writes.wrote(&s) => {
                            doc.serial = s.serial;
                        }
                        other => {
                            let on_disk = other.map_or(0, |d| d.serial);
                            return Err(StateError::Stale { expected: doc.serial, on_disk });
                        }
                    }
                }
                Err(e) => return Err(self.error("cannot write", e)),
            }
        }
        Err(StateError::Stale { expected: doc.serial, on_disk: doc.serial })
    }

    fn locks(&self) -> Arc<dyn LockStore> {
        Arc::clone(&self.locks) as Arc<dyn LockStore>
    }
}

/// Lock records as items keyed by `LockID` (the stack). The holder's fields are plain
/// attributes, so an operator can read who holds a lock with any DynamoDB tool.
struct DynamoLocks {
    client: ddb::Client,
    table: String,
    stack: String,
}

const KEY: &str = "LockID";

impl DynamoLocks {
    fn error<E>(&self, action: &'static str, err: SdkError<E, HttpResponse>) -> StateError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        if err.code() == Some("ResourceNotFoundException") {
            return StateError::NotInitialised { missing: format!("DynamoDB table `{}`", self.table) };
        }
        remote(action, self.location(), &err)
    }

    fn decode(&self, item: &HashMap<String, AttributeValue>) -> Result<LockRecord, StateError> {
        let corrupt = |what: &str| StateError::Corrupt {
            location: self.location(),
            reason: format!("the lock item has no valid `{what}`"),
        };
        let number = |name: &str| -> Result<u64, StateError> {
            item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).ok_or_else(|| corrupt(name))
        };
        let text = |name: &str| -> Result<String, StateError> {
            item.get(name).and_then(|v| v.as_s().ok()).cloned().ok_or_else(|| corrupt(name))
        };
        let holder = if item.contains_key("HolderId") {
            Some(LockInfo {
                id: text("HolderId")?,
                who: text("Who")?,
                host: text("Host")?,
                pid: u32::try_from(number("Pid")?).map_err(|_| corrupt("Pid"))?,
                operation: text("Operation")?,
                started: number("Started")?,
                expires: number("Expires")?,
            })
        } else {
            None
        };
        Ok(LockRecord {
            version: number("Version")?,
            fence: number("Fence")?,
            holder,
            broken: item.get("Broken").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        })
    }

    fn encode(&self, record: &LockRecord) -> HashMap<String, AttributeValue> {
        let n = |v: u64| AttributeValue::N(v.to_string());
        let mut item = HashMap::from([
            (KEY.to_owned(), AttributeValue::S(self.stack.clone())),
            ("Version".to_owned(), n(record.version)),
            ("Fence".to_owned(), n(record.fence)),
            ("Broken".to_owned(), AttributeValue::Bool(record.broken)),
        ]);
        if let Some(h) = &record.holder {
            item.extend([
                ("HolderId".to_owned(), AttributeValue::S(h.id.clone())),
                ("Who".to_owned(), AttributeValue::S(h.who.clone())),
                ("Host".to_owned(), AttributeValue::S(h.host.clone())),
                ("Pid".to_owned(), n(u64::from(h.pid))),
                ("Operation".to_owned(), AttributeValue::S(h.operation.clone())),
                ("Started".to_owned(), n(h.started)),
                ("Expires".to_owned(), n(h.expires)),
            ]);
        }
        item
    }
}

#[async_trait]
impl LockStore for DynamoLocks {
    fn location(&self) -> String {
        format!("dynamodb://{}/{}", self.table, self.stack)
    }

    async fn load(&self) -> Result<Option<LockRecord>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(self.stack.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("cannot read the lock", e))?;
        out.item().map(|item| self.decode(item)).transpose()
    }

    async fn replace(&self, expected: Option<u64>, next: &LockRecord) -> Result<bool, StateError> {
        let put = self.client.put_item().table_name(&self.table).set_item(Some(self.encode(next)));
        let put = match expected {
            None => put.condition_expression("attribute_not_exists(#k)").expression_attribute_names("#k", KEY),
            Some(v) => put
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", "Version")
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(self.error("cannot change the lock", e)),
        }
    }
}
