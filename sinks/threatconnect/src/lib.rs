//! The threatconnect sink.
