//! feedpipe performance tooling.
