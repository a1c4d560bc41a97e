//! Reading capture files. (Being written.)
