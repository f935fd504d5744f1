//! "Now" for certificate validity when the device may not know the time.
//!
//! AFR's mbedTLS build never checked certificate dates, and AFR projects have
//! no clock hook. Without the time, the library's build time is the lower
//! bound for "now": a certificate that expired before the library was built
//! is refused; one issued after it is accepted (the device cannot tell how
//! much later "now" is). Concretely the chain is verified at the later of the
//! build time and the newest `notBefore` in the chain, so that `notBefore`
//! never fails and `notAfter` is checked against at least the build time.
//! With a clock (`mqttconfigTLS_TIME_FXN` that knows the time) its time is
//! used as is; strict projects (`mqttconfigTLS_STRICT_TIME` 1) refuse to
//! connect without one.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::{DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

/// The device's clock and what to do without it.
#[derive(Clone)]
pub struct Clock {
    /// The project's time hook: `None` while it does not know the time.
    pub hook: Arc<dyn TimeProvider>,
    /// Without the time: `Some(build time)` verifies against it as a lower
    /// bound; `None` refuses (strict).
    pub floor: Option<UnixTime>,
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clock").field("floor", &self.floor).finish()
    }
}

/// What rustls asks for the time outside certificate checks: the clock, else
/// the floor (none when strict: the handshake then fails for want of time).
impl TimeProvider for Clock {
    fn current_time(&self) -> Option<UnixTime> {
        self.hook.current_time().or(self.floor)
    }
}

/// WebPKI verification at [`Clock`]'s "now".
#[derive(Debug)]
pub struct ClockedVerifier {
    pub inner: Arc<WebPkiServerVerifier>,
    pub clock: Clock,
}

impl ClockedVerifier {
    fn now(&self, end_entity: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>]) -> Result<UnixTime, Error> {
        if let Some(now) = self.clock.hook.current_time() {
            return Ok(now);
        }
        let floor = self.clock.floor.ok_or(Error::FailedToGetCurrentTime)?;
        let newest = core::iter::once(end_entity).chain(intermediates).filter_map(|c| not_before(c)).max().unwrap_or(0);
        Ok(UnixTime::since_unix_epoch(core::time::Duration::from_secs(newest.max(floor.as_secs()))))
    }
}

impl ServerCertVerifier for ClockedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let now = self.now(end_entity, intermediates)?;
        self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

/// A DER element at the start of `der`: (tag, contents, rest).
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize), &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The `notBefore` of a certificate, in Unix seconds (`None` when the DER is
/// not a certificate we can read; webpki then refuses it anyway).
pub fn not_before(cert: &[u8]) -> Option<u64> {
    let (0x30, cert, _) = element(cert)? else { return None };
    let (0x30, tbs, _) = element(cert)? else { return None };
    let mut rest = tbs;
    let (tag, _, after) = element(rest)?;
    if tag == 0xa0 {
        rest = after; // [0] version
    }
    for _ in 0..3 {
        rest = element(rest)?.2; // serial, signature algorithm, issuer
    }
    let (0x30, validity, _) = element(rest)? else { return None };
    let (tag, time, _) = element(validity)?;
    der_time(tag, time)
}

/// UTCTime (YYMMDDHHMMSSZ, RFC 5280 years 1950–2049) or GeneralizedTime
/// (YYYYMMDDHHMMSSZ) in Unix seconds.
fn der_time(tag: u8, text: &[u8]) -> Option<u64> {
    let digits = |s: &[u8]| -> Option<u64> {
        s.iter().try_fold(0u64, |acc, b| b.is_ascii_digit().then(|| acc * 10 + (b - b'0') as u64))
    };
    let (year, rest) = match (tag, text.len()) {
        (0x17, 13) => {
            let yy = digits(&text[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        (0x18, 15) => (digits(&text[..4])?, &text[4..]),
        _ => return None,
    };
    if rest[10] != b'Z' {
        return None;
    }
    let (month, day) = (digits(&rest[0..2])?, digits(&rest[2..4])?);
    let (h, m, s) = (digits(&rest[4..6])?, digits(&rest[6..8])?, digits(&rest[8..10])?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 || year < 1970 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (year >= 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    // Count years from March, so that the leap day ends a year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(der_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(der_time(0x17, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(der_time(0x18, b"20380119031408Z"), Some(2_147_483_648));
        assert_eq!(der_time(0x17, b"500101000000Z"), None, "before 1970");
        for bad in [&b"2401010000Z"[..], b"241301000000Z", b"240101000000+", b"24010100000xZ"] {
            assert_eq!(der_time(0x17, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn malformed_der_is_none_not_a_panic() {
        for bad in [&[][..], &[0x30], &[0x30, 0x85, 1, 1, 1, 1, 1], &[0x30, 0x02, 0x30, 0x00], &[0x30, 0x81]] {
            assert_eq!(not_before(bad), None);
        }
    }
}
