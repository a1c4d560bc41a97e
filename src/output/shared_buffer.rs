//! For tests: a writer into a buffer shared with the test, to read back
//! what a sink emitted.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Clones write into the same buffer; `.0` reads it back.
#[derive(Clone, Default)]
pub(crate) struct Shared(pub(crate) Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
