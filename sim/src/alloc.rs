//! A global allocator that counts allocations per thread, for the tests
//! and benches that show a realtime or per-packet path allocates nothing.
//!
//! ```text
//! #[global_allocator]
//! static GLOBAL: echostream_sim::alloc::Counting = echostream_sim::alloc::Counting;
//! let before = echostream_sim::alloc::allocations();
//! // … the code under test, on this thread …
//! assert_eq!(echostream_sim::alloc::allocations(), before);
//! ```
//!
//! Counting is per thread (a const thread-local), so other threads of the
//! test (a server, the harness) never disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to [`System`], counting every allocation and reallocation
/// made on the calling thread.
#[derive(Debug, Clone, Copy)]
pub struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    // try_with: never panic inside the allocator, even at thread exit.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

/// Allocations (and reallocations) made on this thread so far, when
/// [`Counting`] is the global allocator.
pub fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards every call to `System` unchanged; the counter is a
// const-initialised thread-local `Cell` that itself never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: as for `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}
