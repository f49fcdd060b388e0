//! A node's adjacency list in 16 bytes.
//!
//! `Vec<Ix>` plus an out-degree took 28 bytes of every node record (pointer,
//! length, capacity, `n_out`). [`AdjList`] keeps the pointer and two `u32`
//! counts, and derives the capacity from the length ([`capacity`]): the
//! allocation always holds exactly `capacity(len)` entries, so growing or
//! shrinking across a capacity class reallocates, and staying within one
//! does not. Small classes fill the chunk `malloc` hands out anyway (16-byte
//! granules with an 8-byte header); large ones grow by a quarter, which keeps
//! insertion amortized O(1).
//!
//! A list longer than [`SMALL_MAX`] (a hub's) keeps its out- and in-lists in
//! two vectors instead ([`Big`], behind the same pointer): in one allocation,
//! every new out-neighbour of a node with a million in-neighbours moved all
//! of them (50 µs per `add_edge`).

use super::store::Ix;
use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// How many entries the allocation of a list of `len` entries holds.
#[inline]
pub(crate) fn capacity(len: usize) -> usize {
    match len {
        0 => 0,
        // 6, 10, 14, ... entries: 8 bytes short of a multiple of 16.
        1..=64 => (((len + 1) | 3) - 1).max(6),
        _ => {
            let step = 1usize << (usize::BITS - 3 - len.leading_zeros());
            (len + step - 1) & !(step - 1)
        }
    }
}

/// Above this many entries a list moves to [`Big`]: its out- and in-lists
/// in two vectors, so that appending to either never moves the other.
pub(crate) const SMALL_MAX: usize = 128;

/// `len` of a list kept as a [`Big`] (a small list never gets near it).
const BIG: u32 = u32::MAX;

/// Out-neighbours (`..n_out`) then in-neighbours.
///
/// A list of up to [`SMALL_MAX`] entries keeps both in one allocation, the
/// in-list right after the out-list: an out-append moves the in-list up one
/// entry, a removal moves the entries after it down, at most `SMALL_MAX`
/// entries either way. A longer list (a hub's) is a [`Big`]: appends stay
/// amortized O(1) on both sides, whatever the other side's length.
pub(crate) struct AdjList {
    /// The entries, or (`len == BIG`) the `Big`.
    ptr: NonNull<Ix>,
    len: u32,
    n_out: u32,
}

/// A long list's out- and in-neighbours, each in insertion order.
#[derive(Clone, Default)]
struct Big {
    out: Vec<Ix>,
    inn: Vec<Ix>,
}

/// Appends `new` to `v`, growing its capacity by a quarter when full (as
/// [`capacity`] does for small lists): amortized O(1), little slack.
fn push_all(v: &mut Vec<Ix>, new: &[Ix]) {
    if v.capacity() - v.len() < new.len() {
        v.reserve_exact(new.len().max(v.len() / 4).max(16));
    }
    v.extend_from_slice(new);
}

/// Removes `v[pos]`, giving memory back once a third of it is unused.
fn remove_at(v: &mut Vec<Ix>, pos: usize) {
    v.remove(pos);
    if v.capacity() > v.len() + v.len() / 2 + 16 {
        v.shrink_to(v.len() + v.len() / 4);
    }
}

/// The position of `t` in `xs`, compared 16 entries at a time (the compiler
/// vectorizes each block): a hub's list is scanned at memory speed.
#[inline]
pub(crate) fn position(xs: &[Ix], t: Ix) -> Option<usize> {
    const BLOCK: usize = 16;
    let mut blocks = xs.chunks_exact(BLOCK);
    for (b, block) in blocks.by_ref().enumerate() {
        if block.iter().fold(false, |hit, &x| hit | (x == t)) {
            return block.iter().position(|&x| x == t).map(|i| b * BLOCK + i);
        }
    }
    let done = xs.len() - blocks.remainder().len();
    blocks
        .remainder()
        .iter()
        .position(|&x| x == t)
        .map(|i| done + i)
}

// SAFETY: an `AdjList` owns its allocation of plain integers (or its `Big`),
// like `Vec<u32>`.
unsafe impl Send for AdjList {}
// SAFETY: shared access only reads, like `Vec<u32>`.
unsafe impl Sync for AdjList {}

fn layout(cap: usize) -> Layout {
    Layout::array::<Ix>(cap).expect("adjacency list too large")
}

impl AdjList {
    pub(crate) const fn new() -> Self {
        Self {
            ptr: NonNull::dangling(),
            len: 0,
            n_out: 0,
        }
    }

    /// A list kept as `big` (`len == BIG` marks it; `n_out` is unused).
    fn from_big(big: Big) -> Self {
        Self {
            ptr: NonNull::from(Box::leak(Box::new(big))).cast(),
            len: BIG,
            n_out: 0,
        }
    }

    #[inline]
    fn big(&self) -> Option<&Big> {
        // SAFETY: `len == BIG` exactly when `ptr` came from `Box<Big>::into_raw`.
        (self.len == BIG).then(|| unsafe { &*self.ptr.as_ptr().cast::<Big>() })
    }

    #[inline]
    fn big_mut(&mut self) -> Option<&mut Big> {
        // SAFETY: as in `big`; `&mut self` makes the access exclusive.
        (self.len == BIG).then(|| unsafe { &mut *self.ptr.as_ptr().cast::<Big>() })
    }

    /// All entries of a small list (out then in).
    #[inline]
    fn small(&self) -> &[Ix] {
        debug_assert!(self.len != BIG);
        // SAFETY: `ptr` holds `capacity(len) >= len` entries, the first
        // `len` initialized (dangling and `len == 0` when unallocated).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len as usize) }
    }

    #[inline]
    pub(crate) fn n_out(&self) -> usize {
        match self.big() {
            Some(b) => b.out.len(),
            None => self.n_out as usize,
        }
    }

    /// The number of entries, out and in.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self.big() {
            Some(b) => b.out.len() + b.inn.len(),
            None => self.len as usize,
        }
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry: the out-list, then the in-list.
    #[inline]
    pub(crate) fn all(&self) -> impl Iterator<Item = Ix> + '_ {
        self.out().iter().chain(self.inn()).copied()
    }

    #[inline]
    pub(crate) fn out(&self) -> &[Ix] {
        match self.big() {
            Some(b) => &b.out,
            None => &self.small()[..self.n_out as usize],
        }
    }

    #[inline]
    pub(crate) fn inn(&self) -> &[Ix] {
        match self.big() {
            Some(b) => &b.inn,
            None => &self.small()[self.n_out as usize..],
        }
    }

    /// Makes a small list's allocation fit `new_len` entries
    /// (`capacity(new_len)`); entries below both lengths are kept, the rest
    /// are uninitialized.
    fn resize(&mut self, new_len: usize) {
        debug_assert!(self.len != BIG && new_len <= SMALL_MAX);
        let new_len32 = new_len as u32;
        let (old_cap, new_cap) = (capacity(self.len as usize), capacity(new_len));
        if old_cap != new_cap {
            // SAFETY: the old layout is the one `ptr` was allocated with
            // (`capacity(len)`, maintained by every length change); sizes
            // are non-zero where they are passed to the allocator.
            unsafe {
                let p = if new_cap == 0 {
                    alloc::dealloc(self.ptr.as_ptr().cast(), layout(old_cap));
                    NonNull::dangling().as_ptr()
                } else if old_cap == 0 {
                    alloc::alloc(layout(new_cap)).cast::<Ix>()
                } else {
                    alloc::realloc(
                        self.ptr.as_ptr().cast(),
                        layout(old_cap),
                        layout(new_cap).size(),
                    )
                    .cast::<Ix>()
                };
                self.ptr =
                    NonNull::new(p).unwrap_or_else(|| alloc::handle_alloc_error(layout(new_cap)));
            }
        }
        self.len = new_len32;
    }

    /// Appends out-neighbours `outs` (after the present ones) and
    /// in-neighbours `ins` (after the present ones).
    pub(crate) fn extend(&mut self, outs: &[Ix], ins: &[Ix]) {
        if let Some(b) = self.big_mut() {
            push_all(&mut b.out, outs);
            push_all(&mut b.inn, ins);
            return;
        }
        let (len, n_out) = (self.len as usize, self.n_out as usize);
        let new_len = len + outs.len() + ins.len();
        if new_len > SMALL_MAX {
            let mut big = Big {
                out: Vec::with_capacity(n_out + outs.len()),
                inn: Vec::with_capacity(len - n_out + ins.len()),
            };
            big.out.extend_from_slice(self.out());
            big.out.extend_from_slice(outs);
            big.inn.extend_from_slice(self.inn());
            big.inn.extend_from_slice(ins);
            self.resize(0);
            *self = Self::from_big(big);
            return;
        }
        self.resize(new_len);
        let p = self.ptr.as_ptr();
        // SAFETY: the allocation now holds `len + outs + ins` entries; the
        // in-list moves up by `outs.len()` (overlapping copy), then the new
        // entries fill the gap and the tail.
        unsafe {
            std::ptr::copy(p.add(n_out), p.add(n_out + outs.len()), len - n_out);
            std::ptr::copy_nonoverlapping(outs.as_ptr(), p.add(n_out), outs.len());
            std::ptr::copy_nonoverlapping(ins.as_ptr(), p.add(len + outs.len()), ins.len());
        }
        self.n_out += outs.len() as u32;
    }

    /// Removes the out-list's entry at `pos`.
    pub(crate) fn remove_out(&mut self, pos: usize) {
        match self.big_mut() {
            Some(b) => remove_at(&mut b.out, pos),
            None => {
                assert!(
                    pos < self.n_out as usize,
                    "out position {pos} of {}",
                    self.n_out
                );
                self.remove_small(pos);
                self.n_out -= 1;
            }
        }
    }

    /// Removes the in-list's entry at `pos`.
    pub(crate) fn remove_in(&mut self, pos: usize) {
        match self.big_mut() {
            Some(b) => remove_at(&mut b.inn, pos),
            None => self.remove_small(self.n_out as usize + pos),
        }
    }

    fn remove_small(&mut self, pos: usize) {
        let len = self.len as usize;
        assert!(pos < len, "adjacency position {pos} out of {len}");
        let p = self.ptr.as_ptr();
        // SAFETY: `pos < len`; the tail moves down one entry before the
        // allocation shrinks to `len - 1`.
        unsafe { std::ptr::copy(p.add(pos + 1), p.add(pos), len - pos - 1) };
        self.resize(len - 1);
    }
}

impl Default for AdjList {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for AdjList {
    fn clone(&self) -> Self {
        if let Some(b) = self.big() {
            return Self::from_big(b.clone());
        }
        let mut copy = Self::new();
        copy.extend(self.out(), self.inn());
        copy
    }
}

impl Drop for AdjList {
    fn drop(&mut self) {
        if self.len == BIG {
            // SAFETY: as in `big`; the box is dropped once, here.
            drop(unsafe { Box::from_raw(self.ptr.as_ptr().cast::<Big>()) });
        } else {
            self.resize(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_classes_are_monotone_and_fill_malloc_chunks() {
        let mut prev = 0;
        for len in 0..100_000 {
            let c = capacity(len);
            assert!(c >= len && c >= prev, "capacity({len}) = {c}");
            if (1..=64).contains(&len) {
                assert_eq!((c * 4 + 8) % 16, 0);
            }
            // Growth stays geometric: at most a quarter (or 5 entries) of slack.
            assert!(c - len <= (len / 4).max(5), "capacity({len}) = {c}");
            prev = c;
        }
    }

    #[test]
    fn edits_match_a_vec_model() {
        // A deterministic mix of appends and removals against `Vec`s; the
        // lists grow by about one entry per step, through the small and the
        // geometric capacity classes.
        let (mut outs, mut ins) = (Vec::new(), Vec::new());
        let mut list = AdjList::new();
        let mut x = 12345u32;
        for step in 0..6_000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            match x % 7 {
                0..=3 => {
                    let k = (x >> 8) as usize % 4;
                    let o: Vec<Ix> = (0..k as u32).map(|i| step * 8 + i).collect();
                    let i: Vec<Ix> = (0..(k as u32 + 1) % 3).map(|i| step * 8 + 4 + i).collect();
                    list.extend(&o, &i);
                    outs.extend_from_slice(&o);
                    ins.extend_from_slice(&i);
                }
                _ if !list.is_empty() => {
                    let pos = (x >> 4) as usize % list.len();
                    if pos < outs.len() {
                        list.remove_out(pos);
                        outs.remove(pos);
                    } else {
                        list.remove_in(pos - outs.len());
                        ins.remove(pos - outs.len());
                    }
                }
                _ => {}
            }
            assert_eq!(list.out(), &outs[..]);
            assert_eq!(list.inn(), &ins[..]);
            assert_eq!(list.n_out(), outs.len());
            assert_eq!(list.len(), outs.len() + ins.len());
            assert!(list.all().eq(outs.iter().chain(&ins).copied()));
            if step % 1000 == 0 {
                let copy = list.clone();
                assert_eq!((copy.out(), copy.inn()), (list.out(), list.inn()));
            }
        }
        assert!(list.len() > 1_000, "the model stayed small: {}", list.len());
        while list.n_out() > 0 {
            list.remove_out(0);
        }
        while !list.is_empty() {
            list.remove_in(list.inn().len() - 1);
        }
        assert_eq!(list.n_out(), 0);
    }

    /// Small lists on both sides of `SMALL_MAX`: the move to `Big` keeps
    /// both lists, and removals work on either side of it.
    #[test]
    fn lists_cross_into_big_intact() {
        for start in [0, 1, SMALL_MAX - 1, SMALL_MAX] {
            let mut list = AdjList::new();
            let outs: Vec<Ix> = (0..start as Ix).collect();
            let ins: Vec<Ix> = (1000..1000 + start as Ix / 2).collect();
            list.extend(&outs, &ins);
            list.extend(&[7, 8], &[9]);
            let want_out: Vec<Ix> = outs.iter().copied().chain([7, 8]).collect();
            let want_in: Vec<Ix> = ins.iter().copied().chain([9]).collect();
            assert_eq!((list.out(), list.inn()), (&want_out[..], &want_in[..]));
            let copy = list.clone();
            assert_eq!((copy.out(), copy.inn()), (&want_out[..], &want_in[..]));
            list.remove_in(0);
            list.remove_out(list.n_out() - 1);
            assert_eq!(list.out(), &want_out[..want_out.len() - 1]);
            assert_eq!(list.inn(), &want_in[1..]);
        }
    }

    /// Appending out-neighbours to a node with many in-neighbours does not
    /// move them (it used to, one entry at a time: O(in-degree) per edge).
    #[test]
    fn big_lists_append_without_moving_the_other_side() {
        let mut list = AdjList::new();
        let ins: Vec<Ix> = (0..10_000).collect();
        list.extend(&[], &ins);
        let before = list.inn().as_ptr();
        for t in 0..1_000 {
            list.extend(&[t], &[]);
        }
        assert_eq!(list.inn().as_ptr(), before, "the in-list moved");
        assert_eq!(list.n_out(), 1_000);
    }

    #[test]
    fn position_finds_the_first_match_in_any_block() {
        let xs: Vec<Ix> = (0..100).map(|i| i % 37).collect();
        for t in 0..40 {
            assert_eq!(position(&xs, t), xs.iter().position(|&x| x == t), "{t}");
        }
        assert_eq!(position(&[], 3), None);
    }
}
