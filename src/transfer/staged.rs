//! One file's place in `.fetch-assets/` across runs: its bytes
//! (`<stem>.part`) and its record (`<stem>.part.json`: the link it came from
//! without its query, the CDN's validators, the announced size, the first
//! Content-Type, and once complete its SHA-256). What the next run makes of
//! it (the verdict is `kept.rs`'s):
//!
//! - complete, and the bytes still match the record (size, hash) for the
//!   same source path (the host may differ): the file is reused, with no
//!   request at all;
//! - partial, for the same source path, with a validator to send as
//!   `If-Range`: resumed after the bytes it holds (the data file's length:
//!   what a run wrote is a prefix of one version, as `curl -C -` trusts);
//! - anything else (no record, another link, no validator, bytes past the
//!   size): started over from the first byte.
//!
//! The record is written (atomically) before any byte it speaks of, and a
//! file starting over is emptied before its new record is written, so a
//! record never describes bytes of another version, however a run ends.
//! Nothing here is removed when a run fails: that is the point.

use std::fs::File;
use std::io;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::kept::{self, Verdict};
use super::parts_plan::Span;
use super::validator::Validator;
use crate::content;
use crate::folder::{Folder, OpenError};
use crate::staging;

/// What a run records about a file it is receiving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Record {
    /// The link, without its query.
    pub source: String,
    /// The validators of the answer the bytes came from.
    #[serde(flatten)]
    pub validator: Validator,
    /// The file's whole size, when announced.
    pub size: Option<u64>,
    /// The first Content-Type the CDN gave.
    pub content_type: Option<String>,
    /// The SHA-256 of the whole file, once complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Whether the complete file passed its content check (a run with
    /// `--no-content-check` records `false`, and a later run checks).
    #[serde(default)]
    pub content_checked: bool,
    /// For a file fetched in parts: the ranges `[start, end)` synced to
    /// disk (the rest of the file may hold anything). Absent, the bytes are
    /// a prefix: the file's length (an older run's record reads so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Vec<[u64; 2]>>,
}

/// A file's staged bytes and record (where they are, and the record as
/// last written).
#[derive(Debug, Clone)]
pub(super) struct Staged {
    staging: Arc<Folder>,
    stem: String,
    record: Option<Record>,
}

/// What an earlier run left for the file, as this run can use it.
pub(super) enum Found {
    /// Complete and unchanged: use it as it is.
    Complete { size: u64, record: Record },
    /// A prefix of one version: ask for the rest.
    Partial {
        received: u64,
        record: Record,
        /// The file's first bytes (for the content check).
        head: Vec<u8>,
        /// The hash of the bytes it holds, to go on from.
        hashed: Sha256,
        /// For a file fetched in parts, what the record lists (`received`
        /// is then the part of it from the first byte without a gap).
        ranges: Option<Vec<Span>>,
        /// The data file's length.
        len: u64,
    },
    /// Nothing usable: start from the first byte.
    Nothing,
}

impl Staged {
    /// Opens (or makes) the file's place in `staging` and says what an
    /// earlier run left there for `source` (the link without its query);
    /// with `fresh`, nothing is reused. Blocking: call from a blocking thread.
    pub(super) fn open(
        staging: Arc<Folder>,
        stem: &str,
        source: &str,
        fresh: bool,
    ) -> io::Result<(Staged, File, Found)> {
        let mut staged = Staged {
            staging,
            stem: stem.to_owned(),
            record: None,
        };
        let file = staged.open_data()?;
        let record = staged.read_record();
        let len = file.metadata()?.len();
        let found = match (kept::judge(record.as_ref(), len, source, fresh), record) {
            (Verdict::Reuse, Some(record)) => {
                let hash = crate::verify::sha256_of(&file)?;
                if record.sha256.as_deref() == Some(hash.as_str()) {
                    Found::Complete { size: len, record }
                } else {
                    Found::Nothing
                }
            }
            (Verdict::Resume, Some(record)) => match listed(&record, len) {
                Some(ranges) => {
                    let received = ranges.as_ref().map_or(len, |r| super::parts::prefix(r));
                    let mut head = vec![0; content::HEAD_LEN.min(received as usize)];
                    crate::folder::read_exact_at(&file, &mut head, 0)?;
                    Found::Partial {
                        received,
                        record,
                        head,
                        hashed: hash_of(&file, received)?,
                        ranges,
                        len,
                    }
                }
                None => Found::Nothing,
            },
            _ => Found::Nothing,
        };
        if let Found::Complete { record, .. } | Found::Partial { record, .. } = &found {
            staged.record = Some(record.clone());
        } else {
            file.set_len(0)?;
            staged.forget_record()?;
        }
        Ok((staged, file, found))
    }

    /// The record, as the file's bytes now stand.
    pub(super) fn record(&self) -> Option<&Record> {
        self.record.as_ref()
    }

    /// Writes `record` (atomically, and durably: the folder is synced),
    /// unless it is the one on disk.
    pub(super) fn keep_record(&mut self, record: Record) -> io::Result<()> {
        if self.record.as_ref() == Some(&record) {
            return Ok(());
        }
        let text = serde_json::to_vec(&record).map_err(io::Error::other)?;
        self.staging.write_atomically(&self.record_name(), &text)?;
        self.staging.sync()?;
        self.record = Some(record);
        Ok(())
    }

    /// Removes the record: the bytes are no longer worth keeping (or are
    /// about to be forgotten).
    fn forget_record(&mut self) -> io::Result<()> {
        self.record = None;
        self.staging.remove(&self.record_name())
    }

    /// Opens the bytes again for reading (to check what was written).
    pub(super) fn reopen(&self) -> io::Result<File> {
        self.staging
            .open_regular(&self.data_name())
            .map_err(|e| match e {
                OpenError::Io(e) => e,
                _ => io::Error::other("the staged file is no longer a regular file"),
            })
    }

    /// Opens the bytes again for writing at offsets (parts at once).
    /// Blocking, but brief.
    pub(super) fn reopen_for_writing(&self) -> io::Result<File> {
        self.open_data()
    }

    /// Moves the bytes to `name` in `folder` (the output folder, on the
    /// same file system), replacing what stood there.
    pub(super) fn put_in_place(&self, folder: &Folder, name: &str) -> io::Result<()> {
        self.staging.move_to(&self.data_name(), folder, name)
    }

    fn data_name(&self) -> String {
        staging::data_name(&self.stem)
    }

    fn record_name(&self) -> String {
        staging::record_name(&self.stem)
    }

    fn open_data(&self) -> io::Result<File> {
        self.staging
            .open_or_create_regular(&self.data_name())
            .map_err(|e| match e {
                OpenError::Io(e) => e,
                _ => io::Error::other(format!(
                    "{} is not a regular file",
                    self.staging.shown(&self.data_name()).display()
                )),
            })
    }

    /// The record on disk, if it reads as one (a damaged one is none).
    fn read_record(&self) -> Option<Record> {
        let file = self.staging.open_regular(&self.record_name()).ok()?;
        let mut text = Vec::new();
        io::Read::read_to_end(&mut io::Read::take(file, 64 << 10), &mut text).ok()?;
        serde_json::from_slice(&text).ok()
    }
}

/// The ranges a record lists, checked against the data file's `len`:
/// `Some(None)` for a prefix record, `None` for ranges the file cannot
/// hold (not sorted and apart, or past its end: start over).
fn listed(record: &Record, len: u64) -> Option<Option<Vec<Span>>> {
    let Some(ranges) = &record.ranges else {
        return Some(None);
    };
    let spans: Vec<Span> = ranges
        .iter()
        .map(|&[start, end]| Span { start, end })
        .collect();
    let apart = spans.windows(2).all(|pair| pair[0].end < pair[1].start);
    let within = spans.iter().all(|s| s.start < s.end && s.end <= len);
    (apart && within).then_some(Some(spans))
}

/// The hash of the first `len` bytes of `file`, read by position (the
/// file's offset is not moved), to go on from.
fn hash_of(file: &File, len: u64) -> io::Result<Sha256> {
    const PIECE: usize = 256 << 10;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; PIECE];
    let mut at = 0u64;
    while at < len {
        let want = usize::try_from(len - at).map_or(PIECE, |left| left.min(PIECE));
        crate::folder::read_exact_at(file, &mut buffer[..want], at)?;
        hasher.update(&buffer[..want]);
        at += want as u64;
    }
    Ok(hasher)
}

/// Removes what `staging` holds for the file `stem`, bytes and record.
/// Blocking.
pub(super) fn discard(staging: &Folder, stem: &str) -> io::Result<()> {
    staging.remove(&staging::record_name(stem))?;
    staging.remove(&staging::data_name(stem))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "https://cdn.example/t/model.glb";

    fn staging() -> (tempfile::TempDir, Arc<Folder>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = Arc::new(Folder::open(dir.path()).expect("open"));
        (dir, folder)
    }

    fn record(size: u64, sha256: Option<String>) -> Record {
        Record {
            source: SOURCE.into(),
            validator: Validator {
                etag: Some("\"v1\"".into()),
                last_modified: None,
            },
            size: Some(size),
            content_type: Some("model/gltf-binary".into()),
            sha256,
            content_checked: true,
            ranges: None,
        }
    }

    fn stage(folder: &Arc<Folder>, bytes: &[u8], record: Record) {
        let (mut staged, file, _) =
            Staged::open(folder.clone(), "model", SOURCE, true).expect("open");
        crate::folder::write_all_at(&file, bytes, 0).expect("write");
        staged.keep_record(record).expect("record");
    }

    fn found(folder: &Arc<Folder>, source: &str, fresh: bool) -> (Found, u64) {
        let (_, file, found) = Staged::open(folder.clone(), "model", source, fresh).expect("open");
        (found, file.metadata().expect("meta").len())
    }

    #[test]
    fn a_complete_file_is_reused_only_while_it_matches_its_record() {
        let (dir, folder) = staging();
        let sha = |b: &[u8]| {
            use sha2::Digest;
            format!("{:x}", sha2::Sha256::digest(b))
        };
        stage(&folder, b"glTF whole", record(10, Some(sha(b"glTF whole"))));
        assert!(matches!(
            found(&folder, SOURCE, false).0,
            Found::Complete { size: 10, .. }
        ));
        assert!(
            matches!(found(&folder, SOURCE, true), (Found::Nothing, 0)),
            "fresh: emptied"
        );

        stage(&folder, b"glTF whole", record(10, Some(sha(b"glTF whole"))));
        std::fs::write(dir.path().join("model.part"), b"glTF WHOLE").expect("change");
        assert!(
            matches!(found(&folder, SOURCE, false), (Found::Nothing, 0)),
            "changed bytes"
        );

        stage(&folder, b"glTF whole", record(10, Some(sha(b"glTF whole"))));
        let other = "https://cdn.example/other/model.glb";
        let (found_elsewhere, _) = found(&folder, "https://cdn2.example/t/model.glb", false);
        assert!(
            matches!(found_elsewhere, Found::Complete { .. }),
            "another host, the same path"
        );
        assert!(
            matches!(found(&folder, other, false), (Found::Nothing, 0)),
            "another link"
        );
        assert!(
            !dir.path().join("model.part.json").exists(),
            "its record forgotten"
        );
    }

    #[test]
    fn a_partial_file_resumes_only_with_a_validator_and_within_its_size() {
        let (_dir, folder) = staging();
        stage(&folder, b"glTF hal", record(16, None));
        match found(&folder, SOURCE, false).0 {
            Found::Partial {
                received,
                head,
                hashed,
                ..
            } => {
                assert_eq!(received, 8);
                assert_eq!(head, b"glTF hal");
                assert_eq!(hashed.finalize(), Sha256::digest(b"glTF hal"));
            }
            _ => panic!("not resumed"),
        }

        let mut weak = record(16, None);
        weak.validator.etag = Some("W/\"v1\"".into());
        stage(&folder, b"glTF hal", weak);
        assert!(
            matches!(found(&folder, SOURCE, false), (Found::Nothing, 0)),
            "weak ETag only"
        );

        stage(&folder, b"glTF half and more", record(16, None));
        assert!(
            matches!(found(&folder, SOURCE, false), (Found::Nothing, 0)),
            "past its size"
        );
    }
}
