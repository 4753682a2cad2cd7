//! Giving freed heap memory back to the system after a configuration is applied.
//!
//! A gateway applying a large snapshot (10,000 APIs, 100,000 subscriptions) parses tens of
//! megabytes of JSON into small allocations, compiles its tables, then frees the parse. glibc's
//! malloc keeps freed chunks that sit between live ones, so without help the process stays at
//! about twice the memory it uses. `malloc_trim(0)` returns every whole free page of every
//! arena (`madvise(MADV_DONTNEED)`); it runs off the request path, once per applied
//! configuration, and costs a few milliseconds.
//!
//! This is the crate's one `unsafe` block (a reviewed exception to `forbid(unsafe_code)`):
//! a call to a C function that takes an integer and has no preconditions.

/// Returns freed heap pages to the system (glibc only; elsewhere a no-op).
pub fn release_freed_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    {
        unsafe extern "C" {
            /// glibc, `<malloc.h>`: `int malloc_trim(size_t pad);`
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim has no preconditions; it only walks and trims the allocator's
        // own arenas under their locks.
        unsafe {
            malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn trimming_after_freeing_is_harmless() {
        let blocks: Vec<Vec<u8>> = (0..10_000).map(|i| vec![1u8; 64 + i % 512]).collect();
        let kept: Vec<&Vec<u8>> = blocks.iter().step_by(100).collect();
        let sum: usize = kept.iter().map(|b| b.len()).sum();
        super::release_freed_heap();
        assert_eq!(kept.iter().map(|b| b.len()).sum::<usize>(), sum);
        drop(blocks);
        super::release_freed_heap();
    }
}
