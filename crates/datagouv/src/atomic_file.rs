//! Writing a file so that its final name only ever holds a complete copy.
//!
//! Every file the SDK and the CLI write (downloads, exports, a sync's files
//! and manifest, the CLI's config file) goes through [`AtomicFile`]: the
//! bytes go to a hidden partial file beside the target (`.NAME.partial`,
//! on the same file system, so the final rename is atomic), which is
//! locked while it is written so that two processes never write the same
//! target, synced to disk, then renamed over the target. Dropped before
//! [`AtomicFile::commit`] (an error, a panic, a cancelled future), the
//! partial file is removed, unless [`AtomicFile::keep_on_drop`] asked to
//! keep it (when not empty) for a later resumption. Only a killed process leaves it, and
//! the next writer of the same target finds it under the same name.
//!
//! The destination is checked when the file is opened, before any
//! request: a folder where a file is expected, a missing folder or a
//! target another process is writing are [`Error::Io`] at once.

use std::{
    fs::File,
    io::{ErrorKind, Write},
    path::{Path, PathBuf},
};

use crate::Error;

/// How long [`AtomicFile::open`] waits for a lock that is held: a writer
/// of this process that was just dropped releases it once its last write
/// finishes on a worker thread (a cancelled export started again at once);
/// another process that really writes the file holds it longer.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Takes the lock on `file`, waiting up to [`LOCK_WAIT`] for its holder.
fn lock_soon(file: &File) -> Result<(), std::fs::TryLockError> {
    let started = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// A file being written under a hidden, locked partial name beside its
/// target, renamed over the target by [`AtomicFile::commit`]; see the
/// module documentation.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    partial: PathBuf,
    file: Option<File>,
    keep: bool,
}

/// How [`AtomicFile::open_with`] opens the partial file.
#[derive(Clone, Copy, Debug, Default)]
pub struct AtomicOptions {
    private: bool,
}

impl AtomicOptions {
    /// Owner-only permissions (0600 on Unix), from the moment the partial
    /// file exists: for files holding secrets.
    pub fn private(mut self, yes: bool) -> Self {
        self.private = yes;
        self
    }
}

impl AtomicFile {
    /// The partial file of `target`: `.NAME.partial` beside it.
    pub fn partial_path(target: &Path) -> PathBuf {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        target.with_file_name(format!(".{name}.partial"))
    }

    /// Opens the partial file of `target` (creating it, keeping what an
    /// interrupted writer left: see [`AtomicFile::len`] and
    /// [`AtomicFile::truncate`]) and locks it.
    ///
    /// Fails with [`Error::Io`] when `target` is a folder or names none
    /// (`dir/`, `..`), when its folder does not exist or cannot be
    /// written, or when another process is writing the same target.
    pub fn open(target: &Path) -> Result<AtomicFile, Error> {
        AtomicFile::open_with(target, AtomicOptions::default())
    }

    /// [`AtomicFile::open`] with options.
    pub fn open_with(target: &Path, options: AtomicOptions) -> Result<AtomicFile, Error> {
        check_target(target)?;
        let partial = AtomicFile::partial_path(target);
        // The path is opened again until the locked file is the one the
        // path names: a writer that finished (renamed) or gave up (removed)
        // between the open and the lock leaves a file nobody will see.
        for _ in 0..8 {
            let mut open = std::fs::OpenOptions::new();
            open.read(true).write(true).create(true).truncate(false);
            #[cfg(unix)]
            if options.private {
                std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
            }
            let file = open
                .open(&partial)
                .map_err(|e| Error::io("create", &partial, e))?;
            match lock_soon(&file) {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::io(
                        "write",
                        target,
                        std::io::Error::new(
                            ErrorKind::WouldBlock,
                            format!(
                                "another process is writing it (it holds the lock on {}); wait for it to finish, \
                                 or write elsewhere",
                                partial.display()
                            ),
                        ),
                    ));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::io("lock", &partial, e));
                }
            }
            if !same_file(&file, &partial) {
                continue;
            }
            #[cfg(unix)]
            if options.private {
                use std::os::unix::fs::PermissionsExt;
                file.set_permissions(std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| Error::io("protect", &partial, e))?;
            }
            return Ok(AtomicFile {
                target: target.to_path_buf(),
                partial,
                file: Some(file),
                keep: false,
            });
        }
        Err(Error::io(
            "write",
            target,
            std::io::Error::other("other processes keep replacing it; try again"),
        ))
    }

    /// The target: the name the file takes when committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The partial file being written.
    pub fn partial(&self) -> &Path {
        &self.partial
    }

    /// The open, locked partial file.
    pub fn file(&self) -> &File {
        self.file.as_ref().expect("open until committed or dropped")
    }

    /// The partial file for async writing (the same open file: the lock
    /// holds until both are closed).
    pub fn tokio_file(&self) -> Result<tokio::fs::File, Error> {
        let clone = self
            .file()
            .try_clone()
            .map_err(|e| Error::io("open", &self.partial, e))?;
        Ok(tokio::fs::File::from_std(clone))
    }

    /// Bytes the partial file holds (what an interrupted writer left).
    pub fn len(&self) -> Result<u64, Error> {
        self.file()
            .metadata()
            .map(|m| m.len())
            .map_err(|e| Error::io("read", &self.partial, e))
    }

    /// Whether the partial file is empty.
    pub fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.len()? == 0)
    }

    /// Cuts the partial file to `bytes` (0: start over).
    pub fn truncate(&self, bytes: u64) -> Result<(), Error> {
        self.file()
            .set_len(bytes)
            .map_err(|e| Error::io("write", &self.partial, e))
    }

    /// Keep the partial file when dropped without a commit (a resumable
    /// download or export), or remove it (the default).
    pub fn keep_on_drop(&mut self, keep: bool) {
        self.keep = keep;
    }

    /// Syncs the partial file to disk and renames it over the target (then
    /// syncs the folder, where the system allows it).
    pub fn commit(mut self) -> Result<(), Error> {
        let file = self.file.take().expect("open until committed or dropped");
        let result = file
            .sync_all()
            .map_err(|e| Error::io("write", &self.partial, e))
            .and_then(|()| {
                // Renamed while still locked: nobody else starts writing it meanwhile.
                std::fs::rename(&self.partial, &self.target)
                    .map_err(|e| Error::io("rename the finished file to", &self.target, e))
            });
        drop(file);
        if result.is_err() {
            if !self.keep {
                let _ = std::fs::remove_file(&self.partial);
            }
            // Nothing left for Drop to do.
            self.keep = true;
            return result;
        }
        self.keep = true;
        #[cfg(unix)]
        if let Some(parent) = self.target.parent() {
            let folder = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            if let Ok(folder) = File::open(folder) {
                let _ = folder.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // An empty partial file holds nothing worth resuming.
        let empty = self
            .file
            .as_ref()
            .is_some_and(|f| f.metadata().is_ok_and(|m| m.len() == 0));
        if !self.keep || empty {
            // Removed while still locked (the lock goes with the file).
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

/// Writes `bytes` to `target` through an [`AtomicFile`]: `target` holds
/// either its old content or all of `bytes`, never a part.
pub fn write_atomically(target: &Path, bytes: &[u8], options: AtomicOptions) -> Result<(), Error> {
    let file = AtomicFile::open_with(target, options)?;
    file.truncate(0)?;
    file.file()
        .write_all(bytes)
        .map_err(|e| Error::io("write", file.partial(), e))?;
    file.commit()
}

/// Whether `path` is written with a final separator (`dir/`): it names a
/// folder, whether or not one exists.
pub(crate) fn ends_with_separator(path: &Path) -> bool {
    let text = path.as_os_str().to_string_lossy();
    text.ends_with('/') || (cfg!(windows) && text.ends_with('\\'))
}

/// Checks that `target` can name a file: it has a file name, is not a
/// folder, and its folder exists.
pub fn check_target(target: &Path) -> Result<(), Error> {
    let is_folder = |reason: &str| {
        Error::io(
            "write",
            target,
            std::io::Error::new(
                ErrorKind::IsADirectory,
                format!(
                    "{reason}; name a file, e.g. {}",
                    target.join("NAME").display()
                ),
            ),
        )
    };
    if ends_with_separator(target) {
        return Err(is_folder("it names a folder"));
    }
    if target.file_name().is_none() {
        return Err(is_folder("it names no file"));
    }
    match std::fs::metadata(target) {
        Ok(meta) if meta.is_dir() => return Err(is_folder("it is a folder")),
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("read", target, e)),
    }
    let parent = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match std::fs::metadata(parent) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(Error::io(
            "write",
            target,
            std::io::Error::new(
                ErrorKind::NotADirectory,
                format!("{} is not a folder", parent.display()),
            ),
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(Error::io(
            "write",
            target,
            std::io::Error::new(
                ErrorKind::NotFound,
                format!(
                    "the folder {} does not exist; create it first",
                    parent.display()
                ),
            ),
        )),
        Err(e) => Err(Error::io("read", parent, e)),
    }
}

/// Locks a folder for as long as the returned file is open (Unix; `None`
/// elsewhere, where folders cannot be opened as files): a second
/// process asking gets [`Error::Io`] at once.
pub fn lock_folder(folder: &Path) -> Result<Option<File>, Error> {
    #[cfg(unix)]
    {
        let file = File::open(folder).map_err(|e| Error::io("open", folder, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::io(
                "write",
                folder,
                std::io::Error::new(
                    ErrorKind::WouldBlock,
                    "another process is writing this folder (another sync?); wait for it to finish",
                ),
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", folder, e)),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = folder;
        Ok(None)
    }
}

/// Whether the open `file` is the one `path` names now.
fn same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_committed_file_replaces_the_target_and_nothing_else_is_left() {
        let dir = dir();
        let target = dir.path().join("a.csv");
        std::fs::write(&target, b"old").unwrap();
        let file = AtomicFile::open(&target).unwrap();
        file.file().write_all(b"new content").unwrap();
        assert_eq!(
            std::fs::read(&target).unwrap(),
            b"old",
            "not before the commit"
        );
        file.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new content");
        assert_eq!(names(dir.path()), ["a.csv"]);
    }

    #[test]
    fn a_dropped_file_leaves_the_target_and_no_partial_unless_kept() {
        let dir = dir();
        let target = dir.path().join("a.csv");
        std::fs::write(&target, b"old").unwrap();
        let file = AtomicFile::open(&target).unwrap();
        file.file().write_all(b"half").unwrap();
        drop(file);
        assert_eq!(names(dir.path()), ["a.csv"]);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");

        let mut file = AtomicFile::open(&target).unwrap();
        file.file().write_all(b"half").unwrap();
        file.keep_on_drop(true);
        drop(file);
        let again = AtomicFile::open(&target).unwrap();
        assert_eq!(
            again.len().unwrap(),
            4,
            "a kept partial file is found again"
        );
    }

    #[test]
    fn a_second_writer_of_the_same_target_is_refused() {
        let dir = dir();
        let target = dir.path().join("a.csv");
        let first = AtomicFile::open(&target).unwrap();
        let second = AtomicFile::open(&target).unwrap_err();
        assert!(matches!(second, Error::Io { .. }), "{second:?}");
        assert!(second.to_string().contains("another process"), "{second}");
        drop(first);
        AtomicFile::open(&target).unwrap().commit().unwrap();
    }

    #[test]
    fn folders_and_missing_folders_are_refused_before_anything_is_written() {
        let dir = dir();
        for target in [
            dir.path().to_path_buf(),
            PathBuf::from(format!("{}/", dir.path().join("sub").display())),
            dir.path().join("missing").join("a.csv"),
        ] {
            let error = AtomicFile::open(&target).unwrap_err();
            assert!(matches!(error, Error::Io { .. }), "{target:?}: {error:?}");
        }
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    }

    #[cfg(unix)]
    #[test]
    fn a_private_file_is_owner_only_from_the_start() {
        use std::os::unix::fs::PermissionsExt;
        let dir = dir();
        let target = dir.path().join("config.toml");
        std::fs::write(&target, b"x").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        let file = AtomicFile::open_with(&target, AtomicOptions::default().private(true)).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(file.partial()), 0o600);
        file.commit().unwrap();
        assert_eq!(mode(&target), 0o600);
    }
}
