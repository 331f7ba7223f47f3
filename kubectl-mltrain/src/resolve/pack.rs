//! `--from-file`: local files and directories packed into the ConfigMap created with the job, each
//! under a key ConfigMaps accept, refused when not UTF-8 text or too large for one ConfigMap.

use std::path::Path;

use mltrain_shared::model::PackedFile;

use crate::error::UsageError;

/// The largest ConfigMap the API server stores (1 MiB), less room for metadata.
pub const MAX_PACKED_BYTES: usize = 1_000_000;

/// Pack a file, or a directory's files, into ConfigMap entries.
pub fn pack(path: &Path, out: &mut Vec<PackedFile>) -> Result<(), UsageError> {
    let err = |m: String| UsageError {
        flag: "--from-file",
        value: path.display().to_string(),
        message: m,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read it: {e}")))?;
    let mut files = Vec::new();
    if meta.is_dir() {
        walk(path, path, &mut files).map_err(|e| err(format!("cannot read the directory: {e}")))?;
        files.sort();
    } else {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        files.push((path.to_path_buf(), name));
    }
    for (file, rel) in files {
        let bytes = std::fs::read(&file)
            .map_err(|e| err(format!("cannot read {}: {e}", file.display())))?;
        let content = String::from_utf8(bytes).map_err(|_| {
            err(format!(
                "{} is not UTF-8 text; ship binary files with --git-repo or a --volume",
                file.display()
            ))
        })?;
        let key: String = rel
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-._".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if out.iter().any(|f| f.key == key) {
            return Err(err(format!(
                "two files map to the ConfigMap key {key:?}; rename one"
            )));
        }
        out.push(PackedFile {
            key,
            path: rel,
            content,
        });
    }
    Ok(())
}

fn walk(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(std::path::PathBuf, String)>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        if p.is_dir() {
            walk(root, &p, out)?;
        } else {
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((p, rel));
        }
    }
    Ok(())
}

/// Everything packed must fit in the one ConfigMap.
pub fn check_size(files: &[PackedFile]) -> Result<(), UsageError> {
    let total: usize = files.iter().map(|f| f.content.len()).sum();
    if total > MAX_PACKED_BYTES {
        return Err(UsageError {
            flag: "--from-file",
            value: format!("{total} bytes"),
            message: "more than a ConfigMap holds (1 MiB); ship large files with --git-repo or a --volume".into(),
        });
    }
    Ok(())
}
