//! The dag-cbor fixtures of ipld/codec-fixtures (see `tests/vectors/dag-cbor/README.md`): every
//! block is strict dag-cbor and hashes to the CID in its file name, and the fixtures named
//! `cid-<CID>` hold exactly that link; the negative decode fixtures are rejected.

use rhizo_core::cid::{Cid, codec};
use rhizo_core::dagcbor::validate;
use rhizo_core::multihash::Multihash;
use serde_json::Value;
use std::path::PathBuf;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/dag-cbor")
}

#[test]
fn positive_fixtures_validate() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for dir in std::fs::read_dir(vectors().join("fixtures")).unwrap() {
        let dir = dir.unwrap().path();
        let fixture = dir.file_name().unwrap().to_str().unwrap().to_owned();
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap();
            let cid = Cid::parse(name.strip_suffix(".dag-cbor").unwrap()).unwrap();
            assert_eq!(cid.codec(), codec::DAG_CBOR);
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(*cid.hash(), Multihash::sha2_256(&bytes), "{fixture}");
            let mut links = Vec::new();
            match validate(&bytes, &mut |c| links.push(c)) {
                Ok(()) => {}
                Err(e) => {
                    failures.push(format!("{fixture}: {e}"));
                    continue;
                }
            }
            if let Some(text) = fixture.strip_prefix("cid-")
                && let Ok(want) = Cid::parse(text)
            {
                assert_eq!(links, [want], "{fixture}");
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(checked >= 100, "only {checked} fixtures");
}

#[test]
fn negative_fixtures_are_rejected() {
    let text =
        std::fs::read_to_string(vectors().join("negative-decode-duplicate-keys.json")).unwrap();
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let bytes = hex::decode(case["hex"].as_str().unwrap()).unwrap();
        assert!(
            validate(&bytes, &mut |_| {}).is_err(),
            "{} was accepted",
            case["name"]
        );
    }
}
