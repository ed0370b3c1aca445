//! A run into a folder an earlier run filled: which planned files are kept
//! (they still verify against its manifest), which are to fetch, and which
//! of the earlier manifest's other entries (say, from a run with another
//! `--only`) are still complete and stay listed.
//!
//! Entries are matched to the plan by typed role ([`role_of`]): a file is
//! known by its stem (`model`, `multiview_2_back`, `thumbnail`), which is
//! also how the manifest lists its aliases.

use crate::assets::{Asset, ContractOrder, Role, View};
use crate::folder::Folder;
use crate::manifest::{self, FileCheck, FileEntry, Manifest};

/// The plan, split by what an earlier run left.
#[derive(Debug, Default)]
pub(crate) struct Rerun {
    /// Entries of the earlier manifest whose files still verify: kept as they are.
    pub kept: Vec<FileEntry>,
    /// Files to fetch.
    pub to_fetch: Vec<Asset>,
}

/// Splits the plan into files an earlier run already completed (they verify
/// against its manifest) and files to fetch. With `force`, or no earlier
/// run, everything is to fetch. Opens and hashes files: call it on a
/// blocking thread.
pub(crate) fn split(
    folder: &Folder,
    previous: Option<&Manifest>,
    planned: Vec<Asset>,
    force: bool,
) -> Rerun {
    let Some(previous) = previous.filter(|_| !force) else {
        return Rerun {
            kept: Vec::new(),
            to_fetch: planned,
        };
    };
    let mut rerun = Rerun::default();
    for asset in planned {
        let stem = asset.role.stem();
        let done = previous
            .files
            .iter()
            .find(|entry| stems(entry).any(|s| s == stem))
            .filter(|entry| manifest::check(folder, entry) == FileCheck::Ok);
        match done {
            Some(entry) if !rerun.kept.contains(entry) => rerun.kept.push(entry.clone()),
            Some(_) => {}
            None => rerun.to_fetch.push(asset),
        }
    }
    rerun
}

/// Entries of the earlier manifest that name neither a file nor a role of
/// `files` (what this run kept and fetched) and whose files still verify:
/// they stay listed. Opens and hashes files: call it on a blocking thread.
pub(crate) fn still_complete(
    folder: &Folder,
    previous: Option<&Manifest>,
    files: &[FileEntry],
) -> Vec<FileEntry> {
    let Some(previous) = previous else {
        return Vec::new();
    };
    previous
        .files
        .iter()
        .filter(|old| {
            !files
                .iter()
                .any(|f| f.path == old.path || role_of(f).stem() == role_of(old).stem())
        })
        .filter(|old| manifest::check(folder, old) == FileCheck::Ok)
        .cloned()
        .collect()
}

/// Puts entries, old and new, in the contract's order.
pub(crate) fn in_contract_order(files: &mut [FileEntry], order: &ContractOrder) {
    files.sort_by_key(|entry| order.place(&role_of(entry).stem()));
}

/// The role an entry is the file of: a table role by its name and view,
/// anything else an open-ended output by its name and field.
fn role_of(entry: &FileEntry) -> Role {
    let view = entry.view.as_deref();
    Role::ALL
        .into_iter()
        .find(|role| role.name() == entry.role && role.view().map(View::name) == view)
        .unwrap_or_else(|| Role::open(&entry.role, entry.field.as_deref().unwrap_or_default()))
}

/// The stems an entry's file stands for: its role's, then its aliases'.
fn stems(entry: &FileEntry) -> impl Iterator<Item = String> + '_ {
    std::iter::once(role_of(entry).stem()).chain(entry.aliases.iter().cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(role: &str, view: Option<&str>, field: Option<&str>, aliases: &[&str]) -> FileEntry {
        FileEntry {
            role: role.into(),
            view: view.map(str::to_owned),
            index: None,
            field: field.map(str::to_owned),
            path: "x".into(),
            size: 0,
            sha256: String::new(),
            media_type: String::new(),
            source: String::new(),
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    #[test]
    fn entries_read_back_as_the_roles_and_stems_the_plan_uses() {
        let model = entry("model", None, None, &["pbr_model"]);
        assert_eq!(role_of(&model), Role::Model);
        assert_eq!(stems(&model).collect::<Vec<_>>(), ["model", "pbr_model"]);
        let back = entry("multiview", Some("back"), None, &["multiview_3_right"]);
        assert_eq!(role_of(&back), Role::Multiview(View::Back));
        assert_eq!(
            stems(&back).collect::<Vec<_>>(),
            ["multiview_2_back", "multiview_3_right"]
        );
        let thumbnail = entry("thumbnail", None, Some("thumbnail_url"), &["image_0"]);
        assert_eq!(
            role_of(&thumbnail),
            Role::open("thumbnail", "thumbnail_url")
        );
        assert_eq!(
            stems(&thumbnail).collect::<Vec<_>>(),
            ["thumbnail", "image_0"]
        );
    }
}
