//! The dag-pb fixtures of ipld/codec-fixtures (see `tests/vectors/dag-pb/README.md`): every
//! `.dag-pb` block decodes to the node its `.dag-json` twin describes, re-encodes to the same
//! bytes, and hashes to the CID in its file name; every negative decode fixture is rejected.

use rhizo_core::cid::{Cid, codec};
use rhizo_core::dagpb::{PbLink, PbNode, encoded_len, write_node};
use rhizo_core::multibase::Base;
use rhizo_core::multihash::Multihash;
use serde_json::Value;
use std::path::PathBuf;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/dag-pb")
}

fn base64(text: &str) -> Vec<u8> {
    let mut out = vec![0u8; text.len()];
    let n = Base::Base64.decode(text, &mut out).unwrap();
    out.truncate(n);
    out
}

#[test]
fn positive_fixtures_round_trip() {
    let mut checked = 0;
    for dir in std::fs::read_dir(vectors().join("fixtures")).unwrap() {
        let dir = dir.unwrap().path();
        let mut block = None;
        let mut json = None;
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if let Some(cid) = name.strip_suffix(".dag-pb") {
                block = Some((Cid::parse(cid).unwrap(), std::fs::read(&path).unwrap()));
            } else if name.ends_with(".dag-json") {
                json =
                    Some(serde_json::from_slice::<Value>(&std::fs::read(&path).unwrap()).unwrap());
            }
        }
        let (cid, bytes) = block.unwrap_or_else(|| panic!("{} has no .dag-pb", dir.display()));
        let json = json.unwrap_or_else(|| panic!("{} has no .dag-json", dir.display()));
        assert_eq!(cid.codec(), codec::DAG_PB);
        assert_eq!(
            *cid.hash(),
            Multihash::sha2_256(&bytes),
            "{}",
            dir.display()
        );

        let node = PbNode::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let want_data = json
            .get("Data")
            .map(|d| base64(d["/"]["bytes"].as_str().unwrap()));
        assert_eq!(node.data(), want_data.as_deref(), "{}", dir.display());
        let want_links = json["Links"].as_array().unwrap();
        assert_eq!(node.link_count(), want_links.len());
        for (link, want) in node.links().zip(want_links) {
            assert_eq!(
                link.hash,
                Cid::parse(want["Hash"]["/"].as_str().unwrap()).unwrap()
            );
            assert_eq!(
                link.name_str(),
                want.get("Name").map(|n| n.as_str().unwrap())
            );
            assert_eq!(link.tsize, want.get("Tsize").map(|t| t.as_u64().unwrap()));
        }

        assert!(node.is_canonical(), "{}", dir.display());
        let links: Vec<PbLink<'_>> = node.links().collect();
        let mut out = vec![0u8; encoded_len(links.iter().copied(), node.data())];
        let again = write_node(&mut out, links, node.data()).unwrap();
        assert_eq!(again, &bytes[..], "{}", dir.display());
        checked += 1;
    }
    assert!(checked >= 17, "only {checked} fixtures found");
}

#[test]
fn negative_decode_fixtures_are_rejected() {
    let text = std::fs::read_to_string(vectors().join("negative-decode-edges.json")).unwrap();
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let bytes = hex::decode(case["hex"].as_str().unwrap()).unwrap();
        assert!(
            PbNode::parse(&bytes).is_err(),
            "{} ({}) was accepted",
            case["name"],
            case["hex"]
        );
    }
}
