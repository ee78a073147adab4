//! The Glass Cannon operator: reconciles each `LoadTest` into one Indexed Job of
//! runner pods, starts them together, merges their shards and sets the verdict.

pub mod config;
pub mod error;
pub mod job;
