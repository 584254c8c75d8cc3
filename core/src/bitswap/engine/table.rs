//! A bounded table: a `heapless::Vec` of capacity `N` without `alloc`, a heap `Vec` bounded by
//! the configured limit with it.

use core::ops::{Deref, DerefMut};

/// A list that refuses to grow past a limit. Without `alloc` its storage is inline (capacity
/// `N`); with `alloc` it lives on the heap and `N` is ignored, so a server can size its tables
/// by configuration alone.
#[derive(Debug)]
pub(crate) struct Table<T, const N: usize> {
    #[cfg(not(feature = "alloc"))]
    items: heapless::Vec<T, N>,
    #[cfg(feature = "alloc")]
    items: alloc::vec::Vec<T>,
}

impl<T, const N: usize> Table<T, N> {
    pub(crate) const fn new() -> Self {
        Table {
            #[cfg(not(feature = "alloc"))]
            items: heapless::Vec::new(),
            #[cfg(feature = "alloc")]
            items: alloc::vec::Vec::new(),
        }
    }

    /// Appends `item` unless the table holds `limit` items (or, without `alloc`, `N`).
    pub(crate) fn try_push(&mut self, item: T, limit: usize) -> Result<(), T> {
        if self.items.len() >= limit {
            return Err(item);
        }
        #[cfg(not(feature = "alloc"))]
        {
            self.items.push(item)
        }
        #[cfg(feature = "alloc")]
        {
            self.items.push(item);
            Ok(())
        }
    }

    pub(crate) fn retain(&mut self, f: impl FnMut(&T) -> bool) {
        self.items.retain(f);
    }

    pub(crate) fn remove(&mut self, index: usize) -> T {
        self.items.remove(index)
    }

    pub(crate) fn clear(&mut self) {
        self.items.clear();
    }
}

impl<T, const N: usize> Deref for Table<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<T, const N: usize> DerefMut for Table<T, N> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.items
    }
}
