//! The files of a scan, read from a tar archive (gzip-compressed or not):
//! regular files only, text only (a NUL in the first 8 KiB marks a binary
//! file, skipped), each at most `MAX_FILE` bytes, at most `MAX_FILES`.

use std::io::Read;

const MAX_FILE: u64 = 4 << 20;
const MAX_FILES: usize = 200_000;
const BINARY_PROBE: usize = 8 << 10;

/// What an archive held: its text files, and how many were skipped.
#[derive(Default)]
pub struct Files {
    pub texts: Vec<(String, String)>,
    pub skipped: usize,
}

/// Reads `bytes` as a tar (or tar.gz) archive. The error says what is
/// wrong with it, never what it holds.
pub fn read(bytes: &[u8]) -> Result<Files, String> {
    let reader: Box<dyn Read + '_> = match bytes {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::GzDecoder::new(bytes)),
        _ => Box::new(bytes),
    };
    let mut archive = tar::Archive::new(reader);
    let mut files = Files::default();
    let entries = archive
        .entries()
        .map_err(|e| format!("archive: not a tar archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("archive: unreadable entry: {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        if files.texts.len().saturating_add(files.skipped) >= MAX_FILES {
            return Err(format!("archive: more than {MAX_FILES} files"));
        }
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if entry.size() > MAX_FILE {
            files.skipped = files.skipped.saturating_add(1);
            continue;
        }
        let mut content = Vec::new();
        entry
            .read_to_end(&mut content)
            .map_err(|e| format!("archive: unreadable file {path:?}: {e}"))?;
        let probe = content
            .get(..BINARY_PROBE.min(content.len()))
            .unwrap_or_default();
        if probe.contains(&0) {
            files.skipped = files.skipped.saturating_add(1);
            continue;
        }
        files
            .texts
            .push((path, String::from_utf8_lossy(&content).into_owned()));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, content) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, path, *content)
                .expect("append");
        }
        builder.into_inner().expect("tar")
    }

    #[test]
    fn reads_text_files_and_skips_binaries() {
        let bytes = tar_of(&[("a.env", b"x=1\n"), ("b.bin", b"\0\x01\x02")]);
        let files = read(&bytes).expect("archive");
        assert_eq!(files.texts.len(), 1);
        assert_eq!(files.skipped, 1);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &bytes).expect("gzip");
        let files = read(&gz.finish().expect("gzip")).expect("gzipped archive");
        assert_eq!(files.texts.first().map(|(p, _)| p.as_str()), Some("a.env"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(read(&[0x1f, 0x8b, 0, 1, 2]).is_err());
        let garbage = vec![7u8; 1024];
        assert!(read(&garbage).is_err() || read(&garbage).is_ok_and(|f| f.texts.is_empty()));
    }
}
