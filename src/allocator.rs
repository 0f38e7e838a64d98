//! The global allocator: mimalloc, entered through its plain `malloc`-style functions whenever
//! the alignment allows.
//!
//! The `mimalloc` crate passes every allocation to `mi_malloc_aligned`. In the mimalloc 3
//! sources that `libmimalloc-sys` 0.1.49 builds (`src/alloc-aligned.c`), that function takes its
//! fast path only for blocks of at most 1 KiB. A larger block whose size is not a power of two
//! goes through a generic path that pads it by the alignment and marks its page as holding
//! interior pointers, which makes later frees on that page slower. feedpipe allocates many such
//! blocks: every parsed element's tape (about 2.4 KB), and the vectors of items, frames and
//! deliveries. mimalloc's blocks are whole machine words (`mi_bin` in `src/page-queue.c`), so
//! `mi_malloc` is aligned enough for any layout of word alignment or less.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use mimalloc::MiMalloc;

/// mimalloc with its plain entry points for layouts of word alignment or less.
pub struct Allocator;

/// Alignment every mimalloc block has.
const WORD: usize = std::mem::size_of::<usize>();

// SAFETY: every path returns memory from mimalloc that is aligned for `layout` (word alignment
// from the plain functions, the layout's own alignment from `MiMalloc`), and every block is freed
// or resized by mimalloc, which accepts blocks from either path.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: `layout.size()` is non-zero, as `GlobalAlloc::alloc` requires.
            unsafe { libmimalloc_sys::mi_malloc(layout.size()).cast() }
        } else {
            // SAFETY: the caller's guarantees for `layout` carry over.
            unsafe { MiMalloc.alloc(layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: as in `alloc`.
            unsafe { libmimalloc_sys::mi_zalloc(layout.size()).cast() }
        } else {
            // SAFETY: as in `alloc`.
            unsafe { MiMalloc.alloc_zeroed(layout) }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: `ptr` came from mimalloc and `new_size` is non-zero. `mi_realloc` keeps
            // word alignment.
            unsafe { libmimalloc_sys::mi_realloc(ptr.cast::<c_void>(), new_size).cast() }
        } else {
            // SAFETY: the caller's guarantees carry over.
            unsafe { MiMalloc.realloc(ptr, layout, new_size) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_have_their_alignment() {
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1, 7, 8, 24, 1000, 1025, 2400, 100_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: the layout has a non-zero size, and the block is freed with it.
                unsafe {
                    let block = Allocator.alloc(layout);
                    assert!(!block.is_null());
                    assert_eq!(block as usize % align, 0, "size {size}, align {align}");
                    block.write_bytes(0xA5, size);
                    let grown = Allocator.realloc(block, layout, size * 3);
                    assert_eq!(grown as usize % align, 0, "grown {size}, align {align}");
                    assert_eq!(*grown.add(size - 1), 0xA5);
                    Allocator.dealloc(grown, Layout::from_size_align(size * 3, align).unwrap());

                    let zeroed = Allocator.alloc_zeroed(layout);
                    assert_eq!(zeroed as usize % align, 0);
                    assert!((0..size).all(|index| *zeroed.add(index) == 0));
                    Allocator.dealloc(zeroed, layout);
                }
            }
        }
    }
}
