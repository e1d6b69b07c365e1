//! State in local files: `DIR/STACK.json`, locked through `DIR/STACK.lock`.
//!
//! The lock is an OS file lock (`flock`), so it is released when its process dies, even by
//! `kill -9`; the lock file also records who took it, for the message a second user sees.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use paystack_core::StateDocument;

use crate::{LockGuard, LockInfo, StateBackend, StateError, decode, encode};

pub struct LocalBackend {
    dir: PathBuf,
    stack: String,
}

impl LocalBackend {
    pub fn new(dir: &Path, stack: &str) -> Self {
        Self { dir: dir.to_owned(), stack: stack.to_owned() }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.stack))
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.stack))
    }

    fn io(&self, action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StateError {
        let location = path.display().to_string();
        move |source| StateError::Io { action, location, source }
    }

    fn read_sync(&self) -> Result<Option<StateDocument>, StateError> {
        let path = self.path();
        match std::fs::read(&path) {
            Ok(bytes) => decode(&bytes, &path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("cannot read", &path)(e)),
        }
    }

    fn write_sync(&self, doc: &mut StateDocument) -> Result<(), StateError> {
        let path = self.path();
        match self.read_sync()? {
            Some(on_disk) if on_disk.lineage != doc.lineage => {
                return Err(StateError::LineageMismatch {
                    location: path.display().to_string(),
                    expected: doc.lineage.clone(),
                    on_disk: on_disk.lineage,
                });
            }
            Some(on_disk) if on_disk.serial != doc.serial => {
                return Err(StateError::Stale { expected: doc.serial, on_disk: on_disk.serial });
            }
            None if doc.serial != 0 => return Err(StateError::Stale { expected: doc.serial, on_disk: 0 }),
            _ => {}
        }
        std::fs::create_dir_all(&self.dir).map_err(self.io("cannot create", &self.dir))?;
        let mut next = doc.clone();
        next.serial += 1;
        // Write a temporary file beside the target, flush it to disk, then rename over the
        // target: a crash at any point leaves either the old document or the new one.
        let tmp = self.dir.join(format!(".{}.json.tmp-{}", self.stack, std::process::id()));
        let mut file = File::create(&tmp).map_err(self.io("cannot create", &tmp))?;
        file.write_all(&encode(&next)).map_err(self.io("cannot write", &tmp))?;
        file.sync_all().map_err(self.io("cannot flush", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(self.io("cannot replace", &path))?;
        if let Ok(dir) = File::open(&self.dir) {
            // Makes the rename itself durable; not every platform allows syncing a directory.
            let _ = dir.sync_all();
        }
        doc.serial = next.serial;
        Ok(())
    }

    fn lock_sync(&self, info: LockInfo) -> Result<Box<dyn LockGuard>, StateError> {
        std::fs::create_dir_all(&self.dir).map_err(self.io("cannot create", &self.dir))?;
        let path = self.lock_path();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(self.io("cannot open", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = serde_json::from_str(&text).unwrap_or_else(|_| LockInfo {
                    id: "unknown".into(),
                    who: "another process".into(),
                    host: "this host".into(),
                    pid: 0,
                    operation: "unknown".into(),
                    started: 0,
                });
                return Err(StateError::Locked { stack: self.stack.clone(), holder });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(self.io("cannot lock", &path)(e)),
        }
        let body = serde_json::to_vec_pretty(&info).unwrap_or_default();
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(&body))
            .and_then(|()| file.sync_all())
            .map_err(self.io("cannot write", &path))?;
        Ok(Box::new(LocalLock { file, info }))
    }
}

struct LocalLock {
    file: File,
    info: LockInfo,
}

impl LockGuard for LocalLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for LocalLock {
    fn drop(&mut self) {
        // Clear the holder before letting go, so a stale name is never shown.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[async_trait]
impl StateBackend for LocalBackend {
    fn location(&self) -> String {
        self.path().display().to_string()
    }

    async fn read(&self) -> Result<Option<StateDocument>, StateError> {
        self.read_sync()
    }

    async fn write(&self, doc: &mut StateDocument) -> Result<(), StateError> {
        self.write_sync(doc)
    }

    async fn lock(&self, info: LockInfo) -> Result<Box<dyn LockGuard>, StateError> {
        self.lock_sync(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paystack_core::{Kind, Observed, ResourceId};

    fn doc() -> StateDocument {
        StateDocument::new("dev".into(), "lineage-1".into())
    }

    #[tokio::test]
    async fn round_trip_advances_the_serial() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path(), "dev");
        assert_eq!(backend.read().await.unwrap(), None);
        let mut d = doc();
        let o = Observed {
            id: ResourceId::new("network.vpc"),
            aws_id: "vpc-1".into(),
            attributes: Default::default(),
            outputs: Default::default(),
            pending: false,
        };
        d.record(&Kind::new("ec2.vpc"), "dev-vpc", &o, vec![]);
        backend.write(&mut d).await.unwrap();
        assert_eq!(d.serial, 1);
        backend.write(&mut d).await.unwrap();
        assert_eq!(d.serial, 2);
        assert_eq!(backend.read().await.unwrap(), Some(d));
        assert!(!dir.path().read_dir().unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains(".tmp")));
    }

    #[tokio::test]
    async fn a_stale_writer_overwrites_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path(), "dev");
        let mut first = doc();
        backend.write(&mut first).await.unwrap();
        let mut stale = first.clone();
        backend.write(&mut first).await.unwrap();
        stale.stack = "changed".into();
        let err = backend.write(&mut stale).await.unwrap_err();
        assert!(matches!(err, StateError::Stale { expected: 1, on_disk: 2 }), "{err}");
        assert_eq!(backend.read().await.unwrap().unwrap().stack, "dev");

        let mut other = StateDocument::new("dev".into(), "lineage-2".into());
        other.serial = 2;
        assert!(matches!(backend.write(&mut other).await.unwrap_err(), StateError::LineageMismatch { .. }));
    }

    #[tokio::test]
    async fn a_second_lock_names_the_holder_and_dropping_releases_it() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path(), "dev");
        let guard = backend.lock(LockInfo::current("apply")).await.unwrap();
        let err = match backend.lock(LockInfo::current("plan")).await {
            Err(e) => e,
            Ok(_) => panic!("a held lock was taken twice"),
        };
        let StateError::Locked { holder, .. } = &err else { panic!("{err}") };
        assert_eq!(holder, guard.info());
        assert_eq!(holder.operation, "apply");
        drop(guard);
        assert!(backend.lock(LockInfo::current("plan")).await.is_ok());
    }

    #[tokio::test]
    async fn garbage_and_newer_versions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path(), "dev");
        std::fs::write(dir.path().join("dev.json"), "{not json").unwrap();
        assert!(matches!(backend.read().await.unwrap_err(), StateError::Corrupt { .. }));
        std::fs::write(dir.path().join("dev.json"), r#"{"version": 99}"#).unwrap();
        assert!(matches!(backend.read().await.unwrap_err(), StateError::TooNew { version: 99, .. }));
    }
}
