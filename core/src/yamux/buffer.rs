//! Byte ring buffers and the storage they (and the stream table) live in.
//!
//! One protocol state machine, two kinds of memory, chosen by a [`YamuxStorage`] type:
//! - [`FixedStorage<STREAMS, RX, TX>`]: no allocator. `STREAMS` stream slots in a
//!   `heapless::Vec`, each with an `RX`-byte receive ring and a `TX`-byte send ring held inline.
//!   The whole session is one value of known size (put it in a `static` or on a task's stack).
//! - [`HeapStorage`] (feature `alloc`): the stream table is a `Vec` that grows as streams open,
//!   and each ring allocates only while it holds bytes (growing by doubling up to its configured
//!   cap, freed again once empty), so an idle session holds no per-stream buffer.
//!
//! Copies in and out of a ring are at most two slice copies (`copy_from_slice`, a memcpy).

/// Where a ring buffer keeps its bytes.
pub trait ByteStorage: core::fmt::Debug {
    /// The largest capacity this storage can have.
    const MAX_CAPACITY: usize;
    /// Whether the capacity comes from an allocator (and counts towards the session budget).
    const ALLOCATES: bool;
    /// A storage at its starting capacity (fixed: full size; heap: nothing allocated).
    fn empty() -> Self;
    /// The bytes (their length is the current capacity).
    fn bytes(&self) -> &[u8];
    /// The bytes, writable.
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Changes the capacity to `capacity` (at most [`Self::MAX_CAPACITY`]), keeping the first
    /// `min(capacity, old)` bytes. Fixed storage ignores this.
    fn set_capacity(&mut self, capacity: usize);
}

impl<const N: usize> ByteStorage for [u8; N] {
    const MAX_CAPACITY: usize = N;
    const ALLOCATES: bool = false;
    #[inline(always)]
    fn empty() -> Self {
        [0; N]
    }
    fn bytes(&self) -> &[u8] {
        self
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
    fn set_capacity(&mut self, _capacity: usize) {}
}

#[cfg(feature = "alloc")]
impl ByteStorage for alloc::vec::Vec<u8> {
    const MAX_CAPACITY: usize = usize::MAX;
    const ALLOCATES: bool = true;
    fn empty() -> Self {
        alloc::vec::Vec::new()
    }
    fn bytes(&self) -> &[u8] {
        self
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
    fn set_capacity(&mut self, capacity: usize) {
        if capacity == 0 {
            *self = alloc::vec::Vec::new();
        } else {
            // Exact allocation: the ring's capacity is the Vec's length.
            self.reserve_exact(capacity.saturating_sub(self.len()));
            self.resize(capacity, 0);
            self.shrink_to_fit();
        }
    }
}

/// A FIFO of bytes over a [`ByteStorage`].
#[derive(Debug)]
pub struct Ring<B> {
    storage: B,
    head: usize,
    len: usize,
}

impl<B: ByteStorage> Ring<B> {
    /// An empty ring.
    pub fn new() -> Self {
        Ring {
            storage: B::empty(),
            head: 0,
            len: 0,
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Current capacity.
    pub fn capacity(&self) -> usize {
        self.storage.bytes().len()
    }

    /// Bytes that can be pushed without growing.
    pub fn free(&self) -> usize {
        self.capacity() - self.len
    }

    /// Bytes taken from an allocator (0 for fixed storage).
    pub fn allocated(&self) -> usize {
        if B::ALLOCATES { self.capacity() } else { 0 }
    }

    /// Appends as much of `data` as fits; returns how much.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let cap = self.capacity();
        let n = data.len().min(cap - self.len);
        if n == 0 {
            return 0;
        }
        let tail = (self.head + self.len) % cap;
        let first = n.min(cap - tail);
        let buf = self.storage.bytes_mut();
        buf[tail..tail + first].copy_from_slice(&data[..first]);
        buf[..n - first].copy_from_slice(&data[first..n]);
        self.len += n;
        n
    }

    /// Copies the oldest bytes into `out` without removing them; returns how many.
    pub fn peek(&self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        if n == 0 {
            return 0;
        }
        let cap = self.capacity();
        let first = n.min(cap - self.head);
        let buf = self.storage.bytes();
        out[..first].copy_from_slice(&buf[self.head..self.head + first]);
        out[first..n].copy_from_slice(&buf[..n - first]);
        n
    }

    /// The oldest bytes that lie in one piece (all of them, or up to the ring's end).
    pub fn front_slice(&self) -> &[u8] {
        let end = (self.head + self.len).min(self.capacity());
        &self.storage.bytes()[self.head..end]
    }

    /// The free bytes that follow the held ones in one piece, to write into before
    /// [`commit`](Self::commit).
    pub fn back_slice_mut(&mut self) -> &mut [u8] {
        let cap = self.capacity();
        if self.len == 0 {
            self.head = 0;
        }
        if cap == 0 {
            return &mut [];
        }
        let tail = (self.head + self.len) % cap;
        let end = if tail >= self.head && self.len < cap {
            cap
        } else {
            self.head
        };
        // A full ring has tail == head and nothing free.
        let end = if self.len == cap { tail } else { end };
        &mut self.storage.bytes_mut()[tail..end]
    }

    /// Keeps `n` bytes written at the front of [`back_slice_mut`](Self::back_slice_mut).
    pub fn commit(&mut self, n: usize) {
        debug_assert!(n <= self.free());
        self.len += n.min(self.free());
    }

    /// Drops the `n` oldest bytes (at most all of them).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        self.head = if self.len == 0 {
            0
        } else {
            (self.head + n) % self.capacity()
        };
    }

    /// Moves the oldest bytes into `out`; returns how many.
    pub fn pop(&mut self, out: &mut [u8]) -> usize {
        let n = self.peek(out);
        self.consume(n);
        n
    }

    /// Grows the capacity to `capacity` (no-op if already that large, or for fixed storage).
    pub fn grow_to(&mut self, capacity: usize) {
        let capacity = capacity.min(B::MAX_CAPACITY);
        if !B::ALLOCATES || capacity <= self.capacity() {
            return;
        }
        // Make the bytes contiguous from index 0, then extend.
        let head = self.head;
        if head != 0 {
            self.storage.bytes_mut().rotate_left(head);
            self.head = 0;
        }
        self.storage.set_capacity(capacity);
    }

    /// Drops the allocation if the ring is empty.
    pub fn release_if_empty(&mut self) {
        if B::ALLOCATES && self.len == 0 && self.capacity() != 0 {
            self.storage.set_capacity(0);
            self.head = 0;
        }
    }

    /// Drops every byte (and the allocation).
    pub fn clear(&mut self) {
        self.len = 0;
        self.head = 0;
        self.release_if_empty();
    }
}

impl<B: ByteStorage> Default for Ring<B> {
    fn default() -> Self {
        Self::new()
    }
}

/// The table of stream slots, kept sorted by stream id.
pub trait StreamSlots<T>: core::fmt::Debug {
    /// The most slots this table can hold.
    const MAX_LEN: usize;
    /// An empty table.
    fn empty() -> Self;
    /// The slots.
    fn as_slice(&self) -> &[T];
    /// The slots, writable.
    fn as_mut_slice(&mut self) -> &mut [T];
    /// Inserts at `index` (≤ len); gives the value back when full.
    fn insert_at(&mut self, index: usize, value: T) -> Result<(), T>;
    /// Removes the slot at `index` (< len).
    fn remove_at(&mut self, index: usize) -> T;
}

impl<T: core::fmt::Debug, const N: usize> StreamSlots<T> for heapless::Vec<T, N> {
    const MAX_LEN: usize = N;
    fn empty() -> Self {
        heapless::Vec::new()
    }
    fn as_slice(&self) -> &[T] {
        self
    }
    fn as_mut_slice(&mut self) -> &mut [T] {
        self
    }
    fn insert_at(&mut self, index: usize, value: T) -> Result<(), T> {
        self.insert(index, value)
    }
    fn remove_at(&mut self, index: usize) -> T {
        self.remove(index)
    }
}

#[cfg(feature = "alloc")]
impl<T: core::fmt::Debug> StreamSlots<T> for alloc::vec::Vec<T> {
    const MAX_LEN: usize = usize::MAX;
    fn empty() -> Self {
        alloc::vec::Vec::new()
    }
    fn as_slice(&self) -> &[T] {
        self
    }
    fn as_mut_slice(&mut self) -> &mut [T] {
        self
    }
    fn insert_at(&mut self, index: usize, value: T) -> Result<(), T> {
        self.insert(index, value);
        Ok(())
    }
    fn remove_at(&mut self, index: usize) -> T {
        let slot = self.remove(index);
        if self.capacity() > 16 && self.len() < self.capacity() / 4 {
            self.shrink_to(self.len() * 2);
        }
        slot
    }
}

/// Chooses the memory a [`YamuxSession`](super::YamuxSession) lives in.
pub trait YamuxStorage {
    /// A stream's receive ring storage.
    type Rx: ByteStorage;
    /// A stream's send ring storage.
    type Tx: ByteStorage;
    /// The stream table.
    type Streams: StreamSlots<super::stream::StreamSlot<Self::Rx, Self::Tx>>;
}

/// No allocator: `STREAMS` slots, each with `RX` receive and `TX` send bytes inline.
#[derive(Debug)]
pub struct FixedStorage<const STREAMS: usize, const RX: usize, const TX: usize>;

impl<const STREAMS: usize, const RX: usize, const TX: usize> YamuxStorage
    for FixedStorage<STREAMS, RX, TX>
{
    type Rx = [u8; RX];
    type Tx = [u8; TX];
    type Streams = heapless::Vec<super::stream::StreamSlot<[u8; RX], [u8; TX]>, STREAMS>;
}

/// Allocate on demand, bounded by [`YamuxConfig`](super::YamuxConfig).
#[cfg(feature = "alloc")]
#[derive(Debug)]
pub struct HeapStorage;

#[cfg(feature = "alloc")]
impl YamuxStorage for HeapStorage {
    type Rx = alloc::vec::Vec<u8>;
    type Tx = alloc::vec::Vec<u8>;
    type Streams = alloc::vec::Vec<super::stream::StreamSlot<Self::Rx, Self::Tx>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Pushes and pops, each either copying (`push`/`pop`) or in place (`back_slice_mut` +
    /// `commit`, `front_slice` + `consume`), against a `VecDeque`.
    fn model_check<B: ByteStorage>(ops: &[(bool, bool, usize)], grow: bool) {
        let mut ring: Ring<B> = Ring::new();
        let mut model = std::collections::VecDeque::new();
        let mut counter = 0u8;
        for &(is_push, in_place, n) in ops {
            if is_push {
                if grow && ring.free() < n {
                    ring.grow_to((ring.len() + n).next_power_of_two().min(64));
                }
                let data: Vec<u8> = (0..n)
                    .map(|_| {
                        counter = counter.wrapping_add(1);
                        counter
                    })
                    .collect();
                let used = if in_place {
                    let free = ring.free();
                    let space = ring.back_slice_mut();
                    assert!(space.len() <= free);
                    assert!(free == 0 || !space.is_empty(), "free room is offered");
                    let used = n.min(space.len());
                    space[..used].copy_from_slice(&data[..used]);
                    ring.commit(used);
                    used
                } else {
                    ring.push(&data)
                };
                assert!(used <= n);
                model.extend(&data[..used]);
                counter = counter.wrapping_sub((n - used) as u8);
            } else if in_place {
                let front = ring.front_slice();
                assert!(
                    ring.is_empty() || !front.is_empty(),
                    "held bytes are offered"
                );
                let got = n.min(front.len());
                let want: Vec<u8> = model.drain(..got).collect();
                assert_eq!(&front[..got], &want[..]);
                ring.consume(got);
                ring.release_if_empty();
            } else {
                let mut out = vec![0; n];
                let got = ring.pop(&mut out);
                let want: Vec<u8> = model.drain(..got.min(model.len())).collect();
                assert_eq!(&out[..got], &want[..]);
                ring.release_if_empty();
            }
            assert_eq!(ring.len(), model.len());
        }
    }

    proptest! {
        #[test]
        fn fixed_ring_is_a_fifo(ops in proptest::collection::vec((any::<bool>(), any::<bool>(), 0usize..20), 0..60)) {
            model_check::<[u8; 16]>(&ops, false);
        }

        #[test]
        fn heap_ring_is_a_fifo(ops in proptest::collection::vec((any::<bool>(), any::<bool>(), 0usize..20), 0..60)) {
            model_check::<Vec<u8>>(&ops, true);
        }
    }

    #[test]
    fn heap_ring_releases_when_empty() {
        let mut ring: Ring<Vec<u8>> = Ring::new();
        assert_eq!(ring.allocated(), 0);
        ring.grow_to(8);
        assert_eq!(ring.push(b"abcdefghij"), 8);
        assert_eq!(ring.allocated(), 8);
        let mut out = [0; 3];
        ring.pop(&mut out);
        ring.push(b"xyz");
        ring.grow_to(16); // wrapped content is linearised
        let mut all = [0; 16];
        let n = ring.pop(&mut all);
        assert_eq!(&all[..n], b"defghxyz");
        ring.release_if_empty();
        assert_eq!(ring.allocated(), 0);
    }
}
