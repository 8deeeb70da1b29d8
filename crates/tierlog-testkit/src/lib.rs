//! Test support shared by the tierlog crates' tests, benches and fuzz targets: the seeded
//! [`workload`] generator and the decoder [`fuzzing`] entry points. Not published.

#![deny(unsafe_code)]

pub mod fuzzing;
pub mod helpers;
pub mod workload;
