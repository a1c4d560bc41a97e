//! IP fragment reassembly. (Stub: to be written.)

/// Bounds on the fragment table.
#[derive(Debug, Clone, Copy)]
pub struct FragmentLimits {
    /// Datagrams under reassembly at once.
    pub max_datagrams: usize,
    /// Bytes held in all fragments at once.
    pub max_bytes: usize,
    /// Seconds of capture time a datagram may wait for its fragments.
    pub timeout_secs: u64,
}

impl Default for FragmentLimits {
    fn default() -> Self {
        FragmentLimits {
            max_datagrams: 4096,
            max_bytes: 32 << 20,
            timeout_secs: 30,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct FragmentTable {
    _limits: Option<FragmentLimits>,
}

impl FragmentTable {
    pub(crate) fn new(limits: FragmentLimits) -> Self {
        FragmentTable {
            _limits: Some(limits),
        }
    }
}
