use super::*;
use crate::cid::codec;
use crate::multihash::Multihash;
use proptest::prelude::*;

fn cid(seed: &[u8]) -> Cid {
    Cid::new_v0(Multihash::sha2_256(seed)).unwrap()
}

fn encode(links: &[PbLink<'_>], data: Option<&[u8]>) -> Vec<u8> {
    let mut out = vec![0u8; encoded_len(links.iter().copied(), data)];
    let n = write_node(&mut out, links.iter().copied(), data)
        .unwrap()
        .len();
    assert_eq!(n, out.len());
    out
}

#[test]
fn empty_node_is_empty_bytes() {
    let node = PbNode::parse(&[]).unwrap();
    assert_eq!(node.data(), None);
    assert_eq!(node.link_count(), 0);
    assert!(node.is_canonical());
}

#[test]
fn writes_links_before_data_and_reads_them_back() {
    let links = [
        PbLink::new(cid(b"a"), "a", 10),
        PbLink {
            hash: Cid::new_v1(codec::RAW, Multihash::sha2_256(b"b")).unwrap(),
            name: None,
            tsize: None,
        },
    ];
    let bytes = encode(&links, Some(b"\x08\x01"));
    assert_eq!(bytes[0], 0x12, "a Links field comes first");
    let node = PbNode::parse(&bytes).unwrap();
    assert_eq!(node.data(), Some(&b"\x08\x01"[..]));
    assert_eq!(node.links().collect::<Vec<_>>(), links);
    assert_eq!(node.link(1), Some(links[1]));
    assert_eq!(node.link(2), None);
    assert!(node.is_canonical());
}

#[test]
fn data_first_is_accepted_but_not_canonical() {
    let link = encode(&[PbLink::new(cid(b"x"), "", 1)], None);
    let mut bytes = vec![0x0a, 0x01, 0x07];
    bytes.extend_from_slice(&link);
    let node = PbNode::parse(&bytes).unwrap();
    assert_eq!(node.link_count(), 1);
    assert!(!node.is_canonical());
}

#[test]
fn rejects_what_the_spec_rejects() {
    let link = encode(&[PbLink::new(cid(b"x"), "n", 1)], None);
    // Links, Data, Links.
    let mut interleaved = link.clone();
    interleaved.extend_from_slice(&[0x0a, 0x00]);
    interleaved.extend_from_slice(&link);
    assert_eq!(
        PbNode::parse(&interleaved),
        Err(DagPbError::InterleavedLinks)
    );
    assert_eq!(
        PbNode::parse(&[0x0a, 0x00, 0x0a, 0x00]),
        Err(DagPbError::DuplicateData)
    );
    assert_eq!(
        PbNode::parse(&[0x1a, 0x00]),
        Err(DagPbError::UnknownNodeField(3))
    );
    assert_eq!(
        PbNode::parse(&[0x08, 0x00]),
        Err(DagPbError::WrongWireType {
            node: true,
            field: 1
        })
    );
    // Name before Hash inside a link.
    let h = cid(b"x").to_bytes();
    let mut body = vec![0x12, 0x00, 0x0a, h.len() as u8];
    body.extend_from_slice(&h);
    let mut node = vec![0x12, body.len() as u8];
    node.extend_from_slice(&body);
    assert_eq!(PbNode::parse(&node), Err(DagPbError::LinkFieldOrder));
    assert_eq!(
        PbLink::parse(&[0x18, 0x01, 0x18, 0x01]),
        Err(DagPbError::DuplicateLinkField(3))
    );
    assert_eq!(PbLink::parse(&[0x18, 0x01]), Err(DagPbError::MissingHash));
    assert_eq!(
        PbLink::parse(&[0x20, 0x01]),
        Err(DagPbError::UnknownLinkField(4))
    );
}

#[test]
fn buffer_too_small_is_an_error() {
    let links = [PbLink::new(cid(b"a"), "a", 10)];
    let len = encoded_len(links, Some(b"xyz"));
    let mut out = vec![0u8; len - 1];
    assert!(write_node(&mut out, links, Some(b"xyz")).is_err());
}

fn arb_link() -> impl Strategy<Value = (Vec<u8>, Option<Vec<u8>>, Option<u64>, bool)> {
    (
        proptest::collection::vec(any::<u8>(), 0..40),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
        proptest::option::of(any::<u64>()),
        any::<bool>(),
    )
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(node) = PbNode::parse(&bytes) {
            let links: Vec<_> = node.links().collect();
            prop_assert_eq!(links.len(), node.link_count());
            let again = encode(&links, node.data());
            let reparsed = PbNode::parse(&again).unwrap();
            prop_assert_eq!(reparsed.links().collect::<Vec<_>>(), links);
            prop_assert_eq!(reparsed.data(), node.data());
            if node.is_canonical() {
                prop_assert_eq!(again, bytes);
            }
        }
    }

    #[test]
    fn nodes_round_trip(
        links in proptest::collection::vec(arb_link(), 0..8),
        data in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
    ) {
        let links: Vec<PbLink<'_>> = links
            .iter()
            .map(|(seed, name, tsize, v1)| PbLink {
                hash: if *v1 {
                    Cid::new_v1(codec::RAW, Multihash::sha2_256(seed)).unwrap()
                } else {
                    cid(seed)
                },
                name: name.as_deref(),
                tsize: *tsize,
            })
            .collect();
        let bytes = encode(&links, data.as_deref());
        let node = PbNode::parse(&bytes).unwrap();
        prop_assert!(node.is_canonical());
        prop_assert_eq!(node.links().collect::<Vec<_>>(), links);
        prop_assert_eq!(node.data(), data.as_deref());
    }
}
