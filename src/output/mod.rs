//! Output sinks: flow files and the report. (Being written.)
