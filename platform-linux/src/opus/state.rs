//! Memory for one libopus state, allocated once.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// Alignment of a codec state: 16 bytes, what glibc's `malloc` guarantees
/// on x86-64 and AArch64 (`2 * sizeof(size_t)`), which is the memory
/// `opus_encoder_create` gets through `opus_alloc` and so what libopus'
/// structs are laid out for. Every field in them (floats, `opus_int32`,
/// pointers to static mode tables) needs at most 8.
const STATE_ALIGN: usize = 16;
const _: () = assert!(STATE_ALIGN >= align_of::<f64>() && STATE_ALIGN >= align_of::<usize>());

/// A zeroed, 16-byte aligned block that a libopus state is initialised in
/// with `opus_encoder_init` / `opus_decoder_init`.
///
/// libopus keeps no pointer to the block and frees nothing in it (states
/// made by `*_init` own no further memory; scratch lives on the stack, the
/// library being built with `VAR_ARRAYS`), so dropping the block is the
/// whole teardown: no `opus_*_destroy`.
#[derive(Debug)]
pub(crate) struct StateBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: the block is plain memory owned only by this value (no aliases
// exist: the pointer never leaves the wrapper), and a libopus state holds
// no thread affinity: no thread-local data, no locks, only its own fields
// and pointers to immutable static tables. Moving it to the audio thread
// that then uses it alone is sound. (Not Sync: `&StateBuf` hands out no
// access, and the wrapper only mutates through `&mut`.)
unsafe impl Send for StateBuf {}

impl StateBuf {
    /// Allocates `size_bytes` zeroed bytes.
    ///
    /// # Panics
    ///
    /// If `size_bytes` is 0 (libopus reported no size: a bug in the caller,
    /// which validates channels first). Aborts like `Vec` if the allocator
    /// fails.
    pub(crate) fn zeroed(size_bytes: usize) -> StateBuf {
        assert!(
            size_bytes > 0,
            "libopus state size is 0: channels were not validated"
        );
        let layout = Layout::from_size_align(size_bytes, STATE_ALIGN)
            .expect("a state of a few tens of KiB fits a Layout");
        // SAFETY: the layout has a non-zero size (asserted above).
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout)
        };
        StateBuf { ptr, layout }
    }

    /// The block as the libopus state type `T` (an opaque FFI struct).
    pub(crate) fn as_mut_ptr<T>(&mut self) -> *mut T {
        self.ptr.as_ptr().cast()
    }
}

impl Drop for StateBuf {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed` with exactly `layout` and
        // is freed only here, once.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}
