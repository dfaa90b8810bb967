//! Real servers the integration tests start on loopback, one module each.

#![allow(dead_code, reason = "each test file uses a different subset")]

pub mod s3;
