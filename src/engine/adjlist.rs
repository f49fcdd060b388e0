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

/// Out-neighbours (`..n_out`) then in-neighbours, in one allocation.
pub(crate) struct AdjList {
    ptr: NonNull<Ix>,
    len: u32,
    n_out: u32,
}

// SAFETY: an `AdjList` owns its allocation of plain integers, like `Vec<u32>`.
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

    #[inline]
    pub(crate) fn n_out(&self) -> usize {
        self.n_out as usize
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[Ix] {
        // SAFETY: `ptr` holds `capacity(len) >= len` entries, the first
        // `len` initialized (dangling and `len == 0` when unallocated).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len as usize) }
    }

    #[inline]
    pub(crate) fn out(&self) -> &[Ix] {
        &self.as_slice()[..self.n_out as usize]
    }

    #[inline]
    pub(crate) fn inn(&self) -> &[Ix] {
        &self.as_slice()[self.n_out as usize..]
    }

    /// Makes the allocation fit `new_len` entries (`capacity(new_len)`);
    /// entries below both lengths are kept, the rest are uninitialized.
    fn resize(&mut self, new_len: usize) {
        let new_len32 = u32::try_from(new_len).expect("adjacency list too large");
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
        let (len, n_out) = (self.len as usize, self.n_out as usize);
        self.resize(len + outs.len() + ins.len());
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

    /// Removes the entry at `pos` (an out-neighbour when `pos < n_out`).
    pub(crate) fn remove(&mut self, pos: usize) {
        let len = self.len as usize;
        assert!(pos < len, "adjacency position {pos} out of {len}");
        let p = self.ptr.as_ptr();
        // SAFETY: `pos < len`; the tail moves down one entry before the
        // allocation shrinks to `len - 1`.
        unsafe { std::ptr::copy(p.add(pos + 1), p.add(pos), len - pos - 1) };
        if pos < self.n_out as usize {
            self.n_out -= 1;
        }
        self.resize(len - 1);
    }
}

impl Default for AdjList {
    fn default() -> Self {
        Self::new()
    }
}

impl std::ops::Deref for AdjList {
    type Target = [Ix];
    #[inline]
    fn deref(&self) -> &[Ix] {
        self.as_slice()
    }
}

impl Clone for AdjList {
    fn clone(&self) -> Self {
        let mut copy = Self::new();
        copy.extend(self.out(), self.inn());
        copy
    }
}

impl Drop for AdjList {
    fn drop(&mut self) {
        self.resize(0);
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
                    list.remove(pos);
                    if pos < outs.len() {
                        outs.remove(pos);
                    } else {
                        ins.remove(pos - outs.len());
                    }
                }
                _ => {}
            }
            assert_eq!(list.out(), &outs[..]);
            assert_eq!(list.inn(), &ins[..]);
            if step % 1000 == 0 {
                let copy = list.clone();
                assert_eq!((copy.out(), copy.inn()), (list.out(), list.inn()));
            }
        }
        assert!(list.len() > 1_000, "the model stayed small: {}", list.len());
        while !list.is_empty() {
            list.remove(0);
        }
        assert_eq!(list.n_out(), 0);
    }
}
