//! Test support shared by the tierlog crates' tests, benches and fuzz targets: the seeded
//! [`workload`] generator, the decoder [`fuzzing`] entry points, the shared test [`helpers`]
//! (a real [`prometheus`] among them)
//! and the code the `tierlog` examples and their tests share ([`examples`]). Not published.

#![deny(unsafe_code)]

pub mod examples;
pub mod fuzzing;
pub mod helpers;
pub mod prometheus;
pub mod workload;
