//! The differential test's parts: data set, corpus, targets, comparator.

pub mod compare;
pub mod corpus;
pub mod data;
pub mod run;
pub mod target;
