//! MQTT 3.1.1 (OASIS standard, 29 October 2014): the wire format and topic rules.
//! Pure `no_std` code without allocation; I/O and time live in the callers.

pub mod codec;
pub mod topic;
