//! Encoding dag-pb nodes into caller buffers: links first, then data.

use super::{PbLink, link_field, node_field};
use crate::wire::BufferTooSmall;
use crate::wire::proto::{Writer, len_field_len, varint_field_len};

/// Bytes the body of `link` (the `PBLink` message, without its own field key and length) takes.
pub fn link_body_len(link: &PbLink<'_>) -> usize {
    let mut len = len_field_len(link_field::HASH, link.hash.encoded_len());
    if let Some(name) = link.name {
        len += len_field_len(link_field::NAME, name.len());
    }
    if let Some(tsize) = link.tsize {
        len += varint_field_len(link_field::TSIZE, tsize);
    }
    len
}

/// Bytes `link` takes inside a node, its field key and length included.
pub fn link_encoded_len(link: &PbLink<'_>) -> usize {
    len_field_len(node_field::LINKS, link_body_len(link))
}

/// Bytes the node of `links` and `data` takes.
pub fn encoded_len<'l>(links: impl IntoIterator<Item = PbLink<'l>>, data: Option<&[u8]>) -> usize {
    let links: usize = links.into_iter().map(|l| link_encoded_len(&l)).sum();
    links + data.map_or(0, |d| len_field_len(node_field::DATA, d.len()))
}

/// Encodes a node into `out`: every link in the order given, then `data` if present. Returns
/// the encoded bytes.
pub fn write_node<'o, 'l>(
    out: &'o mut [u8],
    links: impl IntoIterator<Item = PbLink<'l>>,
    data: Option<&[u8]>,
) -> Result<&'o [u8], BufferTooSmall> {
    let mut w = Writer::new(out);
    for link in links {
        w.message(node_field::LINKS, |w| {
            w.bytes(link_field::HASH, &link.hash.to_bytes())?;
            if let Some(name) = link.name {
                w.bytes(link_field::NAME, name)?;
            }
            if let Some(tsize) = link.tsize {
                w.varint(link_field::TSIZE, tsize)?;
            }
            Ok(())
        })?;
    }
    if let Some(data) = data {
        w.bytes(node_field::DATA, data)?;
    }
    Ok(w.finish())
}
