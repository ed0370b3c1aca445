//! The contract's output table, written out from DESIGN.md ("Files") and
//! api-notes.md by hand, as a test oracle apart from the code it checks:
//! the file stems in order, the output keys each may come under, and a
//! strategy for `output` keys. Included by the planner's property tests
//! (src/properties.rs) and the end-to-end ones (tests/it/properties.rs), so
//! the two read one table.

use proptest::prelude::*;

/// The contract's file stems (DESIGN.md, "Files"), in its order.
pub const STEMS: [&str; 12] = [
    "model",
    "base_model",
    "pbr_model",
    "generated_image",
    "rendered_image",
    "depth_image",
    "uv_render",
    "rendered_video",
    "multiview_0_front",
    "multiview_1_left",
    "multiview_2_back",
    "multiview_3_right",
];

/// The output keys each stem may come under (DESIGN.md and api-notes.md).
pub const KEYS: [&[&str]; 12] = [
    &["model", "model_url"],
    &["base_model", "base_model_url"],
    &["pbr_model", "pbr_model_url"],
    &[
        "generated_image",
        "generated_image_url",
        "image_url",
        "image",
    ],
    &["rendered_image", "rendered_image_url"],
    &["depth_image", "depth_image_url"],
    &["uv_render", "uv_render_url"],
    &["rendered_video", "rendered_video_url"],
    &["front_view_url"],
    &["left_view_url"],
    &["back_view_url"],
    &["right_view_url"],
];

pub const MULTIVIEW_OBJECTS: [&str; 2] = ["generate_multiview_image", "edit_multiview_image"];

/// Every key the planner knows, and some it must ignore.
pub fn key() -> impl Strategy<Value = String> {
    let known: Vec<&'static str> = KEYS
        .iter()
        .flat_map(|keys| keys.iter().copied())
        .chain(MULTIVIEW_OBJECTS)
        .chain(["thumbnail", "result", "riggable", "topology", "url", "type"])
        .collect();
    prop_oneof![
        4 => proptest::sample::select(known).prop_map(str::to_owned),
        1 => "[a-z_]{0,14}",
        1 => "\\PC{0,8}",
    ]
}
