//! `manifest.json` and `SHA256SUMS`: the record of a complete folder, how
//! they are written (atomically, last), read, and checked against the files.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ManifestProblem, Result};
use crate::folder::{Folder, OpenError};
use crate::output_role::{OutputRole, WrittenRole};

/// The manifest's file name in the output folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The checksum list's file name, for `sha256sum -c`.
pub const SUMS_FILE: &str = "SHA256SUMS";
/// The manifest format this version writes.
pub const SCHEMA_VERSION: u32 = 1;
/// The largest `manifest.json` read, and written: ours are a few kilobytes,
/// but a task may have thousands of outputs, or field names of any length
/// (its answer is read up to 4 MiB, and escaping can make that six times
/// longer), so the bound is far above any real one. A larger file (or
/// `/dev/zero` behind a symlink) is not ours, and is not read whole; a
/// manifest that would be larger is never written, so whatever a run
/// writes, a re-run and `verify` read back.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// What a complete folder holds (DESIGN.md, "Files").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The manifest format: 1.
    pub schema_version: u32,
    /// The task the files came from.
    pub task_id: String,
    /// The task's type, when the API gave it.
    pub task_type: Option<String>,
    /// When the task was created, unix seconds.
    pub create_time: Option<i64>,
    /// When the files were fetched, RFC 3339 UTC.
    pub fetched_at: String,
    /// The program that wrote the manifest, with its version.
    pub generator: String,
    /// The files, in the contract's order.
    pub files: Vec<FileEntry>,
}

/// One file of the folder.
///
/// Its role and aliases are typed ([`OutputRole`]) but written as the
/// contract's strings, byte for byte as every earlier version wrote them:
/// `role` (with `view` and `index` for a multiview image, `field` for an
/// open-ended output) holds the role's name, `aliases` hold file stems
/// (`pbr_model`, `multiview_1_left`, `image_0`). A role or alias this
/// version does not know reads as [`OutputRole::Open`] (or
/// [`OutputRole::Unknown`]) and is written back unchanged, so a manifest
/// from a later version still reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "WireEntry", into = "WireEntry")]
pub struct FileEntry {
    /// The output role: [`OutputRole::Model`], …, a multiview view, or an
    /// open-ended output by its name and the JSON path in the task's
    /// `output` its link came from ([`OutputRole::field`]: `thumbnail_url`,
    /// `model_urls[1]`).
    pub role: OutputRole,
    /// The file's name in the folder.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
    /// Its media type.
    pub media_type: String,
    /// The link it came from, without its query (a signed link is a secret).
    pub source: String,
    /// Other roles whose link was the same file (written as their file stems).
    pub aliases: Vec<OutputRole>,
}

impl FileEntry {
    /// The roles this file stands for: its role, then its aliases.
    pub fn roles(&self) -> impl Iterator<Item = &OutputRole> {
        std::iter::once(&self.role).chain(&self.aliases)
    }
}

/// A [`FileEntry`] as the manifest spells it (DESIGN.md, "Files"): the
/// field order and the fields left out are the contract's bytes.
#[derive(Serialize, Deserialize)]
struct WireEntry {
    role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    view: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    path: String,
    size: u64,
    sha256: String,
    media_type: String,
    source: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    aliases: Vec<String>,
}

impl From<WireEntry> for FileEntry {
    fn from(wire: WireEntry) -> FileEntry {
        FileEntry {
            role: OutputRole::from_written(WrittenRole {
                role: wire.role,
                view: wire.view,
                index: wire.index,
                field: wire.field,
            }),
            path: wire.path,
            size: wire.size,
            sha256: wire.sha256,
            media_type: wire.media_type,
            source: wire.source,
            aliases: wire
                .aliases
                .iter()
                .map(|a| OutputRole::from_stem(a))
                .collect(),
        }
    }
}

impl From<FileEntry> for WireEntry {
    fn from(entry: FileEntry) -> WireEntry {
        let WrittenRole {
            role,
            view,
            index,
            field,
        } = entry.role.written();
        WireEntry {
            role,
            view,
            index,
            field,
            path: entry.path,
            size: entry.size,
            sha256: entry.sha256,
            media_type: entry.media_type,
            source: entry.source,
            aliases: entry.aliases.iter().map(OutputRole::stem).collect(),
        }
    }
}

impl Manifest {
    /// Reads `manifest.json` from a folder.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let folder = Folder::open(dir).map_err(|e| Error::io("open the folder", dir, e))?;
        Manifest::read_in(&folder)
    }

    /// Reads `manifest.json` from an open folder: only a regular file (no
    /// symlink followed, no FIFO waited on), and at most 64 MiB of it.
    pub(crate) fn read_in(folder: &Folder) -> Result<Manifest> {
        Manifest::read_file(folder, MANIFEST_FILE)
    }

    /// Reads a manifest kept under another name (a commit's `commit.json`),
    /// with the same care as [`Manifest::read_in`].
    pub(crate) fn read_file(folder: &Folder, name: &str) -> Result<Manifest> {
        let path = folder.shown(name);
        let invalid = |source: ManifestProblem| Error::ManifestInvalid {
            path: path.clone(),
            source,
        };
        let file = match folder.open_regular(name) {
            Ok(file) => file,
            Err(OpenError::Missing) => {
                return Err(Error::io(
                    "read",
                    &path,
                    std::io::ErrorKind::NotFound.into(),
                ));
            }
            Err(OpenError::NotRegular | OpenError::UnsafeName) => {
                return Err(invalid(ManifestProblem::NotRegular));
            }
            Err(OpenError::Io(e)) => return Err(Error::io("read", &path, e)),
        };
        let mut text = Vec::new();
        file.take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(|e| Error::io("read", &path, e))?;
        if text.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(invalid(ManifestProblem::TooLarge {
                limit: MAX_MANIFEST_BYTES,
            }));
        }
        let manifest: Manifest =
            serde_json::from_slice(&text).map_err(|e| invalid(ManifestProblem::NotAManifest(e)))?;
        if manifest.schema_version != SCHEMA_VERSION {
            return Err(invalid(ManifestProblem::UnknownSchema(
                manifest.schema_version,
            )));
        }
        Ok(manifest)
    }

    /// The manifest as its JSON document (what `--json` prints).
    pub fn to_json(&self) -> Result<String> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Internal(format!("the manifest does not serialise: {e}")))?;
        text.push('\n');
        Ok(text)
    }

    /// The `SHA256SUMS` text: `<hex>  <path>` lines, in the manifest's order.
    pub fn sums(&self) -> String {
        self.files
            .iter()
            .map(|f| format!("{}  {}\n", f.sha256, f.path))
            .collect()
    }

    /// Writes `SHA256SUMS`, then `manifest.json`, each atomically, then
    /// makes the renames durable (the commit does the same, in its steps).
    #[cfg(test)]
    pub(crate) fn write(&self, folder: &Arc<Folder>) -> Result<()> {
        self.write_sums(folder)?;
        self.write_manifest(folder)?;
        folder
            .sync()
            .map_err(|e| Error::io("make the new files durable in", folder.path(), e))
    }

    /// Writes `SHA256SUMS` atomically (the caller syncs the folder).
    pub(crate) fn write_sums(&self, folder: &Arc<Folder>) -> Result<()> {
        write_atomically(folder, SUMS_FILE, self.sums().as_bytes())
    }

    /// Writes `manifest.json` atomically (the caller syncs the folder).
    pub(crate) fn write_manifest(&self, folder: &Arc<Folder>) -> Result<()> {
        write_atomically(folder, MANIFEST_FILE, self.to_written_json()?.as_bytes())
    }

    /// [`Manifest::to_json`], for a file: refused when larger than a
    /// manifest may be read back (no task comes near it).
    pub(crate) fn to_written_json(&self) -> Result<String> {
        let text = self.to_json()?;
        if text.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(Error::Internal(format!(
                "the manifest would be larger than {} MiB, more than it may be read back",
                MAX_MANIFEST_BYTES >> 20
            )));
        }
        Ok(text)
    }
}

fn write_atomically(folder: &Arc<Folder>, name: &str, content: &[u8]) -> Result<()> {
    folder
        .write_atomically(name, content)
        .map_err(|e| Error::io("write", folder.shown(name), e))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::output_role::View;
    use sha2::{Digest, Sha256};

    /// A model's entry for `content` under `path` (for this file's tests
    /// and `verify`'s).
    pub(crate) fn entry(path: &str, content: &[u8]) -> FileEntry {
        FileEntry {
            role: OutputRole::Model,
            path: path.into(),
            size: content.len() as u64,
            sha256: format!("{:x}", Sha256::digest(content)),
            media_type: "model/gltf-binary".into(),
            source: "https://cdn.example/model.glb".into(),
            aliases: vec![],
        }
    }

    /// The temporary folder, held open as a run holds its folder.
    pub(crate) fn open(dir: &tempfile::TempDir) -> Arc<Folder> {
        Arc::new(Folder::open(dir.path()).expect("open"))
    }

    #[test]
    fn round_trips_and_writes_sums_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let manifest = Manifest {
            schema_version: 1,
            task_id: "t".into(),
            task_type: Some("text_to_model".into()),
            create_time: Some(1),
            fetched_at: "2026-11-28T17:34:05Z".into(),
            generator: "fetch-assets 0.1.0".into(),
            files: vec![entry("model.glb", b"m"), entry("rendered_image.webp", b"r")],
        };
        manifest.write(&open(&dir)).expect("write");
        assert_eq!(Manifest::read(dir.path()).expect("read"), manifest);
        let sums = std::fs::read_to_string(dir.path().join(SUMS_FILE)).expect("sums");
        let names: Vec<&str> = sums.lines().map(|l| &l[66..]).collect();
        assert_eq!(names, ["model.glb", "rendered_image.webp"]);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty());
    }

    /// A manifest as this version (and every earlier one) writes it: each
    /// role of the table, the four views, an open-ended output, aliases of
    /// each kind.
    const EVERY_ROLE: &str = r#"{
  "schema_version": 1,
  "task_id": "t",
  "task_type": "text_to_model",
  "create_time": 1768888519,
  "fetched_at": "2026-11-28T17:34:05Z",
  "generator": "fetch-assets 0.1.0",
  "files": [
    {
      "role": "model",
      "path": "model.glb",
      "size": 1,
      "sha256": "ab",
      "media_type": "model/gltf-binary",
      "source": "https://cdn.example/model.glb",
      "aliases": [
        "pbr_model",
        "multiview_3_right",
        "image_0"
      ]
    },
    {
      "role": "base_model",
      "path": "base_model.glb",
      "size": 1,
      "sha256": "ab",
      "media_type": "m",
      "source": "s"
    },
    {
      "role": "pbr_model",
      "path": "pbr_model.glb",
      "size": 1,
      "sha256": "ab",
      "media_type": "m",
      "source": "s"
    },
    {
      "role": "generated_image",
      "path": "generated_image.png",
      "size": 1,
      "sha256": "ab",
      "media_type": "m",
      "source": "s"
    },
    {
      "role": "rendered_image",
      "path": "rendered_image.webp",
      "size": 1,
      "sha256": "ab",
      "media_type": "m",
      "source": "s"
    },
    {
      "role": "depth_image",
      "path": "depth_image.png",
      "size": 1,
      "sha256": "ab",
      "media_type": "m",
      "source": "s"
    },
    {
      "role": "uv_render",
      "path": "uv_render.png",
      "size": 1,
      "sha256": "ab",
      "media_type": "m",
      "source": "s"
    },
    {
      "role": "rendered_video",
      "path": "rendered_video.mp4",
      "size": 1,
      "sha256": "ab",
      "media_type": "m",
      "source": "s"
    },
    {
      "role": "multiview",
      "view": "front",
      "index": 0,
      "path": "multiview_0_front.png",
      "size": 1,
      "sha256": "ab",
      "media_type": "m",
      "source": "s"
    },
    {
      "role": "multiview",
      "view": "left",
      "index": 1,
      "path": "multiview_1_left.png",
      "size": 1,
      "sha256": "ab",
      "media_type": "m",
      "source": "s"
    },
    {
      "role": "multiview",
      "view": "back",
      "index": 2,
      "path": "multiview_2_back.png",
      "size": 1,
      "sha256": "ab",
      "media_type": "m",
      "source": "s"
    },
    {
      "role": "multiview",
      "view": "right",
      "index": 3,
      "path": "multiview_3_right.png",
      "size": 1,
      "sha256": "ab",
      "media_type": "m",
      "source": "s"
    },
    {
      "role": "model_1",
      "field": "model_urls[1]",
      "path": "model_1.fbx",
      "size": 1,
      "sha256": "ab",
      "media_type": "m",
      "source": "s",
      "aliases": [
        "thumbnail"
      ]
    }
  ]
}
"#;

    #[test]
    fn every_role_of_the_table_each_view_and_an_open_output_round_trip_byte_for_byte() {
        let manifest: Manifest = serde_json::from_str(EVERY_ROLE).expect("read");
        let roles: Vec<&OutputRole> = manifest.files.iter().map(|f| &f.role).collect();
        let mut expected: Vec<OutputRole> = OutputRole::table().cloned().collect();
        expected.push(OutputRole::open("model_1", "model_urls[1]"));
        assert_eq!(roles, expected.iter().collect::<Vec<_>>());
        assert_eq!(
            manifest.files[0].aliases,
            [
                OutputRole::PbrModel,
                OutputRole::Multiview(View::Right),
                OutputRole::from_stem("image_0")
            ]
        );
        assert_eq!(manifest.to_json().expect("write"), EVERY_ROLE);
    }

    /// A manifest from a later version: a role, a view and aliases this
    /// version does not know.
    const UNKNOWN_ROLES: &str = r#"{
  "schema_version": 1,
  "task_id": "t",
  "task_type": null,
  "create_time": null,
  "fetched_at": "2026-11-28T17:34:05Z",
  "generator": "fetch-assets 9.0.0",
  "files": [
    {
      "role": "splat_v2",
      "field": "splat_url",
      "path": "splat_v2.ply",
      "size": 2,
      "sha256": "cd",
      "media_type": "application/octet-stream",
      "source": "s",
      "aliases": [
        "gaussian_0",
        "multiview_4_top"
      ]
    },
    {
      "role": "multiview",
      "view": "top",
      "index": 4,
      "path": "multiview_4_top.png",
      "size": 3,
      "sha256": "ef",
      "media_type": "image/png",
      "source": "s"
    },
    {
      "role": "hologram",
      "path": "hologram.bin",
      "size": 4,
      "sha256": "01",
      "media_type": "application/octet-stream",
      "source": "s"
    }
  ]
}
"#;

    #[test]
    fn unknown_roles_views_and_aliases_read_and_write_back_unchanged() {
        let text = UNKNOWN_ROLES;
        let manifest: Manifest = serde_json::from_str(text).expect("an unknown role reads");
        let files = &manifest.files;
        assert_eq!(files[0].role, OutputRole::open("splat_v2", "splat_url"));
        assert_eq!(
            files[0].aliases,
            [
                OutputRole::from_stem("gaussian_0"),
                OutputRole::from_stem("multiview_4_top")
            ]
        );
        assert_eq!(
            files[1].role,
            OutputRole::Unknown {
                role: "multiview".into(),
                view: Some("top".into()),
                index: Some(4),
                field: None,
            }
        );
        assert_eq!(files[2].role, OutputRole::from_stem("hologram"));
        assert_eq!(manifest.to_json().expect("write"), text);
    }
}
