//! The few DER pieces SCEP needs that the openssl crate's safe API does not reach: reading a
//! PKCS#7 SignedData's signer and signed attributes, and writing a SignedData with SCEP's
//! signed attributes (RFC 8894 §3). Definite lengths only (DER); anything else is a clean error.

/// Why some bytes are not the DER this module reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed DER at byte {offset}: {what}")]
pub struct DerError {
    pub offset: usize,
    pub what: &'static str,
}

/// One tag-length-value: the tag byte, its contents and the whole encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub body: &'a [u8],
    pub raw: &'a [u8],
    /// Where `raw` starts in the outermost input (for error messages).
    pub offset: usize,
}

pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
pub const INTEGER: u8 = 0x02;
pub const PRINTABLE_STRING: u8 = 0x13;
pub const CONTEXT_0: u8 = 0xA0;

/// Reads one TLV from the front of `input`; `base` is `input`'s offset in the whole message.
pub fn read(input: &[u8], base: usize) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let err = |at: usize, what| DerError {
        offset: base + at,
        what,
    };
    let tag = *input.first().ok_or(err(0, "unexpected end of input"))?;
    if tag & 0x1F == 0x1F {
        return Err(err(0, "multi-byte tags are not used by SCEP"));
    }
    let first = *input.get(1).ok_or(err(1, "missing length"))?;
    let (len, header) = match first {
        0x00..=0x7F => (first as usize, 2),
        0x80 => return Err(err(1, "indefinite length (BER) is not DER")),
        0x81..=0x84 => {
            let n = (first & 0x7F) as usize;
            let bytes = input.get(2..2 + n).ok_or(err(2, "truncated length"))?;
            if bytes[0] == 0 {
                return Err(err(2, "length with a leading zero byte is not DER"));
            }
            let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
            if len < 0x80 {
                return Err(err(1, "short length in long form is not DER"));
            }
            (len, 2 + n)
        }
        _ => return Err(err(1, "length of more than 4 bytes")),
    };
    let end = header
        .checked_add(len)
        .filter(|end| *end <= input.len())
        .ok_or(err(1, "length runs past the end of the input"))?;
    let tlv = Tlv {
        tag,
        body: &input[header..end],
        raw: &input[..end],
        offset: base,
    };
    Ok((tlv, &input[end..]))
}

impl<'a> Tlv<'a> {
    /// The one TLV that makes up all of `input`.
    pub fn parse(input: &'a [u8]) -> Result<Tlv<'a>, DerError> {
        let (tlv, rest) = read(input, 0)?;
        if !rest.is_empty() {
            return Err(DerError {
                offset: tlv.raw.len(),
                what: "trailing bytes after the message",
            });
        }
        Ok(tlv)
    }

    fn body_offset(&self) -> usize {
        self.offset + (self.raw.len() - self.body.len())
    }

    /// The TLVs inside a constructed value.
    pub fn children(&self) -> Result<Vec<Tlv<'a>>, DerError> {
        let mut out = Vec::new();
        let mut rest = self.body;
        while !rest.is_empty() {
            let at = self.body_offset() + (self.body.len() - rest.len());
            let (tlv, next) = read(rest, at)?;
            out.push(tlv);
            rest = next;
        }
        Ok(out)
    }

    /// Checks the tag.
    pub fn expect(self, tag: u8, what: &'static str) -> Result<Tlv<'a>, DerError> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(DerError {
                offset: self.offset,
                what,
            })
        }
    }
}

/// The `index`-th child, or an error naming what was expected there.
pub fn child<'a>(
    children: &[Tlv<'a>],
    index: usize,
    tag: u8,
    what: &'static str,
) -> Result<Tlv<'a>, DerError> {
    let offset = children.last().map_or(0, |c| c.offset + c.raw.len());
    children
        .get(index)
        .copied()
        .ok_or(DerError { offset, what })?
        .expect(tag, what)
}

/// Encodes one TLV (definite length).
pub fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 6);
    out.push(tag);
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(body);
    out
}

/// A constructed value holding `parts` in order.
pub fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

/// A DER SET OF: the elements sorted by their encodings (X.690 §11.6), as verifiers re-encode.
pub fn set_of(mut parts: Vec<Vec<u8>>) -> Vec<u8> {
    parts.sort();
    tlv(SET, &parts.concat())
}

/// Encodes a dotted OID (`1.2.840.113549.1.7.2`). Panics only on a malformed constant.
pub fn oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted
        .split('.')
        .map(|a| a.parse().expect("OID constants are dotted decimals"))
        .collect();
    let mut body = Vec::new();
    let mut push = |mut arc: u64| {
        let mut bytes = vec![(arc & 0x7F) as u8];
        arc >>= 7;
        while arc > 0 {
            bytes.push(0x80 | (arc & 0x7F) as u8);
            arc >>= 7;
        }
        bytes.reverse();
        body.extend(bytes);
    };
    push(arcs[0] * 40 + arcs[1]);
    arcs[2..].iter().for_each(|a| push(*a));
    tlv(OID, &body)
}

/// Decodes an OID's contents to dotted text (for messages and lookups); a malformed encoding
/// (empty, an arc with a leading 0x80, an unfinished or oversized arc) is `invalid`, which
/// matches no OID this module looks for.
pub fn oid_text(body: &[u8]) -> String {
    let malformed = body.is_empty()
        || body.last().is_some_and(|b| b & 0x80 != 0)
        || body
            .iter()
            .enumerate()
            .any(|(i, b)| *b == 0x80 && (i == 0 || body[i - 1] & 0x80 == 0))
        || body.split(|b| b & 0x80 == 0).any(|arc| arc.len() > 8);
    if malformed {
        return "invalid".to_owned();
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for b in body {
        value = (value << 7) | (b & 0x7F) as u64;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn oids_encode_as_x690_says() {
        assert_eq!(
            oid("1.2.840.113549.1.7.2"),
            vec![0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02]
        );
        assert_eq!(
            oid_text(&oid("2.16.840.1.113733.1.9.7")[2..]),
            "2.16.840.1.113733.1.9.7"
        );
    }

    #[test]
    fn long_lengths_use_the_fewest_bytes() {
        assert_eq!(&tlv(0x04, &[0; 0x80])[..3], &[0x04, 0x81, 0x80]);
        assert_eq!(
            &tlv(0x04, &[0; 0x1_0000])[..5],
            &[0x04, 0x83, 0x01, 0x00, 0x00]
        );
    }

    #[test]
    fn non_minimal_lengths_and_malformed_oids_are_refused() {
        assert_eq!(
            Tlv::parse(&[0x04, 0x81, 0x01, 0xAA]).unwrap_err().what,
            "short length in long form is not DER"
        );
        assert_eq!(
            Tlv::parse(&[0x04, 0x82, 0x00, 0x80]).unwrap_err().what,
            "length with a leading zero byte is not DER"
        );
        assert_eq!(oid_text(&[0x80, 0x2A]), "invalid");
        assert_eq!(oid_text(&[0x2A, 0x86]), "invalid");
        assert_eq!(oid_text(&[]), "invalid");
        assert_eq!(oid_text(&[0x2A, 0x86, 0x48]), "1.2.840");
    }

    #[test]
    fn bad_input_is_a_clean_error_with_an_offset() {
        assert_eq!(
            Tlv::parse(&[0x30, 0x80, 0x00, 0x00]).unwrap_err().what,
            "indefinite length (BER) is not DER"
        );
        assert_eq!(
            Tlv::parse(&[0x30, 0x05, 0x01]).unwrap_err().what,
            "length runs past the end of the input"
        );
        let nested = [0x30, 0x03, 0x04, 0x05, 0x00];
        let outer = Tlv::parse(&nested).unwrap();
        assert_eq!(outer.children().unwrap_err().offset, 3);
    }

    proptest! {
        #[test]
        fn what_is_written_reads_back(tag in prop::sample::select(vec![0x04u8, 0x30, 0x31, 0xA0]),
                                      body in prop::collection::vec(any::<u8>(), 0..70_000)) {
            let encoded = tlv(tag, &body);
            let back = Tlv::parse(&encoded).unwrap();
            prop_assert_eq!(back.tag, tag);
            prop_assert_eq!(back.body, &body[..]);
        }

        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(tlv) = Tlv::parse(&bytes) {
                let _ = tlv.children();
            }
        }
    }
}
