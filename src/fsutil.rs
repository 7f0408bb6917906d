//! Reading inputs with clear errors, and writing outputs atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Read a file that must be UTF-8 text, with one-line errors a user can act on.
pub fn read_text_file(path: &Path) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {}", io_reason(&e)))?;
    if meta.is_dir() {
        return Err(format!("cannot read {shown}: is a directory"));
    }
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read {shown}: {}", io_reason(&e)))?;
    check_text(&bytes).map_err(|why| format!("cannot read {shown}: {why}"))?;
    Ok(bytes)
}

/// Text files are UTF-8 without NUL bytes; anything else is not a policy file.
pub fn check_text(bytes: &[u8]) -> Result<(), String> {
    if let Some(i) = memchr::memchr(0, bytes) {
        let (line, col) = line_col(bytes, i);
        return Err(format!(
            "binary data (NUL byte at line {line}, column {col})"
        ));
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        let (line, col) = line_col(bytes, e.valid_up_to());
        return Err(format!(
            "not UTF-8 text (invalid byte at line {line}, column {col})"
        ));
    }
    Ok(())
}

fn line_col(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let col = offset
        - before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, col)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Replace `path` with `bytes` atomically: write a temporary file beside it, keep the
/// original's permissions, flush it to disk, then rename it over the original. A crash
/// leaves either the old or the new file, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut staged = Staged::new(path)?;
    staged.file().write_all(bytes)?;
    staged.commit()
}

/// A replacement for `path` being written beside it: [`Staged::commit`] renames it over
/// `path` (keeping the original's permissions, flushed to disk first); dropped without a
/// commit, it disappears and `path` is untouched. For output written as it is produced.
pub struct Staged {
    path: std::path::PathBuf,
    tmp: tempfile::NamedTempFile,
}

impl Staged {
    pub fn new(path: &Path) -> std::io::Result<Staged> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".tsacl-")
            .suffix(".tmp")
            .tempfile_in(dir)?;
        Ok(Staged {
            path: path.to_path_buf(),
            tmp,
        })
    }

    pub fn file(&mut self) -> &mut std::fs::File {
        self.tmp.as_file_mut()
    }

    pub fn commit(self) -> std::io::Result<()> {
        if let Ok(meta) = std::fs::metadata(&self.path) {
            self.tmp.as_file().set_permissions(meta.permissions())?;
        }
        self.tmp.as_file().sync_all()?;
        self.tmp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// `path` relative to the current directory when it lies inside it (how tsacl shows
/// paths), else as it is.
pub fn relative_to_cwd(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_keeps_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.hujson");
        std::fs::write(&path, "old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        }
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o640);
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn text_checks() {
        assert!(check_text(b"{}").is_ok());
        assert!(
            check_text(b"{\n\0}")
                .unwrap_err()
                .contains("line 2, column 1")
        );
        assert!(check_text(b"\xff").unwrap_err().contains("not UTF-8"));
    }
}
