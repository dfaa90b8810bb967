//! Replacing a config file so that a reader (the node starting, a power
//! cut) sees the old file or the new one, never half of one.
//!
//! The new text goes to a temporary file beside the real one (created
//! readable by its owner only, since configs hold tokens), which gets the
//! old file's owner and mode, is fsynced and renamed over it; then the
//! folder is fsynced so the rename itself survives a power cut (POSIX
//! rename(2) is atomic within one file system; neither the data nor the
//! new name is durable before fsync). A symlinked config is replaced where
//! it points, and the link stays.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Why the file was not replaced. In every case it is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    /// The file cannot be found or looked at.
    #[error("cannot read `{}`: {source}", path.display())]
    Inspect {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// Writing the temporary file failed.
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        /// The temporary file (removed again).
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The new file cannot get the old one's owner (the service might not
    /// be able to read it).
    #[error(
        "cannot give `{}` the owner of `{}` (uid {uid}, gid {gid}): {source}; run as root or \
         as that user",
        temp.display(),
        path.display()
    )]
    Owner {
        /// The temporary file (removed again).
        temp: PathBuf,
        /// The file being replaced.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// Its group.
        gid: u32,
        /// What the system said.
        source: io::Error,
    },
    /// The rename failed.
    #[error("cannot replace `{}`: {source}", path.display())]
    Rename {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
}

/// Replaces the file at `path` (which must exist) with `text`, keeping its
/// owner and permissions.
///
/// # Errors
///
/// [`ReplaceError`]; the file is then unchanged and no temporary file is
/// left behind.
pub fn replace_file(path: &Path, text: &str) -> Result<(), ReplaceError> {
    let inspect = |source| ReplaceError::Inspect {
        path: path.to_owned(),
        source,
    };
    let real = fs::canonicalize(path).map_err(inspect)?;
    let metadata = fs::metadata(&real).map_err(inspect)?;
    let dir = real.parent().expect("a canonical file path has a parent");
    let name = real
        .file_name()
        .expect("a canonical file path has a name")
        .to_string_lossy();
    let temp = dir.join(format!(".{name}.import-{}", std::process::id()));
    if let Err(error) = write_temp(&temp, text, &metadata, &real) {
        let _ = fs::remove_file(&temp);
        return Err(error);
    }
    if let Err(source) = fs::rename(&temp, &real) {
        let _ = fs::remove_file(&temp);
        return Err(ReplaceError::Rename { path: real, source });
    }
    // The rename is done; a folder that cannot be fsynced (some network
    // file systems) still holds the new file.
    if let Ok(folder) = File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

fn write_temp(
    temp: &Path,
    text: &str,
    metadata: &fs::Metadata,
    real: &Path,
) -> Result<(), ReplaceError> {
    let write = |source| ReplaceError::Write {
        path: temp.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)
        .map_err(write)?;
    file.write_all(text.as_bytes()).map_err(write)?;
    let ours = file.metadata().map_err(write)?;
    if (ours.uid(), ours.gid()) != (metadata.uid(), metadata.gid()) {
        std::os::unix::fs::fchown(&file, Some(metadata.uid()), Some(metadata.gid())).map_err(
            |source| ReplaceError::Owner {
                temp: temp.to_owned(),
                path: real.to_owned(),
                uid: metadata.uid(),
                gid: metadata.gid(),
                source,
            },
        )?;
    }
    file.set_permissions(fs::Permissions::from_mode(metadata.permissions().mode()))
        .map_err(write)?;
    file.sync_all().map_err(write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_replaced_with_its_mode_and_nothing_is_left_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        replace_file(&path, "new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["config.json"]);
    }

    #[test]
    fn a_symlink_stays_and_its_target_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.json");
        let link = dir.path().join("config.json");
        fs::write(&target, "old").unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        replace_file(&link, "new").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
    }

    #[test]
    fn a_missing_file_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        assert!(matches!(
            replace_file(&path, "new"),
            Err(ReplaceError::Inspect { .. })
        ));
        assert!(fs::read_dir(dir.path()).unwrap().next().is_none());
    }
}
