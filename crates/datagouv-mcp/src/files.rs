//! The folder the user lets the tools read and write (`--allow-files`),
//! checked on the real paths, not on their text.
//!
//! A relative name without `..` can still leave the folder through a
//! symbolic link inside it (`link -> /home/me`). So the folder is taken as
//! its canonical path, every folder on the way to a file is resolved and
//! must lie inside it, and a file to write must not itself be a link: what
//! the tools touch is below the folder on disk, whatever the links say.
//! (Links that stay inside the folder are followed.)

use std::{
    io::ErrorKind,
    path::{Component, Path, PathBuf},
};

use datagouv::Error;

/// The allowed folder, as its canonical path.
#[derive(Debug, Clone)]
pub(crate) struct AllowedFolder {
    root: PathBuf,
}

impl AllowedFolder {
    /// `folder`, resolved (links, `..`) to its canonical path; an
    /// [`Error::Io`] when it cannot be.
    pub(crate) fn new(folder: &Path) -> Result<AllowedFolder, Error> {
        let root = folder
            .canonicalize()
            .map_err(|e| Error::io("open the allowed folder", folder, e))?;
        if !root.is_dir() {
            return Err(Error::io(
                "open the allowed folder",
                folder,
                std::io::Error::new(ErrorKind::NotADirectory, "not a folder"),
            ));
        }
        Ok(AllowedFolder { root })
    }

    /// The existing file `name` (relative to the folder) to read, as its
    /// real path; refused when it lies outside the folder once its links
    /// are resolved.
    pub(crate) fn file_to_read(&self, name: &str) -> Result<PathBuf, Error> {
        let path = self.root.join(relative(name)?);
        let real = path
            .canonicalize()
            .map_err(|e| Error::io("read", &path, e))?;
        if !real.starts_with(&self.root) {
            return Err(outside(name, &real));
        }
        Ok(real)
    }

    /// The file `name` (relative to the folder) to write: its folders are
    /// created inside the allowed folder (a link on the way must resolve
    /// inside it), and the file itself must not be a link. Returns the
    /// path with its folder resolved.
    pub(crate) fn file_to_write(&self, name: &str) -> Result<PathBuf, Error> {
        let relative = relative(name)?;
        let mut parts: Vec<&std::ffi::OsStr> = relative
            .components()
            .filter_map(|c| match c {
                Component::Normal(part) => Some(part),
                _ => None,
            })
            .collect();
        let Some(file) = parts.pop() else {
            return Err(not_relative(name));
        };
        let mut folder = self.root.clone();
        for part in parts {
            let next = folder.join(part);
            match std::fs::symlink_metadata(&next) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let real = next
                        .canonicalize()
                        .map_err(|e| Error::io("open the folder", &next, e))?;
                    if !real.starts_with(&self.root) {
                        return Err(outside(name, &real));
                    }
                    folder = real;
                }
                Ok(meta) if meta.is_dir() => folder = next,
                Ok(_) => {
                    return Err(Error::io(
                        "create the folder",
                        &next,
                        std::io::Error::new(ErrorKind::NotADirectory, "a file has this name"),
                    ));
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    std::fs::create_dir(&next)
                        .map_err(|e| Error::io("create the folder", &next, e))?;
                    folder = next;
                }
                Err(e) => return Err(Error::io("open the folder", &next, e)),
            }
            if !folder.is_dir() {
                return Err(Error::io(
                    "create the folder",
                    &folder,
                    std::io::Error::new(ErrorKind::NotADirectory, "not a folder"),
                ));
            }
        }
        let path = folder.join(file);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => Err(Error::InvalidInput(format!(
                "`{name}` is a symbolic link: the tools write only plain files below the allowed \
                 folder {}; give another name",
                self.root.display()
            ))),
            Ok(meta) if meta.is_dir() => Err(Error::io(
                "write",
                &path,
                std::io::Error::new(ErrorKind::IsADirectory, "a folder has this name"),
            )),
            _ => Ok(path),
        }
    }
}

/// `name` as a relative path of plain names (`.` allowed), or refused.
fn relative(name: &str) -> Result<&Path, Error> {
    let path = Path::new(name);
    let plain = path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if name.is_empty() || !plain {
        return Err(not_relative(name));
    }
    Ok(path)
}

fn not_relative(name: &str) -> Error {
    Error::InvalidInput(format!(
        "`{name}` must be a relative path of a file inside the allowed folder (no `..`, no root)"
    ))
}

fn outside(name: &str, real: &Path) -> Error {
    Error::InvalidInput(format!(
        "`{name}` leads through a symbolic link to {}, outside the allowed folder: \
         give a path whose folders are inside it",
        real.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system's temporary folder.
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("datagouv-mcp-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[cfg(unix)]
    #[test]
    fn links_out_of_the_folder_are_refused_and_links_inside_are_followed() {
        use std::os::unix::fs::symlink;
        let base = scratch("links");
        let allowed = base.join("allowed");
        let outside = base.join("outside");
        std::fs::create_dir_all(allowed.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.csv"), "x").unwrap();
        std::fs::write(allowed.join("mine.csv"), "y").unwrap();
        symlink(&outside, allowed.join("link")).unwrap();
        symlink(outside.join("secret.csv"), allowed.join("file-link.csv")).unwrap();
        symlink(allowed.join("sub"), allowed.join("inner")).unwrap();
        // The folder itself may be named through a link.
        symlink(&allowed, base.join("allowed-link")).unwrap();
        let folder = AllowedFolder::new(&base.join("allowed-link")).unwrap();

        for name in ["link/new.csv", "link/deeper/new.csv", "file-link.csv"] {
            let error = folder.file_to_write(name).unwrap_err().to_string();
            assert!(error.contains("allowed folder"), "{name}: {error}");
        }
        for name in ["link/secret.csv", "file-link.csv"] {
            let error = folder.file_to_read(name).unwrap_err().to_string();
            assert!(
                error.contains("outside the allowed folder"),
                "{name}: {error}"
            );
        }
        for name in ["../x.csv", "/etc/passwd", "", "a/../../x"] {
            assert!(folder.file_to_write(name).is_err(), "{name}");
            assert!(folder.file_to_read(name).is_err(), "{name}");
        }
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            1,
            "nothing created outside"
        );

        let real = allowed.canonicalize().unwrap();
        assert_eq!(
            folder.file_to_write("inner/ok.csv").unwrap(),
            real.join("sub/ok.csv")
        );
        assert_eq!(
            folder.file_to_write("new/folder/ok.csv").unwrap(),
            real.join("new/folder/ok.csv")
        );
        assert!(real.join("new/folder").is_dir());
        assert_eq!(
            folder.file_to_read("mine.csv").unwrap(),
            real.join("mine.csv")
        );
        assert!(matches!(folder.file_to_write("sub"), Err(Error::Io { .. })));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
