//! The measurement modes: each runs and returns its `Report`.

pub mod fanout;
pub mod idle;
pub mod ramp;
pub mod soak;
pub mod writes;
