//! feedpipe stages: classify, tag and rate. Each stage is one module behind
//! [`feedpipe_pipeline::Stage`]; [`standard_stages`] returns them in the order a run applies
//! them.

pub mod address;
pub mod classify;
pub mod fields;
pub mod hash;
pub mod key;
pub mod mask;
pub mod reject;
pub mod tag;
pub mod text;

#[cfg(test)]
mod testing;

pub use classify::ClassifyStage;
pub use reject::ClassifyError;
pub use tag::TagStage;
