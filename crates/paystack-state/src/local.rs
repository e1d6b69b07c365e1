//! State in local files: `DIR/STACK.json`, its lock record in `DIR/STACK.lock`.
//!
//! Each compare-and-swap, of the document or of the lock record, runs while holding an OS
//! file lock (`flock`) on `DIR/.STACK.mutex`, only for the few milliseconds it takes; the
//! OS releases it if the process dies. Files are replaced by writing a temporary file,
//! flushing it, and renaming it over the old one, so a crash leaves the old or the new one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use paystack_core::StateDocument;

use crate::{LockRecord, LockStore, StateBackend, StateError, Writes, base_serial, decode, encode};

pub struct LocalBackend {
    files: Arc<Files>,
    writes: Writes,
}

struct Files {
    dir: PathBuf,
    stack: String,
}

impl LocalBackend {
    pub fn new(dir: &Path, stack: &str) -> Self {
        Self { files: Arc::new(Files { dir: dir.to_owned(), stack: stack.to_owned() }), writes: Writes::default() }
    }
}

impl Files {
    fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.stack))
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.stack))
    }

    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StateError {
        let location = path.display().to_string();
        move |source| StateError::Io { action, location, source }
    }

    /// Runs `f` while holding the stack's mutex file lock.
    fn exclusive<T>(&self, f: impl FnOnce() -> Result<T, StateError>) -> Result<T, StateError> {
        std::fs::create_dir_all(&self.dir).map_err(Self::io("cannot create", &self.dir))?;
        let path = self.dir.join(format!(".{}.mutex", self.stack));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(Self::io("cannot open", &path))?;
        file.lock().map_err(Self::io("cannot lock", &path))?;
        let result = f();
        let _ = file.unlock();
        result
    }

    fn read_file(path: &Path) -> Result<Option<Vec<u8>>, StateError> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io("cannot read", path)(e)),
        }
    }

    /// Replaces `path` with `bytes` so that a crash leaves either the old or the new file.
    fn replace_file(&self, path: &Path, bytes: &[u8]) -> Result<(), StateError> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = self.dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let mut file = File::create(&tmp).map_err(Self::io("cannot create", &tmp))?;
        file.write_all(bytes).map_err(Self::io("cannot write", &tmp))?;
        file.sync_all().map_err(Self::io("cannot flush", &tmp))?;
        std::fs::rename(&tmp, path).map_err(Self::io("cannot replace", path))?;
        if let Ok(dir) = File::open(&self.dir) {
            // Makes the rename itself durable; not every platform allows syncing a directory.
            let _ = dir.sync_all();
        }
        Ok(())
    }

    fn read_doc(&self) -> Result<Option<StateDocument>, StateError> {
        let path = self.path();
        Self::read_file(&path)?.map(|bytes| decode(&bytes, &path.display().to_string())).transpose()
    }

    fn write_doc(&self, doc: &mut StateDocument, writes: &Writes) -> Result<(), StateError> {
        let path = self.path();
        self.exclusive(|| {
            let base = base_serial(self.read_doc()?.as_ref(), doc, writes, &path.display().to_string())?;
            let mut next = doc.clone();
            next.serial = base + 1;
            next.write_id = writes.next();
            self.replace_file(&path, &encode(&next))?;
            doc.serial = next.serial;
            doc.write_id = next.write_id;
            Ok(())
        })
    }

    fn load_lock(&self) -> Result<Option<LockRecord>, StateError> {
        let path = self.lock_path();
        match Self::read_file(&path)? {
            // Empty: the lock file of an earlier paystack, which held no record when free.
            Some(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StateError::Corrupt { location: path.display().to_string(), reason: e.to_string() }),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl LockStore for Files {
    fn location(&self) -> String {
        self.lock_path().display().to_string()
    }

    async fn load(&self) -> Result<Option<LockRecord>, StateError> {
        self.load_lock()
    }

    async fn replace(&self, expected: Option<u64>, next: &LockRecord) -> Result<bool, StateError> {
        self.exclusive(|| {
            if self.load_lock()?.map(|r| r.version) != expected {
                return Ok(false);
            }
            let bytes = serde_json::to_vec_pretty(next).unwrap_or_default();
            self.replace_file(&self.lock_path(), &bytes)?;
            Ok(true)
        })
    }
}

#[async_trait]
impl StateBackend for LocalBackend {
    fn location(&self) -> String {
        self.files.path().display().to_string()
    }

    async fn read(&self) -> Result<Option<StateDocument>, StateError> {
        self.files.read_doc()
    }

    async fn write(&self, doc: &mut StateDocument) -> Result<(), StateError> {
        self.files.write_doc(doc, &self.writes)
    }

    fn locks(&self) -> Arc<dyn LockStore> {
        Arc::clone(&self.files) as Arc<dyn LockStore>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::Opener;

    struct Dir(tempfile::TempDir);

    #[async_trait]
    impl Opener for Dir {
        async fn open(&self, stack: &str) -> Arc<dyn StateBackend> {
            Arc::new(LocalBackend::new(self.0.path(), stack))
        }
    }

    fn opener() -> Dir {
        Dir(tempfile::tempdir().expect("tempdir"))
    }

    crate::conformance_suite!(opener());

    #[tokio::test]
    async fn writes_leave_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path(), "dev");
        let mut doc = crate::new_document("dev");
        backend.write(&mut doc).await.unwrap();
        backend.write(&mut doc).await.unwrap();
        let names: Vec<String> =
            dir.path().read_dir().unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(!names.iter().any(|n| n.contains(".tmp")), "{names:?}");
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

    #[tokio::test]
    async fn a_file_that_cannot_be_read_is_an_error_not_an_empty_state() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path(), "dev");
        // A directory where the document belongs: it exists, and reading it fails.
        std::fs::create_dir(dir.path().join("dev.json")).unwrap();
        let err = backend.read().await.expect_err("an unreadable document must not read as no state");
        assert!(matches!(err, StateError::Io { action: "cannot read", .. }), "{err}");
        std::fs::create_dir(dir.path().join("dev.lock")).unwrap();
        let err = backend.locks().load().await.expect_err("an unreadable lock must not read as free");
        assert!(matches!(err, StateError::Io { action: "cannot read", .. }), "{err}");
    }

    #[test]
    fn messages_name_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LocalBackend::new(dir.path(), "dev");
        assert_eq!(backend.location(), dir.path().join("dev.json").display().to_string());
        assert_eq!(backend.locks().location(), dir.path().join("dev.lock").display().to_string());
    }

    #[tokio::test]
    async fn a_blank_lock_file_is_a_free_lock() {
        let dir = tempfile::tempdir().unwrap();
        let backend: Arc<dyn StateBackend> = Arc::new(LocalBackend::new(dir.path(), "dev"));
        std::fs::write(dir.path().join("dev.lock"), " \n\t\n").unwrap();
        assert_eq!(backend.locks().load().await.unwrap(), None);
        let options = crate::LockOptions::new(std::time::Duration::from_secs(30));
        let lock = crate::acquire(Arc::clone(&backend), "dev", crate::LockInfo::current("apply"), &options, &|_, _| {})
            .await
            .expect("a blank lock file holds no lock");
        assert!(lock.took_over().is_none());
        lock.release().await;
        std::fs::write(dir.path().join("dev.lock"), "{").unwrap();
        assert!(matches!(backend.locks().load().await.unwrap_err(), StateError::Corrupt { .. }));
    }

    #[tokio::test]
    async fn a_held_lock_is_waited_for_up_to_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let backend: Arc<dyn StateBackend> = Arc::new(LocalBackend::new(dir.path(), "dev"));
        let options = crate::LockOptions {
            poll: std::time::Duration::from_millis(20),
            ..crate::LockOptions::new(std::time::Duration::from_secs(30))
        };
        let held = crate::acquire(Arc::clone(&backend), "dev", crate::LockInfo::current("apply"), &options, &|_, _| {})
            .await
            .unwrap();
        let waits = std::sync::atomic::AtomicUsize::new(0);
        let waiting = crate::LockOptions { timeout: std::time::Duration::from_secs(20), ..options.clone() };
        let on_wait = |holder: &crate::LockInfo, _| {
            assert_eq!(holder.operation, "apply");
            waits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        };
        let (second, ()) = tokio::join!(
            crate::acquire(Arc::clone(&backend), "dev", crate::LockInfo::current("plan"), &waiting, &on_wait),
            async {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                held.release().await;
            }
        );
        assert!(second.is_ok(), "the waiter takes the lock once it is released");
        assert_eq!(waits.load(std::sync::atomic::Ordering::SeqCst), 1, "the holder is announced once");
    }
}
