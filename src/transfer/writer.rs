//! The writer of one file: three threads joined by bounded queues, so that
//! the network, SHA-256 and the disk all go at once and none waits for the
//! others while its queue has room.
//!
//! - The hash thread hashes every byte as it arrives.
//! - The disk thread copies them into the file (the page cache). Its queue
//!   is deeper (`DISK_DEPTH` batches, 4 MiB), to ride out a moment when the
//!   disk is busy.
//! - The write-back thread asks the disk to write each 8 MiB the disk thread
//!   has finished, and waits for the one before: dirty pages stay few, so no
//!   `write` is ever throttled by the kernel, and the final sync finds at
//!   most a few megabytes left. The disk thread never waits for it.
//!
//! The promise kept: when [`Writer::finish`] returns, the file is synced,
//! so it can take its final name. Memory stays flat whatever the file's
//! size: the queues are bounded and share the same buffers.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

/// Feeds one file's hash and disk threads.
pub(super) struct Writer {
    hash: Stage<String>,
    disk: Stage<u64>,
    /// Small pieces from the network, gathered into one write: handing the
    /// threads every few kilobytes costs more than the copy.
    pending: BytesMut,
}

/// What a finished writer wrote: the file is synced to disk.
#[derive(Debug)]
pub(super) struct Written {
    pub size: u64,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
}

#[derive(Clone)]
enum Command {
    Data(Bytes),
    /// Forget everything written: the file starts over. The disk thread
    /// says when the file is empty, so nothing said about the new bytes
    /// (the staged file's record) can reach the disk before the old bytes
    /// are gone.
    Restart(Emptied),
    /// Tell once every command before is done (the file set to the bytes
    /// it keeps): another hand may then write into it.
    Ready(Emptied),
}

/// Told once the file is empty; dropped unsent if the disk thread fails.
type Emptied = Arc<Mutex<Option<oneshot::Sender<()>>>>;

/// One thread and the queue that feeds it; it ends with a `T`. The thread
/// is its own, not one of tokio's blocking pool: it lives as long as its
/// file, and hundreds of files at once must never fill the pool that every
/// transfer's short blocking work (a record, a sync) waits on.
struct Stage<T> {
    sender: Option<mpsc::Sender<Command>>,
    worker: oneshot::Receiver<std::io::Result<T>>,
    /// Why the thread could not be started, if it could not.
    not_started: Option<std::io::Error>,
}

/// How much to gather before handing it to the threads.
const BATCH: usize = 128 << 10;
/// Batches waiting for the hash thread: it is never held up by the disk, so
/// a short queue does.
const HASH_DEPTH: usize = 8;
/// Batches waiting for the disk thread: 4 MiB. Writes go to the page cache
/// and the write-back thread keeps it from throttling them, so the disk
/// thread only lags for a moment; memory stays under the 32 MiB target.
const DISK_DEPTH: usize = 32;
/// The disk is asked to write the file in pieces of this many bytes.
const WRITE_BACK_EVERY: u64 = 8 << 20;

impl Writer {
    /// Starts the threads that own `file` until [`Writer::finish`].
    #[cfg(test)]
    pub(super) fn start(file: File) -> Writer {
        Writer::resume(file, 0, Sha256::new())
    }

    /// Starts the threads that own `file`, whose first `kept` bytes an
    /// earlier run wrote and `hashed` has hashed: new bytes go after them
    /// (the hash is always of the whole file).
    pub(super) fn resume(file: File, kept: u64, hashed: Sha256) -> Writer {
        Writer {
            hash: Stage::start("hash", HASH_DEPTH, move |commands| hash(hashed, commands)),
            disk: Stage::start("disk", DISK_DEPTH, move |commands| {
                write(file, kept, commands)
            }),
            pending: BytesMut::new(),
        }
    }

    /// Appends bytes to the file.
    pub(super) async fn write(&mut self, data: Bytes) -> std::io::Result<()> {
        if !self.pending.is_empty() && self.pending.len() + data.len() > BATCH {
            let batch = self.pending.split().freeze();
            self.send(Command::Data(batch)).await?;
        }
        if data.len() >= BATCH {
            return self.send(Command::Data(data)).await;
        }
        if self.pending.is_empty() {
            // One batch at most, never grown: every queued batch holds no
            // more than it carries.
            self.pending.reserve(BATCH);
        }
        self.pending.extend_from_slice(&data);
        Ok(())
    }

    /// Forgets every byte written so far; returns once the file is empty.
    pub(super) async fn restart(&mut self) -> std::io::Result<()> {
        self.pending.clear();
        let (tell, emptied) = oneshot::channel();
        self.send(Command::Restart(Arc::new(Mutex::new(Some(tell)))))
            .await?;
        if emptied.await.is_ok() {
            return Ok(());
        }
        // The disk thread failed before emptying the file: its result says why.
        self.send(Command::Data(Bytes::new())).await?;
        Err(std::io::Error::other("the file writer stopped"))
    }

    /// Returns once the disk thread has set the file to the bytes it keeps
    /// (it does so as it starts): parts may then write at their offsets
    /// without that truncating them.
    pub(super) async fn ready(&mut self) -> std::io::Result<()> {
        let (tell, done) = oneshot::channel();
        self.send(Command::Ready(Arc::new(Mutex::new(Some(tell)))))
            .await?;
        if done.await.is_ok() {
            return Ok(());
        }
        self.send(Command::Data(Bytes::new())).await?;
        Err(std::io::Error::other("the file writer stopped"))
    }

    /// Hands the command to both threads (the data is shared, not copied).
    async fn send(&mut self, command: Command) -> std::io::Result<()> {
        let hashed = self.hash.send(command.clone()).await;
        let written = self.disk.send(command).await;
        if written && hashed {
            return Ok(());
        }
        // A thread stopped: the disk thread failed (the hash thread cannot),
        // and its result says why.
        self.hash.sender = None;
        self.disk.sender = None;
        match self.disk.join().await {
            Err(e) => Err(e),
            Ok(_) => Err(std::io::Error::other("the file writer stopped")),
        }
    }

    /// Flushes to disk and gives the size and the hash.
    pub(super) async fn finish(mut self) -> std::io::Result<Written> {
        if !self.pending.is_empty() {
            let rest = self.pending.split().freeze();
            self.send(Command::Data(rest)).await?;
        }
        self.hash.sender = None;
        self.disk.sender = None;
        let size = self.disk.join().await?;
        let sha256 = self.hash.join().await?;
        Ok(Written { size, sha256 })
    }
}

impl<T: Send + 'static> Stage<T> {
    fn start(
        name: &str,
        depth: usize,
        work: impl FnOnce(mpsc::Receiver<Command>) -> std::io::Result<T> + Send + 'static,
    ) -> Stage<T> {
        let (sender, receiver) = mpsc::channel(depth);
        let (done, worker) = oneshot::channel();
        let started = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let _ = done.send(work(receiver));
            });
        match started {
            Ok(_) => Stage {
                sender: Some(sender),
                worker,
                not_started: None,
            },
            // No thread (the process is out of them): every send fails, and
            // the join says why.
            Err(e) => Stage {
                sender: None,
                worker,
                not_started: Some(e),
            },
        }
    }

    /// False if the thread has stopped.
    async fn send(&self, command: Command) -> bool {
        match &self.sender {
            Some(sender) => sender.send(command).await.is_ok(),
            None => false,
        }
    }

    /// The thread's result, once its queue is closed.
    async fn join(&mut self) -> std::io::Result<T> {
        if let Some(e) = self.not_started.take() {
            return Err(e);
        }
        match (&mut self.worker).await {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::other(
                "the file writer failed: its thread ended without a result",
            )),
        }
    }
}

/// The hash thread: SHA-256 of everything since the last restart, going
/// on from `hasher` (the bytes the file already held).
fn hash(mut hasher: Sha256, mut commands: mpsc::Receiver<Command>) -> std::io::Result<String> {
    while let Some(command) = commands.blocking_recv() {
        match command {
            Command::Data(data) => hasher.update(&data),
            Command::Restart(_) => hasher = Sha256::new(),
            Command::Ready(_) => {}
        }
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// The disk thread: writes after the `kept` bytes, hands finished pieces to
/// the write-back thread, and at the end syncs the file. Gives the file's
/// size.
fn write(file: File, kept: u64, mut commands: mpsc::Receiver<Command>) -> std::io::Result<u64> {
    let file = Arc::new(file);
    let (pieces, written_back) = std::sync::mpsc::channel::<(u64, u64)>();
    let write_back = {
        let file = file.clone();
        std::thread::Builder::new()
            .name("write-back".to_owned())
            .spawn(move || write_back(&file, written_back))?
    };
    file.set_len(kept)?;
    (&*file).seek(SeekFrom::Start(kept))?;
    let (mut size, mut piece_start) = (kept, kept);
    while let Some(command) = commands.blocking_recv() {
        match command {
            Command::Data(data) => {
                (&*file).write_all(&data)?;
                size += data.len() as u64;
                if size - piece_start >= WRITE_BACK_EVERY {
                    // The write-back thread never stops before this one.
                    let _ = pieces.send((piece_start, size - piece_start));
                    piece_start = size;
                }
            }
            Command::Restart(emptied) => {
                file.set_len(0)?;
                (&*file).seek(SeekFrom::Start(0))?;
                (size, piece_start) = (0, 0);
                let tell = emptied
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(tell) = tell {
                    let _ = tell.send(());
                }
            }
            Command::Ready(done) => {
                let tell = done.lock().unwrap_or_else(PoisonError::into_inner).take();
                if let Some(tell) = tell {
                    let _ = tell.send(());
                }
            }
        }
    }
    drop(pieces);
    let _ = write_back.join();
    file.sync_all()?;
    Ok(size)
}

/// The write-back thread: starts writing each piece as it comes, then waits
/// until the piece before is on disk, so that only a piece or two is ever
/// dirty. Failures are left for the final sync to report.
fn write_back(file: &File, pieces: std::sync::mpsc::Receiver<(u64, u64)>) {
    let mut before: Option<(u64, u64)> = None;
    for piece in pieces {
        sync_range(file, piece, false);
        if let Some(before) = before {
            sync_range(file, before, true);
        }
        before = Some(piece);
    }
}

/// Starts writing a range of the file to disk, and with `wait` waits until
/// it is written. Elsewhere than Linux, the final sync does it all.
fn sync_range(file: &File, (offset, length): (u64, u64), wait: bool) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let flags = if wait {
            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER
        } else {
            libc::SYNC_FILE_RANGE_WRITE
        };
        let (Ok(offset), Ok(length)) = (i64::try_from(offset), i64::try_from(length)) else {
            return;
        };
        // SAFETY: the descriptor is open for the whole call (we hold `file`);
        // the call touches no memory of ours. A failure only means the final
        // sync does more of the work.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset, length, flags);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, length, wait);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_what_it_writes_and_forgets_on_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let mut writer = Writer::start(std::fs::File::create(&path).expect("create"));
        writer
            .write(Bytes::from_static(b"stale"))
            .await
            .expect("write");
        writer.restart().await.expect("restart");
        writer
            .write(Bytes::from_static(b"hel"))
            .await
            .expect("write");
        writer
            .write(Bytes::from(vec![b'l'; BATCH]))
            .await
            .expect("write");
        writer.write(Bytes::from_static(b"o")).await.expect("write");
        let written = writer.finish().await.expect("finish");
        let content = std::fs::read(&path).expect("read");
        assert_eq!(written.size, content.len() as u64);
        assert_eq!(written.size, 3 + BATCH as u64 + 1);
        assert_eq!(written.sha256, format!("{:x}", Sha256::digest(&content)));
        assert!(content.starts_with(b"hel") && content.ends_with(b"lo"));
    }

    #[tokio::test]
    async fn many_pieces_and_a_restart_midway_come_out_whole() {
        // A restart, then a few write-back pieces and a tail:
        // the file and its hash are exactly the bytes after the restart.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let mut writer = Writer::start(std::fs::File::create(&path).expect("create"));
        let piece = |byte: u8| Bytes::from(vec![byte; 1 << 20]);
        for _ in 0..2 {
            writer.write(piece(b'x')).await.expect("write");
        }
        writer.restart().await.expect("restart");
        let mut expected = Vec::new();
        for i in 0..((2 * WRITE_BACK_EVERY as usize) >> 20) + 1 {
            let data = piece(i as u8);
            expected.extend_from_slice(&data);
            writer.write(data).await.expect("write");
        }
        writer
            .write(Bytes::from_static(b"tail"))
            .await
            .expect("write");
        expected.extend_from_slice(b"tail");
        let written = writer.finish().await.expect("finish");
        let content = std::fs::read(&path).expect("read");
        assert!(content == expected, "the file holds other bytes");
        assert_eq!(written.size, expected.len() as u64);
        assert_eq!(written.sha256, format!("{:x}", Sha256::digest(&expected)));
    }
}
