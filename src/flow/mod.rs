//! The flow table and per-direction reassembly. (Being written.)
