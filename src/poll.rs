//! When to ask for the task again while it is not done. The sooner success
//! is seen, the more of the links' short life is left for the transfers; but
//! polling every 100 ms for an hour is rude. So: work out when the run can
//! end, poll densely around then, and back off while nothing says.
//!
//! Every running answer, made at `t` (between the request's departure and the
//! answer's arrival), is evidence about the end `E` of the run:
//! - `running_left_time` `L`, in whole seconds with a rounding services do
//!   not agree on (down, nearest, up; some never say less than 1 while
//!   running). Read as `E - t` in `[L - 1 + c, L + c)` for one unknown offset
//!   `c` in `[0, 1]` (1: rounded down, 0.5: nearest, 0: up), a `1` possibly
//!   a clamped `0`. The offset is the same in every answer, so answers narrow
//!   the fraction of `E` but the offset leaves a second open: the window is
//!   `[A, B + 1)`, `A` and `B` the tightest bounds at `c = 0`.
//! - `progress` `p`, the share of the run done by `t`, rounded down, counted
//!   to 99 or to 100 (both are tried): `(t - S) / (E - S)` in
//!   `[p/99, (p+1)/99)`, `S` the run's start, which lies between the last
//!   queued answer and the first running one. These are linear in `(S, E)`:
//!   the ends still possible are a polygon's, and two answers a few seconds
//!   apart pin a linear run's end to a tenth of a second.
//!
//! Where both speak, linear progress must agree with one of the roundings
//! services use (down, nearest, up): then the window is where they overlap,
//! and that picks the rounding. Where it agrees with none (progress not
//! linear in time), or an end it pinned proves wrong, progress is not
//! trusted until the estimates contradict each other (then theirs was the
//! fault), and the estimates' window stands alone, every rounding in it. The rate of a progress that is not linear is not
//! used to narrow it: slowing progress puts the end early, and a window
//! narrowed by it kept the schedule polling before the end (issue 15).
//! Without an estimate, progress per second since the run began predicts the
//! end, and the next poll goes half way there.
//!
//! Once the end is known to within `NARROW`, the next poll goes just past its
//! latest moment and sees success. Until then a window gets a fixed budget,
//! `WINDOW_POLLS`, spent evenly through what is left of it, the last poll
//! just past its latest end: the first, a third of the way in, brings the
//! progress that pins a linear run's end. When nothing tells the rounding,
//! the second of uncertainty it leaves costs a request or lateness, never
//! both without bound. An aimed poll that does not see the end doubles the
//! shortest wait, so a task whose estimates stay wrong is polled ever more
//! calmly.

use std::time::{Duration, SystemTime};

use crate::task::{Task, TaskStatus};

/// The shortest wait between polls: a few requests a second at most.
const MIN_GAP: Duration = Duration::from_millis(250);
/// An end known to within this many seconds is aimed at directly.
const NARROW: f64 = 0.3;
/// How far past the latest possible end to aim, in seconds.
const MARGIN: f64 = 0.05;
/// Without an estimate, the width aimed at directly: a probe would cost a
/// request for sure, aiming at most this much lateness.
const NARROW_WITHOUT_ESTIMATE: f64 = 0.5;
/// Polls spent on a window too wide to aim at, evenly through it, the last
/// just past its latest end: with the queued answer and the first running
/// one, at most five requests for a task whose estimate holds.
const WINDOW_POLLS: u32 = 3;
/// Without an estimate, the share of the predicted time left to wait: half
/// way, so a prediction twice too long still polls before the end.
const TOWARDS_PREDICTED: f64 = 0.5;
/// Without an estimate, the longest wait as a multiple of the time the run
/// has been going: a run predicted from a few percent of progress is still
/// seen if its progress speeds up (the alternative seen: 25 s late for an
/// 8 s run).
const AGE_FACTOR: f64 = 4.0;
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
    /// False once progress proved not to grow linearly since the start.
    trust_progress: bool,
    /// Whether the last wait aimed at an end predicted closely.
    aimed_at_end: bool,
    /// How often an aimed poll missed the end; each doubles the shortest wait.
    misses: u32,
    /// Polls spent on the estimates' window (see `WINDOW_POLLS`).
    window_polls: u32,
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

/// What the estimates say about the end.
enum Estimated {
    /// No answer carried one.
    Nothing,
    /// The end lies here, for some rounding.
    Within(EstimateWindow),
    /// The answers contradict each other.
    Contradiction,
}

/// The estimates' answer: read as rounded up (offset `c` = 0), the end lies
/// in `[a, b)`; for offset `c`, in `[a + c, b + c)`; and after `latest`, when
/// the last answer said the run was going.
#[derive(Clone, Copy, Debug)]
struct EstimateWindow {
    a: f64,
    b: f64,
    latest: f64,
}

/// The offsets of the roundings services use: up, to nearest, down.
const ROUNDINGS: [f64; 3] = [0.0, 0.5, 1.0];

impl EstimateWindow {
    /// Where the end may lie, whatever the rounding.
    fn window(&self) -> (f64, f64) {
        (self.a.max(self.latest), (self.b + 1.0).max(self.latest))
    }

    /// Where linear progress's window meets the windows of the roundings
    /// services use; `None` if it meets none of them.
    fn agreeing(&self, progress: (f64, f64)) -> Option<(f64, f64)> {
        ROUNDINGS
            .iter()
            .filter_map(|c| {
                let rounded = ((self.a + c).max(self.latest), self.b + c);
                overlap(progress, rounded)
            })
            .reduce(|x, y| (x.0.min(y.0), x.1.max(y.1)))
    }
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
            window_polls: 0,
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
            // If progress pinned that end, it is not linear in time.
            self.trust_progress = false;
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
        let Some(target) = self.target(by) else {
            return self.next_backoff();
        };
        self.backoff = FIRST_BACKOFF;
        let shortest = (MIN_GAP * 2u32.pow(self.misses.min(10))).min(MAX_BACKOFF);
        let wait = Duration::from_secs_f64((target.at - by).clamp(0.0, MAX_SLEEP.as_secs_f64()));
        // A poll capped to the longest sleep does not aim at the end.
        self.aimed_at_end = target.aimed && wait < MAX_SLEEP;
        wait.clamp(shortest, MAX_SLEEP)
    }

    fn next_backoff(&mut self) -> Duration {
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        wait
    }

    /// When to poll next, in seconds since the first answer; `None` when
    /// nothing predicts the end.
    fn target(&mut self, now: f64) -> Option<Target> {
        let estimated = match self.estimate_window() {
            Estimated::Contradiction => {
                // The estimates proved wrong: believe the latest, spend a
                // new budget on the window it gives, and hear progress
                // again (its disagreement may have been theirs).
                self.misses += 1;
                let latest = self.readings.len() - 1;
                for reading in &mut self.readings[..latest] {
                    reading.left = None;
                }
                self.window_polls = 0;
                self.trust_progress = true;
                self.estimate_window()
            }
            estimated => estimated,
        };
        let progress = if self.trust_progress {
            let window = self.progress_window();
            self.trust_progress = window.is_some();
            window
        } else {
            None
        };
        let (low, high) = match (estimated, progress) {
            (Estimated::Within(estimate), Some(progress)) => {
                // Linear progress and one rounding that agree pick the end;
                // if none agrees, progress is not linear in time.
                estimate.agreeing(progress).unwrap_or_else(|| {
                    self.trust_progress = false;
                    estimate.window()
                })
            }
            (Estimated::Within(estimate), None) => estimate.window(),
            (_, Some(window)) => return self.progress_alone(now, window),
            (_, None) => return None,
        };
        if high - low <= NARROW {
            self.window_polls += 1;
            return Some(Target {
                at: high + MARGIN,
                aimed: true,
            });
        }
        // A wide window: the polls left in its budget go evenly through
        // what is left of it, the last just past its latest end. The first,
        // a third of the way in, also brings the progress that pins a
        // linear run's end. A poll the longest sleep holds back from the
        // window spends none of it.
        let left = WINDOW_POLLS.saturating_sub(self.window_polls).max(1);
        let at = match left {
            1 => high + MARGIN,
            _ => low + (high - low) / f64::from(left),
        };
        if at - now < MAX_SLEEP.as_secs_f64() {
            self.window_polls += 1;
        }
        Some(Target {
            at,
            aimed: left == 1,
        })
    }

    /// Without an estimate, from linear progress's window: just past it
    /// when it is narrow, else half way to where progress per second puts
    /// the end. Either way no later than `AGE_FACTOR` times the time the
    /// run has been going: a linear reading of a few percent may put the
    /// end far off, and progress that speeds up ends long before it.
    fn progress_alone(&self, now: f64, (low, high): (f64, f64)) -> Option<Target> {
        let target = if high - low <= NARROW_WITHOUT_ESTIMATE {
            Target {
                at: high + MARGIN,
                aimed: true,
            }
        } else {
            let predicted = self.predicted_end()?.clamp(low, high);
            let at = now + TOWARDS_PREDICTED * (predicted - now);
            Target {
                at: at.clamp(low, high),
                aimed: false,
            }
        };
        let started = self.queued_at.unwrap_or(self.readings[0].after);
        let latest = now + AGE_FACTOR * (now - started);
        Some(if target.at > latest {
            Target {
                at: latest,
                aimed: false,
            }
        } else {
            target
        })
    }

    /// Where the estimates put the end, whatever their rounding: for offset
    /// `c`, `E` lies in `[A + c, B + c)`, so over every `c` in `[A, B + 1)`;
    /// and after the latest answer.
    fn estimate_window(&self) -> Estimated {
        let seen_zero = self.readings.iter().any(|r| r.left == Some(0.0));
        let mut bounds: Option<(f64, f64)> = None;
        for reading in &self.readings {
            let Some(left) = reading.left else { continue };
            // A service that never says less than 1 while running may mean 0.
            let clamped = left == 1.0 && !seen_zero;
            let low = reading.after + left - if clamped { 2.0 } else { 1.0 };
            let high = reading.by + left;
            bounds = Some(match bounds {
                None => (low, high),
                Some((a, b)) => (a.max(low), b.min(high)),
            });
        }
        let latest = self.readings.last().map_or(f64::MIN, |r| r.after);
        match bounds {
            None => Estimated::Nothing,
            Some((a, b)) if a >= b => Estimated::Contradiction,
            Some((a, b)) => Estimated::Within(EstimateWindow { a, b, latest }),
        }
    }

    /// Without estimates: the end if the run started half way between the
    /// last queued and the first running answer, or else if progress keeps
    /// the rate it had between the first and the latest running answers.
    /// Progress is read at the top of its rounding, so the prediction errs
    /// early.
    fn predicted_end(&self) -> Option<f64> {
        let (first, last) = (self.readings.first()?, self.readings.last()?);
        let now = f64::from(last.progress?);
        let (start, then) = match self.queued_at {
            Some(queued_at) => ((queued_at + first.by) / 2.0, 0.0),
            None => (first.by, f64::from(first.progress?)),
        };
        // Progress that has not moved says nothing of the rate.
        if now <= then {
            return None;
        }
        let done = now + 1.0;
        let rate = (done - then) / (last.by - start);
        (rate > 0.0 && rate.is_finite()).then(|| last.by + (99.5 - done).max(0.0) / rate)
    }

    /// Services count a run's progress to 99 or to 100: the ends either
    /// allows, if progress grows linearly.
    fn progress_window(&self) -> Option<(f64, f64)> {
        match (self.solve(99.0), self.solve(100.0)) {
            (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
            (a, b) => a.or(b),
        }
    }

    /// The range of ends that fit every constraint, if any does, progress
    /// read as `floor(scale * share done)`.
    fn solve(&self, scale: f64) -> Option<(f64, f64)> {
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
        if let Some(queued_at) = self.queued_at {
            constraints.push([-1.0, 0.0, -queued_at]);
        }
        for reading in &self.readings {
            if let Some(progress) = reading.progress {
                let low = f64::from(progress) / scale;
                let high = (f64::from(progress) + 1.0) / scale;
                // (t - S) >= low (E - S), t at its latest.
                constraints.push([1.0 - low, low, reading.by]);
                if high < 1.0 {
                    // (t - S) <= high (E - S), t at its earliest.
                    constraints.push([-(1.0 - high), -high, -reading.after]);
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

/// When to poll next, and whether that is just past a closely predicted end.
struct Target {
    at: f64,
    aimed: bool,
}

/// Where two windows overlap, if they do.
fn overlap(a: (f64, f64), b: (f64, f64)) -> Option<(f64, f64)> {
    let (low, high) = (a.0.max(b.0), a.1.min(b.1));
    (low <= high).then_some((low, high))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    use fake_tripo::{Estimates, LeftTime, ProgressCurve};

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
            trace_id: crate::task::TraceId::default(),
            received_at: UNIX_EPOCH + Duration::from_secs(1_800_000_000) + secs(at),
        }
    }

    fn secs(seconds: f64) -> Duration {
        Duration::from_secs_f64(seconds)
    }

    /// A task as the fake service tells it: `queued` for `queue` seconds, then
    /// `running` for `run` seconds, reporting progress and time left by the
    /// convention given.
    struct Timeline {
        queue: f64,
        run: f64,
        estimates: Estimates,
    }

    impl Timeline {
        fn new(queue: f64, run: f64) -> Timeline {
            Timeline {
                queue,
                run,
                estimates: Estimates::default(),
            }
        }

        fn answer(&self, at: f64) -> Option<Task> {
            if at < self.queue {
                return Some(answer(at, TaskStatus::Queued, 0, None));
            }
            if at >= self.queue + self.run {
                return None;
            }
            let (progress, left) = self
                .estimates
                .running(secs(at - self.queue), secs(self.run));
            Some(answer(
                at,
                TaskStatus::Running,
                progress as u8,
                u64::try_from(left).ok(),
            ))
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

    /// The mix of issue 6 (and of `benches/notice.rs`) under one convention,
    /// polled from the task's creation or a little after.
    fn mix(estimates: Estimates) -> Vec<Polled> {
        let mut runs = Vec::new();
        for run in [2.3, 3.7, 5.1, 7.9] {
            for start in [0.0, 0.05, 0.1, 0.15, 0.2, 0.25] {
                let timeline = Timeline {
                    estimates,
                    ..Timeline::new(0.3, run)
                };
                runs.push(poll(&timeline, start, 0.002));
            }
        }
        runs
    }

    #[test]
    fn success_is_seen_soon_whatever_the_rounding_of_the_estimate() {
        // The official Python SDK's schedule is 0.7 s late at 3.75 requests
        // on the mix; the targets of issue 15 are 0.3 s and 4 (5 at most).
        for left in [
            LeftTime::Floor,
            LeftTime::FloorAtLeastOne,
            LeftTime::Nearest,
            LeftTime::Ceiling,
            LeftTime::Absent,
        ] {
            let runs = mix(Estimates::left(left));
            let (late, requests) = means(&runs);
            assert!(late <= 0.25, "{left:?}: {late} s late on average");
            assert!(requests <= 4.0, "{left:?}: {requests} requests on average");
            // One run may see its end up to the window's first third late.
            for polled in &runs {
                assert!(
                    (0.0..=0.7).contains(&polled.late) && polled.requests <= 5,
                    "{left:?}: {} s late, {} requests ({:?})",
                    polled.late,
                    polled.requests,
                    polled.waits
                );
            }
        }
    }

    #[test]
    fn progress_out_of_step_with_time_never_costs_more_than_the_budget() {
        // Progress that is not linear cannot tell the estimate's rounding:
        // the window stays a second or more wide and gets the budget, three
        // polls after the first running answer, whatever the rounding. The
        // schedule of issue 15's first round spent six on progress ahead.
        let roundings = [
            LeftTime::Floor,
            LeftTime::FloorAtLeastOne,
            LeftTime::Nearest,
            LeftTime::Ceiling,
        ];
        for curve in [
            ProgressCurve::Ahead,
            ProgressCurve::Behind,
            ProgressCurve::Stalls,
        ] {
            for left in roundings {
                let runs = mix(Estimates {
                    left,
                    progress: curve,
                });
                let (late, requests) = means(&runs);
                if left == LeftTime::Floor {
                    assert!(late <= 0.3, "{curve:?}: {late} s late on average");
                }
                assert!(
                    requests <= 5.0,
                    "{left:?}, {curve:?}: {requests} requests on average"
                );
                for polled in &runs {
                    // Never past the window's latest end (a second for the
                    // rounding, plus a second or so of the run's phase).
                    assert!(
                        (0.0..=1.6).contains(&polled.late) && polled.requests <= 5,
                        "{left:?}, {curve:?}: {} s late, {} requests ({:?})",
                        polled.late,
                        polled.requests,
                        polled.waits
                    );
                }
            }
        }
    }

    /// The schedule's decisions, one row each: a task queued 0.3 s then
    /// running 3.7 s (so it ends at 4.0 s), told by a convention, answered
    /// at the times given (each as the request arrives); where the poll
    /// after the last of them must go.
    #[test]
    fn each_decision_puts_the_next_poll_where_the_evidence_says() {
        use LeftTime::*;
        use ProgressCurve::*;
        /// A row: what it shows, the convention, the answers' times, and
        /// the earliest and latest the next poll may go.
        type Row = (
            &'static str,
            LeftTime,
            ProgressCurve,
            &'static [f64],
            (f64, f64),
        );
        let table: &[Row] = &[
            // "3 s left" at 0.5 s: the end lies in [2.5, 4.5) whatever the
            // rounding; the first of three polls goes a third of the way in.
            ("a first estimate", Floor, Linear, &[0.0, 0.5], (3.0, 3.4)),
            // Rounded up, "4 s left": [3.5, 5.5), and a third in is past
            // the end already.
            (
                "a first estimate, rounded up",
                Ceiling,
                Linear,
                &[0.0, 0.5],
                (4.1, 4.25),
            ),
            // Linear progress at 3.2 s agrees with one rounding: just past
            // the end it pins.
            (
                "linear progress, floor",
                Floor,
                Linear,
                &[0.0, 0.5, 3.2],
                (4.0, 4.2),
            ),
            (
                "linear progress, at least 1",
                FloorAtLeastOne,
                Linear,
                &[0.0, 0.5, 3.2],
                (4.0, 4.2),
            ),
            // Rounded to nearest or up, "1 s left" may be a clamped 0: two
            // roundings fit, the window stays wide, the next poll stays
            // inside it; the answer there pins the end.
            (
                "linear progress, nearest",
                Nearest,
                Linear,
                &[0.0, 0.5, 3.2],
                (3.45, 4.0),
            ),
            (
                "linear progress, nearest, then",
                Nearest,
                Linear,
                &[0.0, 0.5, 3.2, 3.86],
                (4.0, 4.2),
            ),
            (
                "linear progress, ceiling",
                Ceiling,
                Linear,
                &[0.0, 0.5, 3.2],
                (3.45, 4.0),
            ),
            (
                "linear progress, ceiling, then",
                Ceiling,
                Linear,
                &[0.0, 0.5, 3.2, 3.86],
                (4.0, 4.2),
            ),
            // No estimate: half way to where linear progress puts the end.
            (
                "progress alone",
                Absent,
                Linear,
                &[0.0, 0.5, 2.2],
                (2.9, 4.0),
            ),
            (
                "progress alone, then",
                Absent,
                Linear,
                &[0.0, 0.5, 2.2, 3.46],
                (4.0, 4.3),
            ),
            // Progress behind time disagrees with every rounding: the budget
            // goes evenly through the estimate's window, the last poll just
            // past its latest end.
            (
                "progress behind",
                Floor,
                Behind,
                &[0.0, 0.5, 3.2],
                (3.45, 4.0),
            ),
            (
                "progress behind, then",
                Floor,
                Behind,
                &[0.0, 0.5, 3.2, 3.68],
                (4.0, 4.3),
            ),
            // Progress ahead of time looks linear with a rounding up; the
            // end it pins proves wrong, and the last poll goes past the
            // window's latest end, not back to the rate.
            (
                "progress ahead, missed",
                Floor,
                Ahead,
                &[0.0, 0.5, 3.2, 3.45],
                (4.0, 4.3),
            ),
        ];
        for (name, left, progress, times, (earliest, latest)) in table {
            let timeline = Timeline {
                estimates: Estimates {
                    left: *left,
                    progress: *progress,
                },
                ..Timeline::new(0.3, 3.7)
            };
            let mut schedule = PollSchedule::new();
            let mut next = 0.0;
            for at in *times {
                let task = timeline.answer(*at).expect("still going");
                next = at + schedule.after(&task).as_secs_f64();
            }
            assert!(
                (*earliest..=*latest).contains(&next),
                "{name}: next poll at {next:.2} s, expected in [{earliest}, {latest}]"
            );
        }
    }

    #[test]
    fn an_estimate_that_jumps_up_gets_a_new_budget_and_progress_a_new_hearing() {
        // Until half way the estimate counts down a run 40% shorter, and
        // linear progress, which disagrees, is not believed; when the
        // estimate jumps up it has proved wrong, and progress pins the end.
        let runs = mix(Estimates::left(LeftTime::Jumps));
        let (late, requests) = means(&runs);
        assert!(late <= 0.35, "{late} s late on average");
        assert!(requests <= 5.5, "{requests} requests on average");
        for polled in &runs {
            assert!(
                polled.late <= 0.8 && polled.requests <= 6,
                "{} s late, {} requests ({:?})",
                polled.late,
                polled.requests,
                polled.waits
            );
        }
    }

    #[test]
    fn without_an_estimate_progress_that_speeds_up_is_still_seen() {
        // A linear reading of the first percent puts the end of a run whose
        // progress speeds up several times too far (25 s late for the 7.9 s
        // run, before); the wait is held to a few times the run's age, so
        // the end is seen before twice the run's length passes again. (A
        // guard, not a good figure: without an estimate, progress that
        // speeds up costs seconds.)
        for run in [2.3, 3.7, 5.1, 7.9] {
            let timeline = Timeline {
                estimates: Estimates {
                    left: LeftTime::Absent,
                    progress: ProgressCurve::Behind,
                },
                ..Timeline::new(0.3, run)
            };
            let polled = poll(&timeline, 0.0, 0.002);
            assert!(
                polled.late <= 2.0 * run,
                "{run} s run: {} s late ({:?})",
                polled.late,
                polled.waits
            );
        }
    }

    #[test]
    fn any_length_is_seen_soon() {
        let mut runs = Vec::new();
        for run in [1.5, 2.3, 3.7, 4.4, 5.1, 7.9, 10.0, 20.7, 33.3] {
            for step in 0..20 {
                let start = f64::from(step) * 0.015;
                runs.push(poll(&Timeline::new(0.3, run), start, 0.002));
            }
        }
        let (late, requests) = means(&runs);
        assert!(late <= 0.25, "{late} s late on average");
        // 4.07 since the window's budget (4.0 before it): a few long runs
        // spend the budget's third poll.
        assert!(requests <= 4.1, "{requests} requests on average");
        assert!(runs.iter().all(|r| r.late <= 0.7 && r.requests <= 5));
    }

    #[test]
    fn other_queues_lengths_and_latencies_stay_reasonable() {
        for queue in [0.0, 0.3, 1.2, 4.0] {
            for run in [0.4, 1.0, 1.7, 12.3, 29.5, 95.0, 600.0] {
                for latency in [0.001, 0.08] {
                    let polled = poll(&Timeline::new(queue, run), 0.0, latency);
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
                    let expected = 8 + (run / MAX_SLEEP.as_secs_f64()) as u32;
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
        // 5 s left, whatever the rounding: the end lies in [4.5, 6.5); the
        // next poll goes early in that window.
        let wait = schedule.after(&answer(0.5, TaskStatus::Running, 3, Some(5)));
        assert!(
            (4.0..=4.8).contains(&wait.as_secs_f64()),
            "{wait:?} after 5 s left"
        );
        // Still running then: the progress since the first running answer
        // pins the end (6.0 s, the run having started at 0.3 s), and the poll
        // after goes just past it.
        let at = 0.5 + wait.as_secs_f64();
        let progress = ((at - 0.3) / 5.7 * 99.0).floor() as u8;
        let wait = schedule.after(&answer(at, TaskStatus::Running, progress, Some(1)));
        let next = at + wait.as_secs_f64();
        assert!(
            (6.0..=6.3).contains(&next),
            "next poll at {next} s after {progress}% at {at} s"
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
