//! The HTTP post-pass. (Stub: to be written.)

/// Settings for carving HTTP bodies.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Undo Content-Encoding (gzip, deflate, br). `-Z` turns this off.
    pub decode: bool,
    /// Largest decoded body kept, in bytes.
    pub max_decoded_bytes: u64,
    /// Largest decoded/encoded ratio allowed before a body is cut off as a bomb.
    pub max_ratio: u64,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions { decode: true, max_decoded_bytes: 1 << 30, max_ratio: 1000 }
    }
}
