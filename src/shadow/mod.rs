//! The Device Shadow client's core: topic names and the JSON it must read and
//! write, without I/O. The C API and the waiting for responses are in
//! `ffi::shadow`.

pub mod core;
pub mod json;
pub mod topic;

/// The return code a `/rejected` response's `code` becomes: the service's
/// own (400–599), else `None` (a failure, whatever a broker put there: a code
/// of 0, 1 or 2 must not read as success, timeout or failure codes).
pub fn rejection_code(code: Option<i64>) -> Option<i16> {
    code.filter(|c| (400..=599).contains(c)).map(|c| c as i16)
}

#[cfg(test)]
mod tests {
    use super::rejection_code;

    #[test]
    fn only_service_codes_pass_through() {
        for c in [400i64, 404, 409, 413, 429, 500, 503, 599] {
            assert_eq!(rejection_code(Some(c)), Some(c as i16));
        }
        for c in [0i64, 1, 2, 3, 200, 399, 600, 65535, -404, 65936, i64::MIN, i64::MAX] {
            assert_eq!(rejection_code(Some(c)), None, "{c}");
        }
        assert_eq!(rejection_code(None), None);
    }
}
