//! The measurement modes: each runs and returns its `Report`.

pub mod fanout;
pub mod idle;
pub mod presence;
pub mod ramp;
pub mod search;
pub mod soak;
pub mod writes;
