//! A directory for one test's files under the system's temporary folder,
//! removed when the test ends, whether it passed or failed.

use std::path::{Path, PathBuf};

/// A test's directory; dropping it removes the directory and its files.
pub(crate) struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // A directory left behind only takes space in the temporary folder.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Creates an empty directory for test `test` of the test file `suite`.
/// The process id keeps two runs of the tests at once apart.
pub(crate) fn scratch(suite: &str, test: &str) -> Scratch {
    let dir =
        std::env::temp_dir().join(format!("fakestripe-{suite}-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    Scratch(dir)
}
