//! dag-pb: decoding never panics; a decoded node re-encodes (links first) to bytes that decode
//! to the same node, and to the very same bytes when the input was canonical.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rhizo_core::dagpb::{PbLink, PbNode, encoded_len, write_node};

fuzz_target!(|data: &[u8]| {
    let Ok(node) = PbNode::parse(data) else {
        return;
    };
    let links: Vec<PbLink<'_>> = node.links().collect();
    assert_eq!(links.len(), node.link_count());
    let mut out = vec![0u8; encoded_len(links.iter().copied(), node.data())];
    let again = write_node(&mut out, links.iter().copied(), node.data()).expect("sized");
    let reparsed = PbNode::parse(again).expect("our encoding decodes");
    assert!(reparsed.is_canonical());
    assert_eq!(reparsed.links().collect::<Vec<_>>(), links);
    assert_eq!(reparsed.data(), node.data());
    if node.is_canonical() {
        assert_eq!(again, data);
    }
});
