//! The Device Shadow client's core: topic names and the JSON it must read and
//! write, without I/O. The C API and the waiting for responses are in
//! `ffi::shadow`.

pub mod json;
pub mod topic;
