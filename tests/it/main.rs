//! Integration tests: the real `paystack` binary against the AWS emulator.
//!
//! Each test works on its own stack (its own `--suffix`) and its own state directory, so the
//! tests run concurrently against one emulator without seeing each other.

// All of this crate is test code, its helpers included: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod accounts;
mod app;
mod artifacts;
mod automation;
mod cli;
mod compliance;
mod cost;
mod database;
mod drift;
mod faults;
mod hardening;
mod invariants;
mod latency;
mod network;
mod parity;
mod state;
mod storage;
mod support;
mod terminal;
mod transit;
mod workflow;
