//! Pools of the large per-batch buffers: the splitter's read buffers, the workers' encodings
//! and the vectors that carry a batch's deliveries to the sink.
//!
//! Each is typically a hundred KB or more, is filled on a worker and is freed wherever the batch
//! ends, usually on the sink's thread. Allocated afresh for every batch, they leave the
//! allocator holding pages that were freed on one thread and wanted on another, and the resident
//! set climbs and swings by megabytes from run to run. Taken from a pool, the same few buffers go
//! around for the whole run, so the memory they take follows the batches in flight and not the
//! length of the feed. Byte buffers are shared as [`Bytes`] and come back when the last slice of
//! them is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

/// A bounded stock of emptied vectors. A vector keeps its capacity while it waits, so the
/// next batch fills it without allocating.
#[derive(Debug)]
pub struct VecPool<T> {
    free: Mutex<Vec<Vec<T>>>,
    /// Vectors kept for reuse at most; more are freed when they come back.
    keep: usize,
    /// A vector that grew beyond this capacity is freed when it comes back, so that one
    /// unusually large batch does not pin its memory for the rest of the run.
    max_capacity: usize,
    /// Vectors allocated because none was waiting.
    allocated: AtomicUsize,
}

impl<T> VecPool<T> {
    /// Creates an empty pool that keeps up to `keep` vectors of at most `max_capacity` items.
    pub fn new(keep: usize, max_capacity: usize) -> Self {
        VecPool {
            free: Mutex::new(Vec::new()),
            keep,
            max_capacity,
            allocated: AtomicUsize::new(0),
        }
    }

    /// Returns an empty vector with room for at least `capacity` items: a returned one when the
    /// pool has one, else a new one.
    pub fn take(&self, capacity: usize) -> Vec<T> {
        let reused = self.lock().pop();
        match reused {
            Some(mut vector) => {
                // Reserved exactly, so that a request a little over the vector's capacity does
                // not double it past `max_capacity`.
                vector.reserve_exact(capacity);
                vector
            }
            None => {
                self.allocated.fetch_add(1, Ordering::Relaxed);
                Vec::with_capacity(capacity)
            }
        }
    }

    /// Empties `vector`, dropping its items on this thread, and keeps it for a later
    /// [`take`](Self::take) unless the pool is full or the vector grew too large.
    pub fn give_back(&self, mut vector: Vec<T>) {
        vector.clear();
        if vector.capacity() == 0 || vector.capacity() > self.max_capacity {
            return;
        }
        let mut free = self.lock();
        if free.len() < self.keep {
            free.push(vector);
        }
    }

    /// Returns the number of vectors waiting to be reused.
    pub fn available(&self) -> usize {
        self.lock().len()
    }

    /// Returns the number of vectors [`take`](Self::take) allocated because none was waiting.
    pub fn allocated(&self) -> usize {
        self.allocated.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<T>>> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A bounded stock of byte buffers that are shared as [`Bytes`] while in use. Clones share the
/// stock.
#[derive(Clone, Debug)]
pub struct BufferPool {
    pool: Arc<VecPool<u8>>,
}

impl BufferPool {
    /// Creates an empty pool that keeps up to `keep` buffers of at most `max_capacity` bytes.
    pub fn new(keep: usize, max_capacity: usize) -> Self {
        BufferPool {
            pool: Arc::new(VecPool::new(keep, max_capacity)),
        }
    }

    /// Returns an empty buffer with room for at least `capacity` bytes.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        self.pool.take(capacity)
    }

    /// Shares `buffer` as [`Bytes`]. The buffer comes back to the pool when the returned bytes
    /// and every slice of them are dropped.
    pub fn freeze(&self, buffer: Vec<u8>) -> Bytes {
        if buffer.capacity() == 0 {
            return Bytes::new();
        }
        Bytes::from_owner(Pooled {
            buffer,
            pool: self.pool.clone(),
        })
    }

    /// Keeps an unshared buffer for a later [`take`](Self::take).
    pub fn give_back(&self, buffer: Vec<u8>) {
        self.pool.give_back(buffer);
    }

    /// Returns the number of buffers waiting to be reused.
    pub fn available(&self) -> usize {
        self.pool.available()
    }

    /// Returns the number of buffers [`take`](Self::take) allocated because none was waiting.
    pub fn allocated(&self) -> usize {
        self.pool.allocated()
    }
}

/// A pooled buffer behind [`Bytes`]. Dropping it hands the buffer back to its pool.
struct Pooled {
    buffer: Vec<u8>,
    pool: Arc<VecPool<u8>>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buffer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_returns_after_last_slice() {
        let pool = BufferPool::new(4, 1024);
        let mut buffer = pool.take(100);
        buffer.extend_from_slice(b"[1,2,3]");
        let address = buffer.as_ptr();
        let bytes = pool.freeze(buffer);
        let slice = bytes.slice(1..2);
        drop(bytes);
        assert_eq!(pool.available(), 0, "a slice still points into the buffer");
        assert_eq!(&slice[..], b"1");
        drop(slice);
        assert_eq!(pool.available(), 1);

        let again = pool.take(10);
        assert!(again.is_empty());
        assert_eq!(
            again.as_ptr(),
            address,
            "the same allocation is handed out again"
        );
        assert!(again.capacity() >= 100);
    }

    #[test]
    fn pool_limit_and_oversized_buffer() {
        let pool = BufferPool::new(2, 1024);
        let frozen: Vec<Bytes> = (0..3).map(|_| pool.freeze(pool.take(64))).collect();
        drop(frozen);
        assert_eq!(pool.available(), 2);

        let pool = BufferPool::new(2, 1024);
        drop(pool.freeze(pool.take(4096)));
        assert_eq!(
            pool.available(),
            0,
            "a buffer over the capacity limit is freed"
        );
    }

    #[test]
    fn vector_returns_empty_with_capacity() {
        let pool: VecPool<String> = VecPool::new(2, 100);
        let mut vector = pool.take(10);
        vector.push("192.0.2.1".to_owned());
        let address = vector.as_ptr();
        pool.give_back(vector);
        assert_eq!(pool.available(), 1);
        let again = pool.take(5);
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), address);

        pool.give_back(Vec::with_capacity(101));
        pool.give_back(Vec::new());
        assert_eq!(
            pool.available(),
            0,
            "an oversized or unallocated vector is not kept"
        );
    }

    #[test]
    fn buffer_returns_from_other_thread() {
        let pool = BufferPool::new(8, 1 << 20);
        let frozen: Vec<Bytes> = (0..8u8)
            .map(|index| {
                let mut buffer = pool.take(16);
                buffer.push(index);
                pool.freeze(buffer)
            })
            .collect();
        std::thread::spawn(move || {
            for (index, bytes) in frozen.iter().enumerate() {
                assert_eq!(&bytes[..], &[index as u8]);
            }
        })
        .join()
        .unwrap();
        assert_eq!(pool.available(), 8);
    }
}
