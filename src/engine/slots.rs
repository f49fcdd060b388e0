//! A shard's node records, in chunks of [`CHUNK`] slots that are each shared
//! through their own `Arc`.
//!
//! A snapshot shares a shard's chunks; a writer copies only the chunk it
//! writes (and, once per shard and snapshot, the shard's list of chunk
//! pointers), not the whole shard: a write beside a live snapshot costs
//! O([`CHUNK`]) instead of O(the shard). Chunks never move once full, so a
//! growing shard never copies its records into a larger array either.
//!
//! Indices are not reused until the graph renumbers its nodes, so a graph
//! that keeps adding and removing nodes leaves its old slots empty until
//! then: a chunk whose last item goes is freed (an empty chunk stands in
//! for it), and such a graph keeps a pointer per 256 slots it used, not a
//! record.

use crate::sync::{chunk_get_mut, chunk_mut, chunk_of, ChunkArc};

/// log2 of the slots per chunk.
const CHUNK_BITS: u32 = 8;
/// Slots per chunk: the most records a write beside a snapshot copies. The
/// size balances three costs, measured with chunks of 128, 256 and 512:
/// - such a write also copies its shard's list of chunk pointers, a
///   reference-count increment on a cold line per chunk: the first write
///   into a shard of a 1M-node graph (8 shards) beside a snapshot took 55-63,
///   34-42 and ~55 µs;
/// - a write into a further chunk copies its records, each with its
///   neighbour lists: 32-37, 38-52 and 143 µs (200k nodes, ~10 neighbours);
/// - a random read goes through the list of chunk pointers, which a larger
///   chunk keeps smaller: in a cache simulation of 3,000 `k_hop(·, 2)`
///   queries on 200k nodes, 339k, 324k and 306k L1 read misses (187k with
///   one array per shard).
pub(crate) const CHUNK: usize = 1 << CHUNK_BITS;
const _: () = assert!(CHUNK <= u16::MAX as usize, "live counts are u16");
/// Slots of a shard's first chunk: small graphs stay small (a graph has at
/// least eight shards).
const FIRST_CHUNK: usize = 4;

/// Slots `0..len`, each empty or holding a `T`. Every chunk but the last
/// holds [`CHUNK`] slots, or none once freed (all of them empty); the last
/// holds a power of two up to that, and its slots past `len` are empty.
#[derive(Clone)]
pub(crate) struct Slots<T> {
    chunks: Vec<ChunkArc<Option<T>>>,
    /// Items held per chunk.
    live: Vec<u16>,
    len: usize,
}

/// A run of slots ([`Slots::runs`]).
pub(crate) enum Run<'s, T> {
    /// Consecutive slots, each empty or holding an item.
    Slots(&'s [Option<T>]),
    /// This many empty slots.
    Empty(usize),
}

impl<T> Run<'_, T> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Run::Slots(s) => s.len(),
            Run::Empty(n) => *n,
        }
    }
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            live: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slots<T> {
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Slot `i`: `None` past the end too.
    #[inline]
    pub(crate) fn slot(&self, i: usize) -> Option<&Option<T>> {
        self.chunks.get(i >> CHUNK_BITS)?.get(i & (CHUNK - 1))
    }

    /// The item in slot `i`, if any.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        self.slot(i)?.as_ref()
    }

    /// Whether chunk `c` (slots `c * CHUNK ..`) holds an item: a walk over
    /// many shards' slots skips the chunks none of them holds anything in,
    /// which churn (adding and removing nodes) leaves behind.
    #[inline]
    pub(crate) fn chunk_holds(&self, c: usize) -> bool {
        self.live.get(c).is_some_and(|&n| n > 0)
    }

    /// Slots `0..len` in runs: a chunk's slots, or a freed chunk's count of
    /// empty ones, so that a column built over the slots fills what churn
    /// emptied at memset speed rather than slot by slot.
    pub(crate) fn runs(&self) -> impl Iterator<Item = Run<'_, T>> + '_ {
        let mut left = self.len;
        self.chunks.iter().map_while(move |c| {
            if left == 0 {
                return None;
            }
            let run = if c.is_empty() {
                Run::Empty(CHUNK.min(left))
            } else {
                Run::Slots(&c[..c.len().min(left)])
            };
            left -= run.len();
            Some(run)
        })
    }

    /// The items held, each with its slot, in order; freed chunks cost
    /// nothing.
    pub(crate) fn items(&self) -> impl Iterator<Item = (usize, &T)> + '_ {
        self.chunks
            .iter()
            .enumerate()
            .filter(|(c, _)| self.chunk_holds(*c))
            .flat_map(move |(c, chunk)| {
                let (first, len) = (c << CHUNK_BITS, self.len);
                chunk.iter().enumerate().filter_map(move |(i, slot)| {
                    let item = slot.as_ref()?;
                    (first + i < len).then_some((first + i, item))
                })
            })
    }

    /// Slots `0..len` in order (a freed chunk's as empty ones).
    pub(crate) fn iter(&self) -> impl Iterator<Item = Option<&T>> + '_ {
        let freed = |c: &ChunkArc<Option<T>>| std::iter::repeat_n(None, CHUNK - c.len());
        self.chunks
            .iter()
            .flat_map(move |c| c.iter().map(Option::as_ref).chain(freed(c)))
            .take(self.len)
    }

    /// How many chunks `self` and `other` share (tests of copy-on-write).
    #[cfg(test)]
    pub(crate) fn shared_chunks(&self, other: &Self) -> usize {
        let ptr = |c: &ChunkArc<Option<T>>| c.as_ptr() as *const u8;
        let theirs: Vec<_> = other.chunks.iter().map(ptr).collect();
        self.chunks
            .iter()
            .filter(|c| theirs.contains(&ptr(c)))
            .count()
    }

    fn empty_chunk() -> ChunkArc<Option<T>> {
        chunk_of(std::iter::empty())
    }

    fn capacity(&self) -> usize {
        self.chunks
            .last()
            .map_or(0, |last| (self.chunks.len() - 1) * CHUNK + last.len())
    }

    /// Makes room for slots `0..n` without changing `len`.
    pub(crate) fn reserve_to(&mut self, n: usize)
    where
        T: Clone,
    {
        while self.capacity() < n {
            let full = self.chunks.len().saturating_sub(1) * CHUNK;
            match self.chunks.last_mut() {
                Some(last) if last.len() < CHUNK => {
                    let size = (n - full).next_power_of_two().clamp(2 * last.len(), CHUNK);
                    // The last chunk grows into a larger one: its items move
                    // when no snapshot shares them, and are copied otherwise.
                    let mut items: Vec<Option<T>> = match chunk_get_mut(last) {
                        Some(items) => items.iter_mut().map(Option::take).collect(),
                        None => last.to_vec(),
                    };
                    items.resize_with(size, || None);
                    *last = chunk_of(items.into_iter());
                }
                _ => {
                    if self.live.last() == Some(&0) {
                        // The last chunk, already empty, stops being last:
                        // free it now (nothing will take from it again).
                        let last = self.chunks.len() - 1;
                        self.chunks[last] = Self::empty_chunk();
                    }
                    let size = if self.chunks.is_empty() {
                        n.next_power_of_two().clamp(FIRST_CHUNK, CHUNK)
                    } else {
                        CHUNK
                    };
                    self.chunks.push(chunk_of((0..size).map(|_| None)));
                    self.live.push(0);
                }
            }
        }
    }
}

impl<T: Clone> Slots<T> {
    /// Slot `i`, unshared (its chunk copied first while a snapshot holds it).
    #[inline]
    fn slot_mut(&mut self, i: usize) -> &mut Option<T> {
        let chunk = &mut self.chunks[i >> CHUNK_BITS];
        if chunk.is_empty() {
            // Freed, and now written again: a node whose index was handed
            // out before the chunk's other nodes went is stored after them.
            *chunk = chunk_of((0..CHUNK).map(|_| None));
        }
        &mut chunk_mut(chunk)[i & (CHUNK - 1)]
    }

    /// The item in slot `i`, if any, unshared. An empty or missing slot
    /// copies nothing.
    #[inline]
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.get(i)?;
        self.slot_mut(i).as_mut()
    }

    /// Stores `item` in slot `i`, growing to `i + 1` slots; hands it back
    /// (nothing changed) if the slot is taken.
    pub(crate) fn put(&mut self, i: usize, item: T) -> Result<(), T> {
        if self.get(i).is_some() {
            return Err(item);
        }
        self.reserve_to(i + 1);
        self.len = self.len.max(i + 1);
        *self.slot_mut(i) = Some(item);
        self.live[i >> CHUNK_BITS] += 1;
        Ok(())
    }

    /// Empties slot `i`, returning its item. The slot stays (see
    /// `Shard::take`); a chunk left empty is freed, unless it is the last
    /// (where new slots go).
    pub(crate) fn take(&mut self, i: usize) -> Option<T> {
        self.get(i)?;
        let c = i >> CHUNK_BITS;
        self.live[c] -= 1;
        if self.live[c] > 0 || c + 1 == self.chunks.len() {
            return self.slot_mut(i).take();
        }
        // The chunk's last item: no copy of a chunk a snapshot shares, only
        // of the item.
        let mut old = std::mem::replace(&mut self.chunks[c], Self::empty_chunk());
        match chunk_get_mut(&mut old) {
            Some(items) => items[i & (CHUNK - 1)].take(),
            None => old[i & (CHUNK - 1)].clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(s: &Slots<u32>) -> Vec<Option<u32>> {
        let all: Vec<Option<u32>> = s.iter().map(|x| x.copied()).collect();
        // `runs` and `items` say the same as `iter`.
        let mut runs = Vec::new();
        for run in s.runs() {
            match run {
                Run::Slots(slots) => runs.extend(slots.iter().copied()),
                Run::Empty(n) => runs.extend(std::iter::repeat_n(None, n)),
            }
        }
        assert_eq!(runs, all);
        let held: Vec<(usize, u32)> = s.items().map(|(i, x)| (i, *x)).collect();
        let want: Vec<(usize, u32)> = (all.iter().enumerate())
            .filter_map(|(i, x)| Some((i, (*x)?)))
            .collect();
        assert_eq!(held, want);
        all
    }

    #[test]
    fn puts_takes_and_holes_across_chunks() {
        let mut s = Slots::default();
        let mut model = Vec::new();
        for i in (0..3 * CHUNK + 7).step_by(3) {
            assert_eq!(s.put(i, i as u32), Ok(()));
            model.resize(i + 1, None);
            model[i] = Some(i as u32);
        }
        assert_eq!(s.put(3, 0), Err(0), "a taken slot is refused");
        assert_eq!(s.take(3), Some(3));
        assert_eq!(s.take(3), None);
        assert_eq!(s.take(4), None, "a hole");
        assert_eq!(s.take(10 * CHUNK), None, "past the end");
        model[3] = None;
        let k = CHUNK.div_ceil(3) * 3; // the second chunk's first item
        *s.get_mut(k).unwrap() = 7;
        model[k] = Some(7);
        assert_eq!(s.get_mut(k + 1), None);
        assert_eq!(items(&s), model);
        assert_eq!(s.len(), model.len());
        assert_eq!(s.get(model.len()), None);
    }

    /// Slots `0..n`, slot `i` holding `i`.
    fn filled(n: usize) -> Slots<u32> {
        let mut s = Slots::default();
        for i in 0..n {
            s.put(i, i as u32).unwrap();
        }
        s
    }

    #[test]
    fn a_write_copies_only_the_chunk_a_clone_shares() {
        let mut s = filled(4 * CHUNK);
        let snap = s.clone();
        *s.get_mut(CHUNK + 5).unwrap() = 0;
        s.take(3 * CHUNK);
        s.put(4 * CHUNK + 1, 1).unwrap();
        // The snapshot still sees every old value ...
        assert_eq!(
            items(&snap),
            (0..4 * CHUNK as u32).map(Some).collect::<Vec<_>>()
        );
        // ... and shares the chunks nobody wrote.
        let shared = |c: usize| std::ptr::eq(&snap.chunks[c][0], &s.chunks[c][0]);
        assert!(shared(0) && shared(2));
        assert!(!shared(1) && !shared(3));
        assert_eq!(s.shared_chunks(&snap), 2);
        assert_eq!(s.get(CHUNK + 5), Some(&0));
        assert_eq!(s.get(3 * CHUNK), None);
        assert_eq!(s.get(4 * CHUNK + 1), Some(&1));
    }

    #[test]
    fn a_chunk_left_empty_is_freed_and_can_be_written_again() {
        let mut s = filled(3 * CHUNK);
        let snap = s.clone();
        for i in 0..CHUNK {
            assert_eq!(s.take(i), Some(i as u32));
        }
        assert_eq!(s.chunks[0].len(), 0, "freed");
        assert_eq!(snap.get(5), Some(&5), "the snapshot keeps its chunk");
        for i in 2 * CHUNK..3 * CHUNK {
            s.take(i);
        }
        assert_eq!(s.chunks[2].len(), CHUNK, "the last chunk stays");
        let mut model: Vec<Option<u32>> = vec![None; 3 * CHUNK];
        for (i, m) in model.iter_mut().enumerate().skip(CHUNK).take(CHUNK) {
            *m = Some(i as u32);
        }
        assert_eq!(items(&s), model);
        assert_eq!(s.get(3), None);
        assert_eq!(s.take(3), None);
        assert_eq!(s.len(), 3 * CHUNK);
        // A node whose index was handed out before its chunk emptied.
        s.put(7, 7).unwrap();
        model[7] = Some(7);
        assert_eq!(items(&s), model);
        assert_eq!(s.take(7), Some(7));
        assert_eq!(s.chunks[0].len(), 0, "freed again");
    }

    #[test]
    fn adding_and_removing_forever_keeps_no_chunk_but_the_last() {
        let mut s = Slots::default();
        for i in 0..10 * CHUNK {
            s.put(i, i as u32).unwrap();
            assert_eq!(s.take(i), Some(i as u32));
        }
        let held: Vec<usize> = s.chunks.iter().map(|c| c.len()).collect();
        assert_eq!(held[..9], [0; 9]);
        assert_eq!(held[9], CHUNK);
        assert!(s.iter().all(|x| x.is_none()) && s.len() == 10 * CHUNK);
    }

    #[test]
    fn the_last_chunk_grows_by_doubling_and_shared_items_survive_growth() {
        let mut s = Slots::default();
        s.put(0, 0u32).unwrap();
        assert_eq!(s.capacity(), FIRST_CHUNK);
        let snap = s.clone();
        for i in 1..40 {
            s.put(i, i as u32).unwrap();
        }
        assert_eq!(s.capacity(), 64);
        assert_eq!(items(&snap), vec![Some(0)]);
        assert_eq!(items(&s), (0..40).map(Some).collect::<Vec<_>>());
        s.reserve_to(CHUNK + 1);
        assert_eq!(s.capacity(), 2 * CHUNK);
        assert_eq!(s.len(), 40);
    }
}
