//! Real services the integration tests run against, each started on
//! loopback with its own config in a temporary folder, and killed on drop.
//! A test whose service cannot start fails, saying what to install; none
//! is skipped.

#![allow(dead_code, reason = "each test file uses a different subset")]

pub mod mosquitto;
pub mod s3;
pub mod webhook;
