//! What a manifest entry names: [`OutputRole`] and [`View`], the names of
//! the contract's table of roles (DESIGN.md, "Files") as the manifest, the
//! file stems and `--only` spell them. A leaf: the planner (`assets.rs`)
//! maps its own roles onto these, and the manifest reads and writes them.
//!
//! Two spellings, both kept exactly as every earlier version wrote them:
//! - an entry's `role` (with `view` and `index` for a multiview image) is
//!   the role's *name*: `model`, `multiview` + `front` + `0`, `thumbnail`
//!   ([`OutputRole::from_parts`], [`OutputRole::parts`]);
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

/// What a manifest entry (or one of its aliases) is the file of: a role of
/// the contract's table, or an open-ended output by its name.
///
/// Typed so that a program reading a manifest (and a re-run matching an
/// earlier manifest to its plan) compares roles, not the two string
/// encodings the manifest uses (see the module docs). Manifests stay
/// readable across versions: a name this version does not know is
/// [`Open`](OutputRole::Open), and an entry whose `view` or `index` it
/// cannot read is [`UnknownView`](OutputRole::UnknownView); both are
/// written back exactly as read.
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
    /// An open-ended output by its name (`thumbnail`, `model_1`; its place
    /// in the task's `output` is the entry's `field`), or any other name
    /// this version's table does not know (a role a later version added).
    Open(String),
    /// An entry whose `view` or `index` this version cannot read (a view a
    /// later version added, a table role with a view): kept as written, and
    /// matched to no planned file.
    UnknownView {
        /// The entry's `role`.
        role: String,
        /// The entry's `view`.
        view: Option<String>,
        /// The entry's `index`.
        index: Option<usize>,
    },
}

impl OutputRole {
    /// Every role of the contract's table, in its order: the order of the
    /// manifest and of `SHA256SUMS` (open-ended outputs follow).
    pub const TABLE: [OutputRole; 12] = [
        OutputRole::Model,
        OutputRole::BaseModel,
        OutputRole::PbrModel,
        OutputRole::GeneratedImage,
        OutputRole::RenderedImage,
        OutputRole::DepthImage,
        OutputRole::UvRender,
        OutputRole::RenderedVideo,
        OutputRole::Multiview(View::Front),
        OutputRole::Multiview(View::Left),
        OutputRole::Multiview(View::Back),
        OutputRole::Multiview(View::Right),
    ];

    /// The role's name: the manifest's `role`, and what `--only` takes
    /// (all four views are `multiview`).
    pub fn name(&self) -> &str {
        match self {
            OutputRole::Open(name) | OutputRole::UnknownView { role: name, .. } => name,
            table => table.table_name().unwrap_or_default(),
        }
    }

    /// A table role's name; `None` for the others. The one list of the
    /// table's names.
    pub(crate) fn table_name(&self) -> Option<&'static str> {
        Some(match self {
            OutputRole::Model => "model",
            OutputRole::BaseModel => "base_model",
            OutputRole::PbrModel => "pbr_model",
            OutputRole::GeneratedImage => "generated_image",
            OutputRole::RenderedImage => "rendered_image",
            OutputRole::DepthImage => "depth_image",
            OutputRole::UvRender => "uv_render",
            OutputRole::RenderedVideo => "rendered_video",
            OutputRole::Multiview(_) => "multiview",
            OutputRole::Open(_) | OutputRole::UnknownView { .. } => return None,
        })
    }

    /// The view, for multiview images.
    pub fn view(&self) -> Option<View> {
        match self {
            OutputRole::Multiview(view) => Some(*view),
            _ => None,
        }
    }

    /// The file's name without its extension, and how an alias is written:
    /// the role's name, or `multiview_<index>_<view>`.
    pub fn stem(&self) -> String {
        match self {
            OutputRole::Multiview(view) => format!("multiview_{}_{}", view.index(), view.name()),
            other => other.name().to_owned(),
        }
    }

    /// Reads an alias: a table role's file stem, else an open-ended
    /// output's name. Never fails; `from_stem(s).stem() == s`.
    pub fn from_stem(stem: &str) -> OutputRole {
        OutputRole::TABLE
            .into_iter()
            .find(|role| role.stem() == stem)
            .unwrap_or_else(|| OutputRole::Open(stem.to_owned()))
    }

    /// Reads an entry's `role`, `view` and `index`: a table role when they
    /// are exactly what this version writes for it, an open-ended output
    /// for any other name without a view, else [`OutputRole::UnknownView`].
    /// Never fails; [`OutputRole::parts`] gives the three back.
    pub(crate) fn from_parts(
        role: String,
        view: Option<String>,
        index: Option<usize>,
    ) -> OutputRole {
        let table = OutputRole::TABLE.into_iter().find(|known| {
            known.name() == role
                && known.view().map(View::name) == view.as_deref()
                && known.view().map(View::index) == index
        });
        match table {
            Some(known) => known,
            None if view.is_none() && index.is_none() && role != "multiview" => {
                OutputRole::Open(role)
            }
            None => OutputRole::UnknownView { role, view, index },
        }
    }

    /// The entry's `role`, `view` and `index` for this role.
    pub(crate) fn parts(&self) -> (String, Option<String>, Option<usize>) {
        match self {
            OutputRole::UnknownView { role, view, index } => (role.clone(), view.clone(), *index),
            other => (
                other.name().to_owned(),
                other.view().map(|v| v.name().to_owned()),
                other.view().map(View::index),
            ),
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

    #[test]
    fn every_table_role_reads_back_from_its_parts_and_its_stem() {
        for role in OutputRole::TABLE {
            let (name, view, index) = role.parts();
            assert_eq!(OutputRole::from_parts(name, view, index), role);
            assert_eq!(OutputRole::from_stem(&role.stem()), role);
        }
        let stems: Vec<String> = OutputRole::TABLE.iter().map(OutputRole::stem).collect();
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
    fn names_the_table_does_not_know_are_open_and_odd_views_are_kept() {
        assert_eq!(
            OutputRole::from_stem("image_0"),
            OutputRole::Open("image_0".into())
        );
        assert_eq!(
            OutputRole::from_parts("splat_v2".into(), None, None),
            OutputRole::Open("splat_v2".into())
        );
        for (role, view, index) in [
            ("multiview", Some("top"), Some(4)),
            ("multiview", Some("front"), Some(2)),
            ("multiview", Some("front"), None),
            ("multiview", None, None),
            ("model", Some("front"), Some(0)),
            ("thumbnail", None, Some(1)),
        ] {
            let parts = (role.to_owned(), view.map(str::to_owned), index);
            let read = OutputRole::from_parts(parts.0.clone(), parts.1.clone(), parts.2);
            assert!(
                matches!(read, OutputRole::UnknownView { .. }),
                "{parts:?}: {read:?}"
            );
            assert_eq!(read.parts(), parts);
        }
    }
}
