//! Why some bytes are not the DER a reader expects.

use std::fmt;

use der::ErrorKind;

/// Bytes that are not the DER a reader expects: where, when known, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerError {
    /// Offset of the problem in the outermost input.
    pub offset: Option<usize>,
    pub what: String,
}

impl DerError {
    pub(crate) fn new(offset: Option<usize>, what: impl Into<String>) -> DerError {
        DerError {
            offset,
            what: what.into(),
        }
    }

    /// The same error for an input that starts `base` bytes into the outermost one.
    pub(crate) fn shifted(mut self, base: usize) -> DerError {
        self.offset = self.offset.map(|at| at + base);
        self
    }
}

impl fmt::Display for DerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(at) => write!(f, "malformed DER at byte {at}: {}", self.what),
            None => write!(f, "malformed DER: {}", self.what),
        }
    }
}

impl std::error::Error for DerError {}

impl From<der::Error> for DerError {
    fn from(e: der::Error) -> DerError {
        let position = e.position();
        let what = match e.kind() {
            // Nothing left where a tag or a length byte should be.
            ErrorKind::Incomplete { actual_len, .. } if position == Some(actual_len) => {
                "unexpected end of input".to_owned()
            }
            ErrorKind::Incomplete { .. } => "length runs past the end of the input".to_owned(),
            ErrorKind::IndefiniteLength => "indefinite length (BER) is not DER".to_owned(),
            ErrorKind::TrailingData { .. } => "trailing bytes after the value".to_owned(),
            kind => kind.to_string(),
        };
        DerError::new(position.and_then(|p| usize::try_from(p).ok()), what)
    }
}

#[cfg(test)]
mod tests {
    use der::{asn1::AnyRef, Decode};

    use super::*;

    fn error(bytes: &[u8]) -> DerError {
        DerError::from(AnyRef::from_der(bytes).unwrap_err())
    }

    #[test]
    fn each_malformation_is_named_with_its_offset() {
        assert_eq!(
            error(&[]).to_string(),
            "malformed DER at byte 0: unexpected end of input"
        );
        assert_eq!(
            error(&[0x30, 0x05, 0x01]).to_string(),
            "malformed DER at byte 2: length runs past the end of the input"
        );
        assert_eq!(
            error(&[0x30, 0x80, 0x00, 0x00]).to_string(),
            "malformed DER at byte 2: indefinite length (BER) is not DER"
        );
        assert_eq!(
            error(&[0x04, 0x00, 0x00]).to_string(),
            "malformed DER at byte 2: trailing bytes after the value"
        );
        // A length in long form that fits the short form, and one with a leading zero byte.
        assert_eq!(error(&[0x04, 0x81, 0x01, 0xAA]).offset, Some(3));
        assert_eq!(error(&[0x04, 0x82, 0x00, 0x80]).offset, Some(4));
        assert_eq!(
            DerError::new(None, "x").shifted(7).to_string(),
            "malformed DER: x"
        );
        assert_eq!(DerError::new(Some(2), "x").shifted(7).offset, Some(9));
    }
}
