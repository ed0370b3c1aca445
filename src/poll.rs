//! When to ask for the task again while it is not done. The sooner success
//! is seen, the more of the links' short life is left for the transfers; but
//! polling every 100 ms for an hour is rude. So: sleep until just after the
//! service's own predicted end, poll briskly around it, and back off while
//! there is no estimate.

use std::time::Duration;

use crate::api::{Task, TaskStatus};

/// The brisk pace around a predicted end: a few requests a second at most.
const BRISK: Duration = Duration::from_millis(300);
/// How far past the estimate to aim. The service rounds its estimate down to
/// whole seconds, so the true end lies within the second after it.
const PAST_ESTIMATE: Duration = Duration::from_millis(300);
/// The first wait when there is no estimate; it doubles from there.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait without an estimate.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The longest wait even with an estimate, so a wrong one is caught.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// The waits between polls of one task.
#[derive(Debug)]
pub(crate) struct PollSchedule {
    backoff: Duration,
}

impl PollSchedule {
    pub(crate) fn new() -> PollSchedule {
        PollSchedule {
            backoff: FIRST_BACKOFF,
        }
    }

    /// How long to wait after this answer before the next poll.
    pub(crate) fn after(&mut self, task: &Task) -> Duration {
        match (&task.status, task.time_left) {
            (TaskStatus::Running, Some(left)) if left >= Duration::from_secs(1) => {
                self.backoff = FIRST_BACKOFF;
                (left + PAST_ESTIMATE).min(MAX_SLEEP)
            }
            (TaskStatus::Running, Some(_)) => BRISK,
            _ => {
                let wait = self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                wait
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn task(status: TaskStatus, time_left: Option<u64>) -> Task {
        Task {
            task_id: "t".into(),
            task_type: None,
            status,
            progress: None,
            queue_position: None,
            time_left: time_left.map(Duration::from_secs),
            create_time: None,
            error_code: None,
            error_message: None,
            output: Default::default(),
            trace_id: None,
            received_at: SystemTime::now(),
        }
    }

    #[test]
    fn sleeps_until_just_past_the_estimate() {
        let mut schedule = PollSchedule::new();
        assert_eq!(
            schedule.after(&task(TaskStatus::Running, Some(5))),
            Duration::from_millis(5300)
        );
        assert_eq!(schedule.after(&task(TaskStatus::Running, Some(0))), BRISK);
        assert_eq!(
            schedule.after(&task(TaskStatus::Running, Some(3600))),
            MAX_SLEEP
        );
    }

    #[test]
    fn backs_off_without_an_estimate() {
        let mut schedule = PollSchedule::new();
        let waits: Vec<u128> = (0..7)
            .map(|_| schedule.after(&task(TaskStatus::Queued, None)).as_millis())
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 10000, 10000]);
    }
}
