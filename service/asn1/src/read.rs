//! Reading helpers over `der`'s [`SliceReader`]: a constructed value by tag, the elements
//! inside one, and a nested input whose errors keep their offset in the outermost input.

use der::{Decode, Encode, ErrorKind, Header, Length, Reader, SliceReader, Tag, TagNumber};

use crate::DerError;

pub(crate) type Result<T> = std::result::Result<T, DerError>;

/// `[n]`, constructed: a context-specific tag as CMS and X.509 use them.
pub(crate) const fn context(number: u32) -> Tag {
    Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(number),
    }
}

fn offset(length: Length) -> Option<usize> {
    usize::try_from(length).ok()
}

/// Reads all of `bytes` with `f`; errors are placed `base` bytes on (where `bytes` starts in the
/// outermost input). Trailing bytes are an error.
pub(crate) fn parse<'a, T>(
    bytes: &'a [u8],
    base: usize,
    f: impl FnOnce(&mut SliceReader<'a>) -> Result<T>,
) -> Result<T> {
    let inner = || -> Result<T> {
        let mut reader = SliceReader::new(bytes)?;
        let value = f(&mut reader)?;
        reader.finish()?;
        Ok(value)
    };
    inner().map_err(|e| e.shifted(base))
}

/// The header of the next element, which must carry `tag` and fit in what is left.
fn header(r: &mut SliceReader<'_>, tag: Tag) -> Result<Header> {
    let at = r.position();
    let header = Header::decode(r)?;
    if header.tag() != tag {
        return Err(ErrorKind::TagUnexpected {
            expected: Some(tag),
            actual: header.tag(),
        }
        .at(at)
        .into());
    }
    if header.length() > r.remaining_len() {
        return Err(DerError::new(
            offset(r.position()),
            "length runs past the end of the input",
        ));
    }
    Ok(header)
}

/// Reads a value with `tag` and hands its contents to `f`, which must read all of them.
pub(crate) fn nested<'a, T>(
    r: &mut SliceReader<'a>,
    tag: Tag,
    f: impl FnOnce(&mut SliceReader<'a>) -> Result<T>,
) -> Result<T> {
    let header = header(r, tag)?;
    r.read_nested(header.length(), f)
}

/// The contents of a value with `tag`, and where they start in this reader's input.
pub(crate) fn contents<'a>(r: &mut SliceReader<'a>, tag: Tag) -> Result<(&'a [u8], usize)> {
    let header = header(r, tag)?;
    let at = offset(r.position()).unwrap_or_default();
    Ok((r.read_slice(header.length())?, at))
}

/// The whole encoding (header and contents) of the next element, which must carry `tag`.
pub(crate) fn element<'a>(r: &mut SliceReader<'a>, tag: Tag) -> Result<&'a [u8]> {
    let at = r.position();
    let header = Header::peek(r)?;
    if header.tag() != tag {
        return Err(ErrorKind::TagUnexpected {
            expected: Some(tag),
            actual: header.tag(),
        }
        .at(at)
        .into());
    }
    Ok(r.read_slice((header.encoded_len()? + header.length())?)?)
}

/// Is the next element tagged `tag`? (False at the end of the input.)
pub(crate) fn next_is(r: &SliceReader<'_>, tag: Tag) -> bool {
    !r.is_finished() && Tag::peek(r).is_ok_and(|t| t == tag)
}

/// Skips the next element if it is tagged `tag`.
pub(crate) fn skip_if(r: &mut SliceReader<'_>, tag: Tag) -> Result<()> {
    if next_is(r, tag) {
        r.tlv_bytes()?;
    }
    Ok(())
}

/// The whole encoding of every element left in `r`, in order.
pub(crate) fn elements<'a>(r: &mut SliceReader<'a>) -> Result<Vec<&'a [u8]>> {
    let mut out = Vec::new();
    while !r.is_finished() {
        out.push(r.tlv_bytes()?);
    }
    Ok(out)
}
