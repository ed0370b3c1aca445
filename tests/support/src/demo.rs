//! The lively task the demo and `cargo run -p fake-tripo` serve: it queues,
//! runs, then succeeds with all ten v2 outputs (a thumbnail too), sized and paced so the
//! progress bars stay on screen for a few seconds; one link is refused once
//! (the client renews it) and one transfer is cut (the client resumes it).

use std::time::Duration;

use crate::{FileFault, Scenario};

/// The file whose first link the CDN refuses (HTTP 403).
pub const DEMO_REFUSED: &str = "pbr_model.glb";
/// The file whose first transfer the CDN cuts, and where.
pub const DEMO_CUT: (&str, u64) = ("base_model.glb", 3_000_000);

/// The demo task, queued for `queued` and running for `running` from the
/// moment the fake starts.
pub fn demo_scenario(queued: Duration, running: Duration) -> Scenario {
    let mib = 1 << 20;
    let mut scenario = Scenario::new("v2_all_outputs")
        .phase("queued", queued)
        .phase("running", running)
        .file_size("model.glb", 24 * mib)
        .file_size("pbr_model.glb", 16 * mib)
        .file_size("base_model.glb", 12 * mib)
        .file_size("generated_image.webp", mib)
        .file_size("rendered_image.webp", mib)
        // Each connection at 6 MiB/s: the largest file takes about 4 s.
        .throttle(6 * mib as u64)
        .fault(DEMO_REFUSED, FileFault::refuse(1))
        .fault(DEMO_CUT.0, FileFault::cut_at(DEMO_CUT.1));
    for view in ["front.png", "left.png", "back.png", "right.png"] {
        scenario = scenario.file_size(view, 4 * mib);
    }
    scenario
}
