//! feedpipe stages: classify, tag and rate.
