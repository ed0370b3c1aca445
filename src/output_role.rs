//! What an output file is: [`OutputRole`] and [`View`], the one role type of
//! the planner, the fetch's events and the manifest. This module holds the
//! contract's table of roles (DESIGN.md, "Files") once: each role with its
//! name and the keys of a task's `output` it may come under ([`TABLE`]).
//! Everything else that names a table role (file stems, `--only`'s names,
//! the planner's keys, the manifest's spellings, the names an open-ended
//! output may not take) is derived from it. A leaf.
//!
//! Two spellings in the manifest, both kept exactly as every earlier
//! version wrote them:
//! - an entry's `role` (with `view` and `index` for a multiview image, and
//!   `field` for an open-ended output) is the role's *name*: `model`,
//!   `multiview` + `front` + `0`, `thumbnail` + `thumbnail_url`
//!   ([`OutputRole::from_written`], [`OutputRole::written`]);
//! - an entry's `aliases` are *file stems*: `pbr_model`, `multiview_0_front`,
//!   `image_0` ([`OutputRole::from_stem`], [`OutputRole::stem`]). A stem
//!   fits a table role or is an open-ended output's name: no open-ended
//!   output is ever named like a table stem, so the reading is unambiguous.
//!
//! A name the table does not know reads as [`OutputRole::Open`]: an
//! open-ended output, or a role a later version added. Reading never fails
//! on a role, and writing gives back the bytes read.

use std::fmt;

/// One of the four multiview images, in the fixed order the API gives them.
///
/// A multiview image's manifest entry is `"role": "multiview"` with this
/// view's [`name`](View::name) and [`index`](View::index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum View {
    /// Front view (index 0).
    Front,
    /// Left view (index 1).
    Left,
    /// Back view (index 2).
    Back,
    /// Right view (index 3).
    Right,
}

impl View {
    /// The view's position in the fixed order: the manifest's `index`.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The view's name: `front`, `left`, `back` or `right` (the manifest's `view`).
    pub fn name(self) -> &'static str {
        match self {
            View::Front => "front",
            View::Left => "left",
            View::Back => "back",
            View::Right => "right",
        }
    }
}

/// What an output file is: a role of the contract's table, or an
/// open-ended output by its name. The planner plans files by it, the
/// fetch's events name them by it, and the manifest records it.
///
/// Typed so that a program reading a manifest (and a re-run matching an
/// earlier manifest to its plan) compares roles, not the two string
/// encodings the manifest uses (see the module docs). Manifests stay
/// readable across versions: a name this version does not know is
/// [`Open`](OutputRole::Open), and an entry it cannot place is
/// [`Unknown`](OutputRole::Unknown); both are written back exactly as read.
///
/// `Display` is how messages name a role: `model`, `multiview front`,
/// `thumbnail`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutputRole {
    /// `model`: the main model.
    Model,
    /// `base_model`.
    BaseModel,
    /// `pbr_model`.
    PbrModel,
    /// `generated_image`.
    GeneratedImage,
    /// `rendered_image`: a preview of the model.
    RenderedImage,
    /// `depth_image` (v3).
    DepthImage,
    /// `uv_render` (v3).
    UvRender,
    /// `rendered_video` (v3).
    RenderedVideo,
    /// One of the four multiview images: role `multiview`, with its view.
    Multiview(View),
    /// An open-ended output: a link no table role names, known by its name;
    /// or any other name this version's table does not know (a role a
    /// later version added).
    Open {
        /// Its name: the file stem, the manifest's `role`, what `--only`
        /// takes (`thumbnail`, `model_1`, `textures_albedo`).
        name: String,
        /// Its JSON path in the task's `output` (`thumbnail_url`,
        /// `model_urls[1]`): the manifest's `field`. Where one answer put
        /// it, not what it is: it may move between answers, and an alias
        /// (written as its stem) has none.
        field: Option<String>,
    },
    /// An entry this version cannot place: a view a later version added,
    /// or a table role written with a view or a field it does not have.
    /// Kept as written, and matched to no planned file.
    Unknown {
        /// The entry's `role`.
        role: String,
        /// The entry's `view`.
        view: Option<String>,
        /// The entry's `index`.
        index: Option<usize>,
        /// The entry's `field`.
        field: Option<String>,
    },
}

/// One row of the contract's table.
struct Row {
    /// The role.
    role: OutputRole,
    /// Its name: the manifest's `role`, and what `--only` takes.
    name: &'static str,
    /// The keys of a task's `output` it may come under, in order of
    /// preference: the bare v2 name, the v3 `_url` name, and the aliases
    /// seen in the wild (a multiview image's key may also stand in one of
    /// the multiview objects: see `assets.rs`).
    keys: &'static [&'static str],
}

/// The contract's table (DESIGN.md, "Files"), in its order: the order of
/// the plan, the manifest and `SHA256SUMS` (open-ended outputs follow).
///
/// **The one list of the table.** A new role is a variant of
/// [`OutputRole`] and a row here; its file name, `--only` name, manifest
/// spelling, place in the order and the names open-ended outputs may not
/// take all follow from the row.
static TABLE: &[Row] = &[
    Row {
        role: OutputRole::Model,
        name: "model",
        keys: &["model", "model_url"],
    },
    Row {
        role: OutputRole::BaseModel,
        name: "base_model",
        keys: &["base_model", "base_model_url"],
    },
    Row {
        role: OutputRole::PbrModel,
        name: "pbr_model",
        keys: &["pbr_model", "pbr_model_url"],
    },
    Row {
        role: OutputRole::GeneratedImage,
        name: "generated_image",
        keys: &[
            "generated_image",
            "generated_image_url",
            "image_url",
            "image",
        ],
    },
    Row {
        role: OutputRole::RenderedImage,
        name: "rendered_image",
        keys: &["rendered_image", "rendered_image_url"],
    },
    Row {
        role: OutputRole::DepthImage,
        name: "depth_image",
        keys: &["depth_image", "depth_image_url"],
    },
    Row {
        role: OutputRole::UvRender,
        name: "uv_render",
        keys: &["uv_render", "uv_render_url"],
    },
    Row {
        role: OutputRole::RenderedVideo,
        name: "rendered_video",
        keys: &["rendered_video", "rendered_video_url"],
    },
    Row {
        role: OutputRole::Multiview(View::Front),
        name: "multiview",
        keys: &["front_view_url"],
    },
    Row {
        role: OutputRole::Multiview(View::Left),
        name: "multiview",
        keys: &["left_view_url"],
    },
    Row {
        role: OutputRole::Multiview(View::Back),
        name: "multiview",
        keys: &["back_view_url"],
    },
    Row {
        role: OutputRole::Multiview(View::Right),
        name: "multiview",
        keys: &["right_view_url"],
    },
];

/// A role as a manifest entry writes it: its `role`, `view`, `index` and
/// `field` (DESIGN.md, "Files").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WrittenRole {
    pub role: String,
    pub view: Option<String>,
    pub index: Option<usize>,
    pub field: Option<String>,
}

impl OutputRole {
    /// Every role of the contract's table, in its order: the order of the
    /// manifest and of `SHA256SUMS` (open-ended outputs follow).
    pub fn table() -> impl Iterator<Item = &'static OutputRole> {
        TABLE.iter().map(|row| &row.role)
    }

    /// The table's names, each once, in the table's order (the four views
    /// are all `multiview`).
    pub(crate) fn table_names() -> impl Iterator<Item = &'static str> {
        let mut last = None;
        TABLE
            .iter()
            .map(|row| row.name)
            .filter(move |name| last.replace(*name) != Some(*name))
    }

    /// A table role's row; `None` for the others.
    fn row(&self) -> Option<&'static Row> {
        TABLE.iter().find(|row| row.role == *self)
    }

    /// An open-ended output's role: its name, and its place in `output`.
    pub(crate) fn open(name: &str, field: &str) -> OutputRole {
        OutputRole::Open {
            name: name.to_owned(),
            field: Some(field.to_owned()),
        }
    }

    /// The role's name: the manifest's `role`, and what `--only` takes
    /// (all four views are `multiview`).
    pub fn name(&self) -> &str {
        match self {
            OutputRole::Open { name, .. } | OutputRole::Unknown { role: name, .. } => name,
            table => table.row().map_or("", |row| row.name),
        }
    }

    /// For an open-ended output, its JSON path in the task's `output` (the
    /// manifest's `field`), when known.
    pub fn field(&self) -> Option<&str> {
        match self {
            OutputRole::Open { field, .. } | OutputRole::Unknown { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// The view, for multiview images.
    pub fn view(&self) -> Option<View> {
        match self {
            OutputRole::Multiview(view) => Some(*view),
            _ => None,
        }
    }

    /// The keys of a task's `output` a table role may come under, in order
    /// of preference; none for the others.
    pub(crate) fn output_keys(&self) -> &'static [&'static str] {
        self.row().map_or(&[], |row| row.keys)
    }

    /// The file's name without its extension, and how an alias is written:
    /// the role's name, or `multiview_<index>_<view>`.
    pub fn stem(&self) -> String {
        match self {
            OutputRole::Multiview(view) => format!("multiview_{}_{}", view.index(), view.name()),
            other => other.name().to_owned(),
        }
    }

    /// True when both name the same output: an open-ended output is known
    /// by its name alone (its `field` may move between answers, and an
    /// alias has none), any other role by all it holds. How a re-run
    /// matches an earlier manifest to its plan.
    pub(crate) fn same_output(&self, other: &OutputRole) -> bool {
        match (self, other) {
            (OutputRole::Open { name, .. }, OutputRole::Open { name: other, .. }) => name == other,
            _ => self == other,
        }
    }

    /// Reads an alias: a table role's file stem, else an open-ended
    /// output's name (without a field). Never fails; `from_stem(s).stem() == s`.
    pub fn from_stem(stem: &str) -> OutputRole {
        OutputRole::table()
            .find(|role| role.stem() == stem)
            .cloned()
            .unwrap_or_else(|| OutputRole::Open {
                name: stem.to_owned(),
                field: None,
            })
    }

    /// Reads an entry's `role`, `view`, `index` and `field`: a table role
    /// when they are exactly what this version writes for it, an
    /// open-ended output for any other name without a view, else
    /// [`OutputRole::Unknown`]. Never fails; [`OutputRole::written`] gives
    /// the four back.
    pub(crate) fn from_written(written: WrittenRole) -> OutputRole {
        let WrittenRole {
            role,
            view,
            index,
            field,
        } = written;
        let table = OutputRole::table().find(|known| {
            known.name() == role
                && known.view().map(View::name) == view.as_deref()
                && known.view().map(View::index) == index
        });
        let a_table_name = OutputRole::table_names().any(|name| name == role);
        match table {
            Some(known) if field.is_none() => known.clone(),
            None if view.is_none() && index.is_none() && !a_table_name => {
                OutputRole::Open { name: role, field }
            }
            _ => OutputRole::Unknown {
                role,
                view,
                index,
                field,
            },
        }
    }

    /// The entry's `role`, `view`, `index` and `field` for this role.
    pub(crate) fn written(&self) -> WrittenRole {
        match self {
            OutputRole::Unknown {
                role,
                view,
                index,
                field,
            } => WrittenRole {
                role: role.clone(),
                view: view.clone(),
                index: *index,
                field: field.clone(),
            },
            other => WrittenRole {
                role: other.name().to_owned(),
                view: other.view().map(|v| v.name().to_owned()),
                index: other.view().map(View::index),
                field: other.field().map(str::to_owned),
            },
        }
    }
}

impl fmt::Display for OutputRole {
    /// The role as messages name it: `model`, `multiview front`, `thumbnail`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputRole::Multiview(view) => write!(f, "multiview {}", view.name()),
            other => f.write_str(other.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(
        role: &str,
        view: Option<&str>,
        index: Option<usize>,
        field: Option<&str>,
    ) -> WrittenRole {
        WrittenRole {
            role: role.to_owned(),
            view: view.map(str::to_owned),
            index,
            field: field.map(str::to_owned),
        }
    }

    fn open(name: &str, field: Option<&str>) -> OutputRole {
        OutputRole::Open {
            name: name.to_owned(),
            field: field.map(str::to_owned),
        }
    }

    #[test]
    fn every_table_role_reads_back_from_what_it_writes_and_from_its_stem() {
        for role in OutputRole::table() {
            assert_eq!(&OutputRole::from_written(role.written()), role);
            assert_eq!(&OutputRole::from_stem(&role.stem()), role);
        }
        let stems: Vec<String> = OutputRole::table().map(OutputRole::stem).collect();
        assert_eq!(
            stems[8..],
            [
                "multiview_0_front",
                "multiview_1_left",
                "multiview_2_back",
                "multiview_3_right"
            ]
        );
    }

    #[test]
    fn what_an_entry_writes_reads_as_a_table_role_an_open_output_or_unknown() {
        let unknown = |w: &WrittenRole| OutputRole::Unknown {
            role: w.role.clone(),
            view: w.view.clone(),
            index: w.index,
            field: w.field.clone(),
        };
        let cases: [(WrittenRole, Option<OutputRole>); 12] = [
            (written("model", None, None, None), Some(OutputRole::Model)),
            (
                written("multiview", Some("back"), Some(2), None),
                Some(OutputRole::Multiview(View::Back)),
            ),
            (
                written("thumbnail", None, None, Some("thumbnail_url")),
                Some(open("thumbnail", Some("thumbnail_url"))),
            ),
            (
                written("splat_v2", None, None, None),
                Some(open("splat_v2", None)),
            ),
            // What no version of the table writes: kept as written.
            (written("multiview", Some("top"), Some(4), None), None),
            (written("multiview", Some("front"), Some(2), None), None),
            (written("multiview", Some("front"), None, None), None),
            (written("multiview", None, None, None), None),
            (written("model", Some("front"), Some(0), None), None),
            (written("model", None, None, Some("model_url")), None),
            (written("multiview", Some("left"), Some(1), Some("x")), None),
            (
                written("thumbnail", None, Some(1), Some("thumbnail_url")),
                None,
            ),
        ];
        for (entry, expected) in cases {
            let read = OutputRole::from_written(entry.clone());
            let expected = expected.unwrap_or_else(|| unknown(&entry));
            assert_eq!(read, expected, "{entry:?}");
            assert_eq!(read.written(), entry, "written back as read");
        }
    }

    #[test]
    fn an_alias_reads_as_a_table_stem_or_an_open_output_without_a_field() {
        assert_eq!(OutputRole::from_stem("pbr_model"), OutputRole::PbrModel);
        assert_eq!(
            OutputRole::from_stem("multiview_1_left"),
            OutputRole::Multiview(View::Left)
        );
        assert_eq!(OutputRole::from_stem("image_0"), open("image_0", None));
        assert_eq!(
            OutputRole::from_stem("multiview_4_top"),
            open("multiview_4_top", None)
        );
    }

    #[test]
    fn an_open_output_is_the_same_output_wherever_its_field_is() {
        let cases = [
            (
                open("thumbnail", Some("thumbnail_url")),
                open("thumbnail", None),
                true,
            ),
            (
                open("thumbnail", Some("a")),
                open("thumbnail", Some("b")),
                true,
            ),
            (open("thumbnail", None), open("model_1", None), false),
            (OutputRole::Model, OutputRole::Model, true),
            (OutputRole::Model, OutputRole::PbrModel, false),
            (
                OutputRole::Multiview(View::Front),
                OutputRole::Multiview(View::Back),
                false,
            ),
            (open("model", None), OutputRole::Model, false),
        ];
        for (a, b, same) in cases {
            assert_eq!(a.same_output(&b), same, "{a:?} {b:?}");
            assert_eq!(b.same_output(&a), same, "{b:?} {a:?}");
        }
    }

    #[test]
    fn roles_show_as_messages_name_them() {
        let shown: Vec<String> = [
            OutputRole::Model,
            OutputRole::Multiview(View::Left),
            open("thumbnail", Some("thumbnail_url")),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(shown, ["model", "multiview left", "thumbnail"]);
    }
}
