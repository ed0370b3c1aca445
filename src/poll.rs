//! When to ask for the task again while it is not done. The sooner success
//! is seen, the more of the links' short life is left for the transfers; but
//! polling every 100 ms for an hour is rude. So: work out when the run can
//! end, sleep until then, and back off while there is no estimate.
//!
//! Every running answer says something about the end `E` of the run (and its
//! start `S`):
//! - `running_left_time` is whole seconds, rounded down: `E` lies in
//!   `[t + left, t + left + 1)`, `t` being when the answer was made (between
//!   the request's departure and the answer's arrival);
//! - `progress` `p` is the share of the run done by `t`, rounded down:
//!   `(t - S) / (E - S)` lies in `[p/100, (p+1)/100)`, or in
//!   `[p/99, (p+1)/99)` for a service that counts to 99 while running (both
//!   are tried);
//! - the run started after the last answer that showed the task queued, and
//!   before the first that showed it running.
//!
//! All of these are linear in `(S, E)`, so the ends still possible form a
//! polygon, and its lowest and highest `E` bound the end. One answer leaves a
//! second or so; two a few seconds apart pin a linear run's end to a tenth
//! of a second or two. Once the end is known to within `NARROW`, the next
//! poll goes just past its latest possible moment, and sees success. Until
//! then, the next poll goes a little past the middle of what is possible: if
//! the run ended before, success is seen soon enough; if not, the progress
//! it brings pins the end for the poll after. On the mix of issue 6 that is
//! 3 or 4 requests a task, success seen about 0.2 s late.
//!
//! Progress that is not linear, or an estimate that proves wrong, makes the
//! polygon empty: progress is then ignored, then older answers are, and each
//! such surprise doubles the shortest wait, so a task whose estimate stays
//! wrong is polled ever more calmly.

use std::time::{Duration, SystemTime};

use crate::api::{Task, TaskStatus};

/// The shortest wait between polls: a few requests a second at most.
const MIN_GAP: Duration = Duration::from_millis(250);
/// An end known to within this many seconds is aimed at directly.
const NARROW: f64 = 0.3;
/// How far past the latest possible end to aim, in seconds.
const MARGIN: f64 = 0.05;
/// Where to poll in a wider window, as a share of it: a little past the
/// middle. If the end came before, it is seen at most that late; if not, the
/// progress since the first running answer pins it for the next poll.
const SPLIT: f64 = 0.55;
/// How long before its arrival the first answer may have been made, in
/// seconds. For later answers the request's departure is known: the end of
/// the wait this schedule asked for.
const FIRST_LAG: f64 = 0.25;
/// The first wait when there is no estimate; it doubles from there.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait without an estimate.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The longest wait while next in the queue: the run may start any moment,
/// and the first running answer must come before the run ends.
const NEXT_IN_QUEUE: Duration = Duration::from_secs(2);
/// The longest wait even with an estimate, so a wrong one is caught.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Running answers kept: the first (the longest baseline for the rate) and
/// the latest ones.
const MAX_READINGS: usize = 12;

/// The waits between polls of one task.
#[derive(Debug)]
pub(crate) struct PollSchedule {
    backoff: Duration,
    /// The instant the times below count from: the first answer.
    origin: Option<SystemTime>,
    /// When the next request leaves, at the earliest: the answer to it was
    /// made between then and its arrival.
    next_request: Option<SystemTime>,
    /// The earliest moment the last queued answer may have been made: the
    /// run started after it.
    queued_at: Option<f64>,
    /// The running answers so far (a few, see `MAX_READINGS`).
    readings: Vec<Reading>,
    /// False once progress proved not to grow linearly.
    trust_progress: bool,
    /// Whether the last wait aimed at an end predicted closely.
    aimed_at_end: bool,
    /// How often the estimates proved wrong; each doubles the shortest wait.
    misses: u32,
}

/// One running answer, made between `after` and `by`, in seconds since the
/// first answer.
#[derive(Debug, Clone, Copy)]
struct Reading {
    after: f64,
    by: f64,
    left: Option<f64>,
    progress: Option<u8>,
}

impl PollSchedule {
    pub(crate) fn new() -> PollSchedule {
        PollSchedule {
            backoff: FIRST_BACKOFF,
            origin: None,
            next_request: None,
            queued_at: None,
            readings: Vec::new(),
            trust_progress: true,
            aimed_at_end: false,
            misses: 0,
        }
    }

    /// How long to wait after this answer (not a final one) before the next
    /// poll.
    pub(crate) fn after(&mut self, task: &Task) -> Duration {
        let wait = self.wait_after(task);
        self.next_request = Some(task.received_at + wait);
        wait
    }

    fn wait_after(&mut self, task: &Task) -> Duration {
        let origin = *self.origin.get_or_insert(task.received_at);
        let seconds = |at: SystemTime| match at.duration_since(origin) {
            Ok(after) => after.as_secs_f64(),
            Err(before) => -before.duration().as_secs_f64(),
        };
        let by = seconds(task.received_at);
        let after = self
            .next_request
            .map(seconds)
            .filter(|sent| *sent <= by)
            .unwrap_or(by - FIRST_LAG);
        if self.aimed_at_end {
            // The end was predicted before this answer, and it is not here.
            self.aimed_at_end = false;
            self.misses += 1;
        }
        if task.status == TaskStatus::Queued {
            self.readings.clear();
            self.queued_at = Some(after);
            let wait = self.next_backoff();
            return match task.queue_position {
                Some(position) if position <= 1 => wait.min(NEXT_IN_QUEUE),
                _ => wait,
            };
        }
        // Running, or a status this version does not know: the service
        // reports progress and estimates alike for them.
        if self.readings.len() >= MAX_READINGS {
            self.readings.remove(1);
        }
        self.readings.push(Reading {
            after,
            by,
            left: task.time_left.map(|left| left.as_secs_f64()),
            progress: task.progress,
        });
        if task.time_left.is_none() {
            return self.next_backoff();
        }
        self.backoff = FIRST_BACKOFF;
        let (earliest, latest) = self.window();
        let shortest = (MIN_GAP * 2u32.pow(self.misses.min(10))).min(MAX_BACKOFF);
        let aim_at_end = latest - earliest <= NARROW;
        let target = if aim_at_end {
            latest + MARGIN
        } else {
            earliest + SPLIT * (latest - earliest)
        };
        let wait = Duration::from_secs_f64((target - by).clamp(0.0, MAX_SLEEP.as_secs_f64()));
        // A poll capped to the longest sleep does not aim at the end.
        self.aimed_at_end = aim_at_end && wait < MAX_SLEEP;
        wait.clamp(shortest, MAX_SLEEP)
    }

    fn next_backoff(&mut self) -> Duration {
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        wait
    }

    /// The earliest and latest end the answers allow, in seconds since the
    /// first answer. Drops what contradicts the rest: progress first, then
    /// all but the latest answer.
    fn window(&mut self) -> (f64, f64) {
        if self.trust_progress {
            if let Some(window) = self.solve_with_progress() {
                return window;
            }
            if let Some(window) = self.solve(None) {
                self.trust_progress = false;
                self.misses += 1;
                return window;
            }
        } else if let Some(window) = self.solve(None) {
            return window;
        }
        // The estimates contradict each other: believe the latest.
        self.misses += 1;
        let latest = self.readings.len() - 1;
        self.readings.drain(..latest);
        let reading = self.readings[0];
        self.trust_progress
            .then(|| self.solve_with_progress())
            .flatten()
            .or_else(|| self.solve(None))
            .unwrap_or_else(|| {
                let left = reading.left.unwrap_or_default();
                (reading.after + left, reading.by + left + 1.0)
            })
    }

    /// Services count a run's progress to 99 or to 100: the ends either
    /// allows.
    fn solve_with_progress(&self) -> Option<(f64, f64)> {
        match (self.solve(Some(99.0)), self.solve(Some(100.0))) {
            (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
            (a, b) => a.or(b),
        }
    }

    /// The range of ends that fit every constraint, if any does; with
    /// progress read as `floor(scale * share done)` when a scale is given.
    fn solve(&self, progress_scale: Option<f64>) -> Option<(f64, f64)> {
        let (first, last) = (self.readings.first()?, self.readings.last()?);
        // Each constraint is `a·S + b·E <= c`, S the run's start, E its end.
        let mut constraints: Vec<[f64; 3]> = vec![
            // The run started before the first running answer...
            [1.0, 0.0, first.by],
            // ...and is not over at the latest one.
            [0.0, -1.0, -last.after],
            // Far bounds, so the polygon is bounded whatever else holds.
            [-1.0, 0.0, -(first.after - 1e6)],
            [0.0, 1.0, last.by + 1e6],
        ];
        if let (Some(queued_at), Some(_)) = (self.queued_at, progress_scale) {
            constraints.push([-1.0, 0.0, -queued_at]);
        }
        for reading in &self.readings {
            let (made_by, made_after) = (reading.by, reading.after);
            if let Some(left) = reading.left {
                constraints.push([0.0, -1.0, -(made_after + left)]);
                constraints.push([0.0, 1.0, made_by + left + 1.0]);
            }
            if let (Some(progress), Some(scale)) = (reading.progress, progress_scale) {
                let low = f64::from(progress) / scale;
                let high = (f64::from(progress) + 1.0) / scale;
                // (t - S) >= low (E - S), t at its latest.
                constraints.push([1.0 - low, low, made_by]);
                if high < 1.0 {
                    // (t - S) <= high (E - S), t at its earliest.
                    constraints.push([-(1.0 - high), -high, -made_after]);
                }
            }
        }
        let fits = |s: f64, e: f64| {
            constraints
                .iter()
                .all(|[a, b, c]| a * s + b * e <= c + 1e-6 * (1.0 + c.abs()))
        };
        // The polygon's corners: where two constraints meet and all hold.
        let mut range: Option<(f64, f64)> = None;
        for (i, [a1, b1, c1]) in constraints.iter().enumerate() {
            for [a2, b2, c2] in &constraints[i + 1..] {
                let det = a1 * b2 - a2 * b1;
                if det.abs() < 1e-12 {
                    continue;
                }
                let s = (c1 * b2 - c2 * b1) / det;
                let e = (a1 * c2 - a2 * c1) / det;
                if fits(s, e) {
                    range = Some(match range {
                        None => (e, e),
                        Some((low, high)) => (low.min(e), high.max(e)),
                    });
                }
            }
        }
        range
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn answer(at: f64, status: TaskStatus, progress: u8, left: Option<u64>) -> Task {
        Task {
            task_id: "t".into(),
            task_type: None,
            queue_position: (status == TaskStatus::Queued).then_some(1),
            status,
            progress: Some(progress),
            time_left: left.map(Duration::from_secs),
            create_time: None,
            error_code: None,
            error_message: None,
            output: Default::default(),
            trace_id: None,
            received_at: UNIX_EPOCH + Duration::from_secs(1_800_000_000) + secs(at),
        }
    }

    fn secs(seconds: f64) -> Duration {
        Duration::from_secs_f64(seconds)
    }

    /// A task as the fake service tells it: `queued` for `queue` seconds, then
    /// `running` for `run` seconds, `running_left_time` in whole seconds
    /// rounded down and progress growing linearly to 99.
    struct Timeline {
        queue: f64,
        run: f64,
    }

    impl Timeline {
        fn answer(&self, at: f64) -> Option<Task> {
            let end = self.queue + self.run;
            if at < self.queue {
                Some(answer(at, TaskStatus::Queued, 0, None))
            } else if at < end {
                let progress = ((at - self.queue) / self.run * 99.0).floor() as u8;
                let left = (end - at).floor() as u64;
                Some(answer(
                    at,
                    TaskStatus::Running,
                    progress.min(99),
                    Some(left),
                ))
            } else {
                None
            }
        }
    }

    /// What polling a timeline came to.
    struct Polled {
        /// How late success was seen, in seconds.
        late: f64,
        requests: u32,
        waits: Vec<f64>,
    }

    /// Polls the timeline from `start` as the pipeline does, each answer
    /// made as the request arrives and taking `latency` to come back.
    fn poll(timeline: &Timeline, start: f64, latency: f64) -> Polled {
        let mut schedule = PollSchedule::new();
        let (mut at, mut requests, mut waits) = (start, 0, Vec::new());
        loop {
            requests += 1;
            let Some(mut task) = timeline.answer(at) else {
                let late = at - (timeline.queue + timeline.run);
                return Polled {
                    late,
                    requests,
                    waits,
                };
            };
            task.received_at += secs(latency);
            let wait = schedule.after(&task).as_secs_f64();
            waits.push(wait);
            at += latency + wait;
            assert!(requests < 100, "never ends: {waits:?}");
        }
    }

    /// Mean lateness and mean requests over the runs.
    fn means(runs: &[Polled]) -> (f64, f64) {
        let n = runs.len() as f64;
        (
            runs.iter().map(|r| r.late).sum::<f64>() / n,
            runs.iter().map(|r| f64::from(r.requests)).sum::<f64>() / n,
        )
    }

    #[test]
    fn notices_success_soon_with_few_requests() {
        // The mix of issue 6 (and of `benches/notice.rs`), polled from the
        // task's creation or a little after. The official Python SDK's
        // schedule is 0.7 s late at 3.75 requests on it.
        let mut runs = Vec::new();
        for run in [2.3, 3.7, 5.1, 7.9] {
            for start in [0.0, 0.05, 0.1, 0.15, 0.2, 0.25] {
                let polled = poll(&Timeline { queue: 0.3, run }, start, 0.002);
                assert!(
                    (0.0..=0.6).contains(&polled.late) && polled.requests <= 4,
                    "{run} s from {start}: {} s late, {} requests ({:?})",
                    polled.late,
                    polled.requests,
                    polled.waits
                );
                runs.push(polled);
            }
        }
        let (late, requests) = means(&runs);
        assert!(late <= 0.25, "{late} s late on average");
        assert!(requests < 3.75, "{requests} requests on average");
    }

    #[test]
    fn any_length_is_seen_soon() {
        let mut runs = Vec::new();
        for run in [1.5, 2.3, 3.7, 4.4, 5.1, 7.9, 10.0, 20.7, 33.3] {
            for step in 0..20 {
                let start = f64::from(step) * 0.015;
                runs.push(poll(&Timeline { queue: 0.3, run }, start, 0.002));
            }
        }
        let (late, requests) = means(&runs);
        assert!(late <= 0.25, "{late} s late on average");
        assert!(requests <= 3.6, "{requests} requests on average");
        assert!(runs.iter().all(|r| r.late <= 0.6 && r.requests <= 5));
    }

    #[test]
    fn other_queues_lengths_and_latencies_stay_reasonable() {
        for queue in [0.0, 0.3, 1.2, 4.0] {
            for run in [0.4, 1.0, 1.7, 12.3, 29.5, 95.0, 600.0] {
                for latency in [0.001, 0.08] {
                    let polled = poll(&Timeline { queue, run }, 0.0, latency);
                    let what = format!("{queue} s queued, {run} s running, {latency} s latency");
                    // A run shorter than the waits while queued may be over
                    // before the first running answer.
                    let allowed = if run < NEXT_IN_QUEUE.as_secs_f64() {
                        NEXT_IN_QUEUE.as_secs_f64()
                    } else {
                        0.6
                    };
                    assert!(polled.late <= allowed, "{what}: {} s late", polled.late);
                    // A few while queued, a few for the run, and one a minute
                    // for long runs.
                    let expected = 7 + (run / MAX_SLEEP.as_secs_f64()) as u32;
                    assert!(
                        polled.requests <= expected,
                        "{what}: {} requests ({:?})",
                        polled.requests,
                        polled.waits
                    );
                    assert!(polled.waits.iter().all(|w| *w >= MIN_GAP.as_secs_f64()));
                }
            }
        }
    }

    #[test]
    fn sleeps_until_the_estimated_end() {
        let mut schedule = PollSchedule::new();
        assert_eq!(
            schedule.after(&answer(0.0, TaskStatus::Queued, 0, None)),
            FIRST_BACKOFF
        );
        // 5 s left: the end lies in [5.5, 6.5); the next poll goes a little
        // past its middle.
        let wait = schedule.after(&answer(0.5, TaskStatus::Running, 2, Some(5)));
        assert!(
            (5.4..=5.7).contains(&wait.as_secs_f64()),
            "{wait:?} after 5 s left"
        );
        // Still running then, progress (and the previous answer) pin the end
        // down: the poll after goes just past it.
        let wait = schedule.after(&answer(6.05, TaskStatus::Running, 91, Some(0)));
        assert!(
            (0.3..=0.7).contains(&wait.as_secs_f64()),
            "{wait:?} after 91% at 6.05 s"
        );
        // An hour left: a poll within the minute, in case the estimate is off.
        let mut schedule = PollSchedule::new();
        assert_eq!(
            schedule.after(&answer(0.0, TaskStatus::Running, 0, Some(3600))),
            MAX_SLEEP
        );
    }

    #[test]
    fn a_wrong_estimate_is_polled_ever_more_calmly() {
        // A service that says "0 s left" for a minute.
        let mut schedule = PollSchedule::new();
        let mut at = 0.0;
        let mut waits = Vec::new();
        while at < 60.0 {
            let wait = schedule.after(&answer(at, TaskStatus::Running, 99, Some(0)));
            waits.push(wait.as_secs_f64());
            at += wait.as_secs_f64();
        }
        assert!(waits.iter().all(|w| *w >= MIN_GAP.as_secs_f64()));
        assert!(
            waits.len() <= 16,
            "{} polls in a minute: {waits:?}",
            waits.len()
        );
        assert_eq!(waits.last().copied(), Some(MAX_BACKOFF.as_secs_f64()));
    }

    #[test]
    fn backs_off_without_an_estimate() {
        let mut schedule = PollSchedule::new();
        let waits: Vec<u128> = (0..7)
            .map(|i| {
                let task = answer(f64::from(i), TaskStatus::Running, 10, None);
                schedule.after(&task).as_millis()
            })
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 10000, 10000]);
        // Far back in the queue, the same; next in line, at most 2 s.
        let mut schedule = PollSchedule::new();
        let mut queued = answer(0.0, TaskStatus::Queued, 0, None);
        queued.queue_position = Some(7);
        let waits: Vec<u128> = (0..6)
            .map(|_| schedule.after(&queued).as_millis())
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 10000]);
        queued.queue_position = Some(1);
        assert_eq!(schedule.after(&queued), NEXT_IN_QUEUE);
    }
}
