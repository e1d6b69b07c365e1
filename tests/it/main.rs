//! Integration tests: the real `paystack` binary against the AWS emulator.
//!
//! Each test works on its own stack (its own `--suffix`) and its own state directory, so the
//! tests run concurrently against one emulator without seeing each other.

mod cli;
mod invariants;
mod network;
mod support;
