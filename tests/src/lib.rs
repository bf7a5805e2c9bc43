//! Support code for the workspace tests in `tests/it/`.

use std::path::PathBuf;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    xtask::apis::workspace_root()
}
