//! AWS IoT Device Shadow MQTT topics (classic shadow):
//! `$aws/things/<thing>/shadow/<operation>[/<response>]`.

/// AWS IoT's longest thing name.
pub const MAX_THING_NAME: usize = 128;

/// Room for the longest topic: prefix, thing name and `/shadow/update/documents`.
pub const MAX_TOPIC: usize = 12 + MAX_THING_NAME + 24;

pub type Topic = heapless::String<MAX_TOPIC>;

/// A shadow operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Update,
    Get,
    Delete,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Update => "update",
            Operation::Get => "get",
            Operation::Delete => "delete",
        }
    }
}

/// The topics a shadow client publishes to or subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request topic of an operation.
    Request(Operation),
    /// `<operation>/accepted`.
    Accepted(Operation),
    /// `<operation>/rejected`.
    Rejected(Operation),
    /// `update/delta`: desired differs from reported.
    Delta,
    /// `update/documents`: the previous and current documents after an update.
    Documents,
}

/// Why a topic could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThingNameError {
    Empty,
    TooLong,
    /// Characters AWS does not allow in thing names (also keeps MQTT wildcards out).
    InvalidCharacter,
}

/// AWS IoT thing names: 1–128 characters of `a-zA-Z0-9:_-`.
pub fn validate_thing_name(name: &str) -> Result<(), ThingNameError> {
    if name.is_empty() {
        return Err(ThingNameError::Empty);
    }
    if name.len() > MAX_THING_NAME {
        return Err(ThingNameError::TooLong);
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'-') {
        return Err(ThingNameError::InvalidCharacter);
    }
    Ok(())
}

/// The topic of `kind` for `thing`.
pub fn topic(thing: &str, kind: Kind) -> Result<Topic, ThingNameError> {
    validate_thing_name(thing)?;
    let mut t = Topic::new();
    write(thing, kind, &mut t);
    Ok(t)
}

/// Writes the topic of `kind` for `thing` (a valid thing name) into `t`, in
/// place: a topic is 165 bytes, built where it is used.
pub fn write(thing: &str, kind: Kind, t: &mut Topic) {
    t.clear();
    let tail = match kind {
        Kind::Request(op) => (op.name(), ""),
        Kind::Accepted(op) => (op.name(), "/accepted"),
        Kind::Rejected(op) => (op.name(), "/rejected"),
        Kind::Delta => ("update", "/delta"),
        Kind::Documents => ("update", "/documents"),
    };
    // Cannot overflow: MAX_TOPIC covers the longest name and suffix. (Plain
    // pushes rather than `write!`: no formatting machinery in the firmware.)
    for part in ["$aws/things/", thing, "/shadow/", tail.0, tail.1] {
        let _ = t.push_str(part);
    }
}

/// Splits a shadow topic into its thing name and kind (not requests).
pub fn parse(topic: &str) -> Option<(&str, Kind)> {
    let rest = topic.strip_prefix("$aws/things/")?;
    let (thing, rest) = rest.split_once("/shadow/")?;
    validate_thing_name(thing).ok()?;
    let kind = match rest {
        "update/accepted" => Kind::Accepted(Operation::Update),
        "update/rejected" => Kind::Rejected(Operation::Update),
        "get/accepted" => Kind::Accepted(Operation::Get),
        "get/rejected" => Kind::Rejected(Operation::Get),
        "delete/accepted" => Kind::Accepted(Operation::Delete),
        "delete/rejected" => Kind::Rejected(Operation::Delete),
        "update/delta" => Kind::Delta,
        "update/documents" => Kind::Documents,
        _ => return None,
    };
    Some((thing, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses_every_kind() {
        let kinds = [
            Kind::Accepted(Operation::Update),
            Kind::Rejected(Operation::Update),
            Kind::Accepted(Operation::Get),
            Kind::Rejected(Operation::Get),
            Kind::Accepted(Operation::Delete),
            Kind::Rejected(Operation::Delete),
            Kind::Delta,
            Kind::Documents,
        ];
        for k in kinds {
            let t = topic("lamp-1", k).unwrap();
            assert_eq!(parse(&t), Some(("lamp-1", k)), "{t}");
        }
        assert_eq!(topic("lamp", Kind::Request(Operation::Get)).unwrap().as_str(), "$aws/things/lamp/shadow/get");
        assert_eq!(topic("lamp", Kind::Documents).unwrap().as_str(), "$aws/things/lamp/shadow/update/documents");
    }

    #[test]
    fn longest_thing_name_fits() {
        let name: std::string::String = "x".repeat(MAX_THING_NAME);
        assert!(topic(&name, Kind::Documents).is_ok());
        let long: std::string::String = "x".repeat(MAX_THING_NAME + 1);
        assert_eq!(topic(&long, Kind::Delta), Err(ThingNameError::TooLong));
    }

    #[test]
    fn invalid_names_are_refused() {
        assert_eq!(validate_thing_name(""), Err(ThingNameError::Empty));
        for bad in ["a/b", "a+", "a#", "a b", "é"] {
            assert_eq!(validate_thing_name(bad), Err(ThingNameError::InvalidCharacter), "{bad}");
        }
        assert_eq!(parse("$aws/things/a/shadow/update"), None);
        assert_eq!(parse("$aws/things/a+b/shadow/update/delta"), None);
        assert_eq!(parse("other/things/a/shadow/update/delta"), None);
    }
}
