//! The null sink.
