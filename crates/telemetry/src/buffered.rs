//! Log lines written to stderr in batches by a background thread, so a request never waits
//! on a `write(2)`: the gateway logs one access line per request, and at thousands of
//! requests per second one system call each is a measurable share of the request's cost.
//! Envoy's file access log does the same (flushed every second by default); here lines wait
//! at most [`FLUSH_INTERVAL`], or are written at once when [`FLUSH_BYTES`] are waiting.
//!
//! Lines still in memory are written when the [`TelemetryGuard`](crate::TelemetryGuard) is
//! shut down or dropped; a process killed with SIGKILL loses at most one interval of lines.

use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// Longest time a line waits in memory.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Bytes waiting that wake the writer thread before the interval ends.
pub const FLUSH_BYTES: usize = 64 * 1024;
/// Bytes waiting beyond which the writing thread writes them itself (the writer thread is
/// behind, e.g. stderr is a slow pipe): memory stays bounded and nothing is dropped.
const MAX_BUFFERED: usize = 8 * 1024 * 1024;

/// Where batches go: stderr, or a test's buffer.
type Sink = Box<dyn Fn(&[u8]) + Send + Sync>;

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    sink: Sink,
}

impl Shared {
    fn new(sink: Sink) -> Self {
        Self {
            pending: Mutex::default(),
            wake: Condvar::new(),
            sink,
        }
    }
}

fn to_stderr(bytes: &[u8]) {
    let _ = std::io::stderr().write_all(bytes);
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    closed: bool,
}

/// A `MakeWriter` for `tracing_subscriber::fmt` that batches what it is given.
#[derive(Clone)]
pub struct BufferedStderr {
    shared: Arc<Shared>,
}

/// Stops the writer thread of a [`BufferedStderr`] after writing what is pending.
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BufferedStderr {
    /// The writer and the handle that stops (and flushes) it.
    pub fn start() -> (Self, Flusher) {
        Self::start_with(Box::new(to_stderr))
    }

    fn start_with(sink: Sink) -> (Self, Flusher) {
        let shared = Arc::new(Shared::new(sink));
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("gantry-log".into())
                .spawn(move || write_loop(&shared))
                .ok()
        };
        let writer = Self {
            shared: shared.clone(),
        };
        (writer, Flusher { shared, thread })
    }

    pub(crate) fn append(&self, buf: &[u8]) {
        let mut pending = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if pending.closed {
            drop(pending);
            (self.shared.sink)(buf);
            return;
        }
        pending.bytes.extend_from_slice(buf);
        let waiting = pending.bytes.len();
        if waiting >= MAX_BUFFERED {
            let bytes = std::mem::take(&mut pending.bytes);
            drop(pending);
            (self.shared.sink)(&bytes);
        } else if waiting >= FLUSH_BYTES {
            self.shared.wake.notify_one();
        }
    }
}

fn write_loop(shared: &Shared) {
    let mut spare = Vec::new();
    loop {
        let mut pending = shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if pending.bytes.len() < FLUSH_BYTES && !pending.closed {
            pending = shared
                .wake
                .wait_timeout(pending, FLUSH_INTERVAL)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        // Swap buffers so the lock is not held while writing.
        std::mem::swap(&mut pending.bytes, &mut spare);
        let closed = pending.closed;
        drop(pending);
        if !spare.is_empty() {
            (shared.sink)(&spare);
            spare.clear();
        }
        if closed {
            return;
        }
    }
}

impl Flusher {
    /// Writes what is pending and stops the thread; later lines go straight to stderr.
    pub fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.shared
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .closed = true;
            self.shared.wake.notify_one();
            let _ = thread.join();
        } else {
            // No thread could be started: write what is pending from here.
            let mut pending = self
                .shared
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            pending.closed = true;
            (self.shared.sink)(&std::mem::take(&mut pending.bytes));
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher").finish_non_exhaustive()
    }
}

/// One event's writer: `fmt` formats the whole line first and hands it over in one call.
pub struct LineWriter<'a>(&'a BufferedStderr);

impl std::io::Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BufferedStderr {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a test sink received: the bytes, and in how many writes.
    type Seen = Arc<Mutex<(Vec<u8>, usize)>>;

    fn collecting() -> (Sink, Seen) {
        let seen: Seen = Arc::default();
        let sink = {
            let seen = seen.clone();
            Box::new(move |bytes: &[u8]| {
                let mut seen = seen.lock().unwrap();
                seen.0.extend_from_slice(bytes);
                seen.1 += 1;
            })
        };
        (sink, seen)
    }

    #[test]
    fn lines_arrive_in_order_in_few_writes_and_all_by_stop() {
        let (sink, seen) = collecting();
        let (writer, mut flusher) = BufferedStderr::start_with(sink);
        let mut expected = Vec::new();
        for i in 0..1000 {
            let line = format!("line {i}\n");
            expected.extend_from_slice(line.as_bytes());
            writer.append(line.as_bytes());
        }
        flusher.stop();
        let (bytes, writes) = seen.lock().unwrap().clone();
        assert_eq!(bytes, expected);
        assert!(writes < 100, "1000 lines took {writes} writes");
        // After the stop, lines go straight through instead of piling up.
        writer.append(b"late line\n");
        assert!(seen.lock().unwrap().0.ends_with(b"late line\n"));
    }

    #[test]
    fn lines_wait_at_most_about_one_interval() {
        let (sink, seen) = collecting();
        let (writer, _flusher) = BufferedStderr::start_with(sink);
        writer.append(b"one line\n");
        let deadline = std::time::Instant::now() + FLUSH_INTERVAL * 40;
        while seen.lock().unwrap().0.is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_full_buffer_is_written_by_the_caller_instead_of_growing() {
        let (sink, seen) = collecting();
        // No writer thread: only the caller can empty it.
        let writer = BufferedStderr {
            shared: Arc::new(Shared::new(sink)),
        };
        let line = vec![b'x'; 1024];
        for _ in 0..(MAX_BUFFERED / 1024 + 10) {
            writer.append(&line);
        }
        assert!(writer.shared.pending.lock().unwrap().bytes.len() < MAX_BUFFERED);
        assert!(seen.lock().unwrap().0.len() >= MAX_BUFFERED);
    }
}
