//! Files the CLI reads and writes inside a directory it is given (`mint
//! --suite DIR`, `probe --suite DIR`), where a planted link or a FIFO is
//! an attack: a case file linked to a private key would be posted to the
//! target, a linked `manifest.json` would overwrite what it points at, and
//! a FIFO would block `probe` forever.
//!
//! - Reading: regular files only, opened without following a symbolic
//!   link (`O_NOFOLLOW`) and without blocking (`O_NONBLOCK`), checked on
//!   the opened descriptor, and read no further than a bound.
//! - Writing: into a new or empty directory only, each file created fresh
//!   (`O_CREAT|O_EXCL|O_NOFOLLOW`): never through a link, never over a file.
//!
//! Messages are plain words (`no such file`), never Rust's error kinds.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// An I/O error in plain words.
pub fn plain(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ELOOP) => return "is a symbolic link (refused: links are not followed here)",
        Some(libc::ENOTDIR) => return "a part of the path is not a directory",
        Some(libc::EISDIR) => return "is a directory",
        _ => {}
    }
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory",
        io::ErrorKind::PermissionDenied => "permission denied",
        io::ErrorKind::AlreadyExists => "already exists",
        io::ErrorKind::WouldBlock => "not ready (a FIFO or device?)",
        io::ErrorKind::InvalidData => "is not UTF-8 text",
        _ => "cannot be read or written",
    }
}

/// Whether the last component of a path may be a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Key files: a mounted secret is often a link (Kubernetes' `..data`).
    Follow,
    /// Files inside a directory we were given: a planted link is refused.
    Refuse,
}

/// Why a bounded read failed; each caller words it for its own flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    Io(&'static str),
    NotRegular,
    /// Larger than the bound: the size if the file said it.
    TooLarge(Option<u64>),
}

/// Reads a regular file of at most `max` bytes: opened without blocking
/// (a FIFO cannot hang us), checked on the opened descriptor (what is
/// checked is what is read), and read no further than the bound.
pub fn read_bounded(path: &Path, max: u64, links: Links) -> Result<String, ReadError> {
    let mut flags = libc::O_NONBLOCK;
    if links == Links::Refuse {
        flags |= libc::O_NOFOLLOW;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| ReadError::Io(plain(&e)))?;
    let meta = file.metadata().map_err(|e| ReadError::Io(plain(&e)))?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    if meta.len() > max {
        return Err(ReadError::TooLarge(Some(meta.len())));
    }
    let mut text = String::new();
    file.take(max + 1)
        .read_to_string(&mut text)
        .map_err(|e| ReadError::Io(plain(&e)))?;
    if text.len() as u64 > max {
        return Err(ReadError::TooLarge(None));
    }
    Ok(text)
}

/// Reads `path`: a regular file, not a link, of at most `max` bytes.
pub fn read_regular(path: &Path, max: u64) -> Result<String, String> {
    read_bounded(path, max, Links::Refuse).map_err(|e| {
        let what = match e {
            ReadError::Io(w) => w.to_owned(),
            ReadError::NotRegular => "not a regular file".to_owned(),
            ReadError::TooLarge(_) => format!("larger than {max} bytes"),
        };
        format!("{}: {what}", path.display())
    })
}

/// Makes `dir` ready to be written into: created if it does not exist; if
/// it does, it must be an empty directory and not a link.
pub fn fresh_dir(dir: &Path) -> Result<(), String> {
    let fail = |what: &str| format!("{}: {what}", dir.display());
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| fail(plain(&e)))
        }
        Err(e) => Err(fail(plain(&e))),
        Ok(m) if m.file_type().is_symlink() => Err(fail(
            "is a symbolic link; give a new or empty directory itself",
        )),
        Ok(m) if !m.is_dir() => Err(fail(
            "exists and is not a directory; give a new or empty directory",
        )),
        Ok(_) => {
            let mut entries = std::fs::read_dir(dir).map_err(|e| fail(plain(&e)))?;
            if entries.next().is_some() {
                return Err(fail("is not empty; give a new or empty directory"));
            }
            Ok(())
        }
    }
}

/// Creates `path` afresh and writes `bytes`: never through a link, never
/// over an existing file.
pub fn create_fresh(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let fail = |what: &str| format!("{}: {what}", path.display());
    let mut f: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o644)
        .open(path)
        .map_err(|e| fail(plain(&e)))?;
    f.write_all(bytes).map_err(|e| fail(plain(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("comm-test-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn reading_refuses_links_fifos_and_large_files() {
        let d = tmp("read");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("ok"), "token").unwrap();
        assert_eq!(read_regular(&d.join("ok"), 10).unwrap(), "token");
        assert!(read_regular(&d.join("ok"), 3)
            .unwrap_err()
            .ends_with("larger than 3 bytes"));
        symlink(d.join("ok"), d.join("link")).unwrap();
        assert!(read_regular(&d.join("link"), 10)
            .unwrap_err()
            .contains("symbolic link"));
        let fifo = d.join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        assert!(read_regular(&fifo, 10)
            .unwrap_err()
            .ends_with("not a regular file"));
        assert!(read_regular(&d.join("none"), 10)
            .unwrap_err()
            .ends_with("no such file or directory"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn writing_is_fresh_files_in_a_new_or_empty_directory() {
        let d = tmp("write");
        fresh_dir(&d).unwrap();
        create_fresh(&d.join("a"), b"1").unwrap();
        assert!(create_fresh(&d.join("a"), b"2")
            .unwrap_err()
            .ends_with("already exists"));
        assert!(fresh_dir(&d)
            .unwrap_err()
            .ends_with("is not empty; give a new or empty directory"));
        let target = d.join("target");
        symlink(&target, d.join("dangling")).unwrap();
        assert!(create_fresh(&d.join("dangling"), b"x").is_err());
        assert!(!target.exists(), "a dangling link's target is not created");
        let linked = tmp("write-link");
        symlink(&d, &linked).unwrap();
        assert!(fresh_dir(&linked).unwrap_err().contains("symbolic link"));
        std::fs::remove_file(&linked).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }
}
