//! `cargo run -p fake-tripo`: the fake Tripo service on its own, serving the
//! demo task until Ctrl-C, so the real `fetch-assets` can be tried against
//! it from another terminal, as often and with whatever options one likes.

use std::time::Duration;

use fake_tripo::{DEMO_CUT, DEMO_REFUSED, FakeTripo, demo_scenario};

/// Long enough to read what follows and start a run while the task waits.
const QUEUED: Duration = Duration::from_secs(15);
const RUNNING: Duration = Duration::from_secs(30);

fn main() {
    let fake = FakeTripo::start(demo_scenario(QUEUED, RUNNING));
    let task = fake.task_id();
    println!(
        "\
The fake Tripo service is up (offline: API on 127.0.0.1, CDN on 127.0.0.2).

Task {task}: queued for {queued} s, then running for {running} s, then it
succeeds with 10 files. The CDN refuses the first link of {DEMO_REFUSED}
(fetch-assets renews it) and cuts the first transfer of {} after {} bytes
(fetch-assets resumes it).

In another terminal, from this checkout:

  export TRIPO_API_BASE={base}
  export TRIPO_API_KEY={key}
  cargo run -- {task} out

Then try: `cargo run -- verify out`; the same run again (it keeps what is
complete); `NO_COLOR=1 cargo run -- --force {task} out` (the plain log CI
gets); a task it does not know, `cargo run -- no-such-task out2` (exit 3);
`TRIPO_API_KEY=tsk_wrong cargo run -- {task} out2` (exit 3).

Ctrl-C stops the service.",
        DEMO_CUT.0,
        DEMO_CUT.1,
        queued = QUEUED.as_secs(),
        running = RUNNING.as_secs(),
        base = fake.v2_base(),
        key = fake.api_key(),
    );
    // Serve until the process is stopped: Ctrl-C ends it, fake and all.
    loop {
        std::thread::park();
    }
}
