//! Shared pieces of the towerlight examples: a console printer for finished spans and metrics.

pub mod console;
