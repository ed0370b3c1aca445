//! How one task of many ended, as `batch` and `listen` report it: a line on
//! stderr, and with `--json` one JSON object a line on stdout:
//! `{"task_id", "dir", "status": "ok"|"error", "exit_code", "files",
//! "bytes", "error"}` (DESIGN.md, "Many tasks").

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// The end of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TaskReport {
    /// The task.
    pub task_id: String,
    /// Its folder.
    pub dir: PathBuf,
    /// `ok` or `error`.
    pub status: ReportStatus,
    /// The exit code a single-task run would have ended with.
    pub exit_code: u8,
    /// How many files its manifest lists (0 on error).
    pub files: usize,
    /// Their total size in bytes (0 on error).
    pub bytes: u64,
    /// What went wrong, in words; `null` when ok.
    pub error: Option<String>,
}

/// Whether the task's folder is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportStatus {
    /// Every file is on disk, verified, in the manifest.
    Ok,
    /// It is not; `error` says why.
    Error,
}

impl TaskReport {
    /// The report of a fetch of `task_id` into `dir` that ended with `result`.
    pub fn new(task_id: &str, dir: &Path, result: &Result<Manifest>) -> TaskReport {
        match result {
            Ok(manifest) => TaskReport {
                task_id: task_id.to_owned(),
                dir: dir.to_owned(),
                status: ReportStatus::Ok,
                exit_code: 0,
                files: manifest.files.len(),
                bytes: manifest.files.iter().map(|f| f.size).sum(),
                error: None,
            },
            Err(error) => TaskReport::failed(task_id, dir, error),
        }
    }

    /// The report of a task that ended with `error`.
    pub fn failed(task_id: &str, dir: &Path, error: &Error) -> TaskReport {
        TaskReport {
            task_id: task_id.to_owned(),
            dir: dir.to_owned(),
            status: ReportStatus::Error,
            exit_code: error.exit_code(),
            files: 0,
            bytes: 0,
            error: Some(error.to_string()),
        }
    }

    /// True when the task's folder is complete.
    pub fn is_ok(&self) -> bool {
        self.status == ReportStatus::Ok
    }

    /// The JSON line (without its newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|e| unreachable!("a report always serialises: {e}"))
    }
}

/// The stderr line: `<task_id>: ok, 9 files, 3145745 bytes in <dir>` or
/// `<task_id>: failed (exit code 5): <error>`.
impl fmt::Display for TaskReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.status, &self.error) {
            (ReportStatus::Ok, _) => write!(
                f,
                "{}: ok, {} files, {} bytes in {}",
                self.task_id,
                self.files,
                self.bytes,
                self.dir.display()
            ),
            (ReportStatus::Error, error) => write!(
                f,
                "{}: failed (exit code {}): {}",
                self.task_id,
                self.exit_code,
                error.as_deref().unwrap_or("no reason given")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_the_contract_fields_in_order() {
        let error = Error::TaskNotFound {
            task_id: "t1".into(),
            trace: crate::TraceId(Some("trace-7".into())),
        };
        let report = TaskReport::failed("t1", Path::new("out/t1"), &error);
        assert_eq!(
            report.to_json_line(),
            format!(
                r#"{{"task_id":"t1","dir":"out/t1","status":"error","exit_code":3,"files":0,"bytes":0,"error":"{error}"}}"#
            )
        );
        assert_eq!(
            report.to_string(),
            format!("t1: failed (exit code 3): {error}")
        );
    }
}
