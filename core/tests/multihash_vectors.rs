//! The official multihash test vectors (multiformats/multihash `tests/values/test_cases.csv`,
//! plus the examples of its README and sharness tests; see `tests/vectors/multihash/README.md`).

use rhizo_core::multibase::Base;
use rhizo_core::multihash::{self, MAX_DIGEST_LEN, Multihash, MultihashError};
use sha2::Digest as _;

const FILES: &[(&str, &str)] = &[
    (
        "test_cases",
        include_str!("vectors/multihash/test_cases.csv"),
    ),
    (
        "readme_examples",
        include_str!("vectors/multihash/readme_examples.csv"),
    ),
];

/// The multicodec code of a hash function name used in the vector files.
fn code_named(name: &str) -> u64 {
    match name {
        "sha1" => multihash::code::SHA1,
        "sha2-256" => multihash::code::SHA2_256,
        "sha2-512" => multihash::code::SHA2_512,
        // The generator's `sha3` is the multihash tool's default sha3, sha3-512.
        "sha3" => 0x14,
        other => panic!("a vector names an unknown hash function {other}"),
    }
}

#[derive(Default)]
struct Counts {
    round_tripped: usize,
    computed: usize,
    truncated_sha2_256: usize,
    too_long: usize,
}

#[test]
fn official_vectors() {
    let mut counts = Counts::default();
    for &(file, text) in FILES {
        for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
            let cols: Vec<&str> = line.split(',').collect();
            let [alg, bits, input, encoded] = cols[..] else {
                panic!("{file}: four columns in {line}");
            };
            let code = code_named(alg);
            let digest_len: usize = bits.parse::<usize>().unwrap() / 8;
            let input = input.replace("\\n", "\n");
            let bytes = hex::decode(encoded).unwrap();
            let digest = &bytes[bytes.len() - digest_len..];

            if digest_len > MAX_DIGEST_LEN {
                assert_eq!(
                    Multihash::from_bytes(&bytes),
                    Err(MultihashError::DigestTooLong(digest_len as u64)),
                    "{file}: {line}"
                );
                counts.too_long += 1;
                continue;
            }
            if code == multihash::code::SHA2_256 {
                let full = sha2::Sha256::digest(input.as_bytes());
                // Truncated or not, the digest is the front of sha2-256 over the input text.
                assert_eq!(digest, &full[..digest_len], "{file}: {line}");
                if digest_len != 32 {
                    // Truncated sha2-256 is carried (as go- and rust-multihash do) and verifies
                    // against the front of the full digest; other input fails.
                    let mh = Multihash::from_bytes(&bytes).unwrap();
                    assert_eq!(mh.digest(), digest, "{file}: {line}");
                    assert_eq!(mh.verify(input.as_bytes()), Ok(true), "{file}: {line}");
                    assert_eq!(mh.verify(b"something else"), Ok(false), "{file}: {line}");
                    counts.truncated_sha2_256 += 1;
                } else {
                    let computed = Multihash::sha2_256(input.as_bytes());
                    assert_eq!(&computed.to_bytes()[..], &bytes[..], "{file}: {line}");
                    assert_eq!(computed.verify(input.as_bytes()), Ok(true));
                    counts.computed += 1;
                }
            }
            if code == multihash::code::IDENTITY {
                let computed = Multihash::identity(input.as_bytes()).unwrap();
                assert_eq!(&computed.to_bytes()[..], &bytes[..], "{file}: {line}");
                counts.computed += 1;
            }
            // Every other function is carried: parsed, and written back byte for byte.
            let (mh, used) = Multihash::read(&bytes).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(used, bytes.len(), "{file}: {line}");
            assert_eq!(mh.code(), code, "{file}: {line}");
            assert_eq!(mh.digest(), digest, "{file}: {line}");
            assert_eq!(mh.encoded_len(), bytes.len(), "{file}: {line}");
            assert_eq!(&mh.to_bytes()[..], &bytes[..], "{file}: {line}");
            assert_eq!(Multihash::wrap(code, digest), Ok(mh), "{file}: {line}");
            counts.round_tripped += 1;
        }
    }
    // test_cases.csv: 260 rows, of which 20 sha2-256 rows are full-size and 40 truncated; all
    // 260 round-trip, plus the 4 README examples.
    // readme_examples.csv: 4 rows, 2 of them sha2-256.
    assert_eq!(counts.round_tripped, 260 + 4);
    assert_eq!(counts.computed, 20 + 2);
    assert_eq!(counts.truncated_sha2_256, 40);
    assert_eq!(counts.too_long, 0);
}

/// The README's "Example" section also shows each multihash in three bases, without a
/// multibase prefix (the README predates multibase).
#[test]
fn readme_base_encodings() {
    let examples: &[(&str, &[(Base, &str)])] = &[
        (
            "111488c2f11fb2ce392acb5b2986e640211c4690073e",
            &[
                (
                    Base::Base32PadUpper,
                    "CEKIRQXRD6ZM4OJKZNNSTBXGIAQRYRUQA47A====",
                ),
                (Base::Base58Btc, "5dsgvJGnvAfiR3K6HCBc4hcokSfmjj"),
                (Base::Base64Pad, "ERSIwvEfss45KstbKYbmQCEcRpAHPg=="),
            ],
        ),
        (
            "12209cbc07c3f991725836a3aa2a581ca2029198aa420b9d99bc0e131d9f3e2cbe47",
            &[
                (
                    Base::Base32PadUpper,
                    "CIQJZPAHYP4ZC4SYG2R2UKSYDSRAFEMYVJBAXHMZXQHBGHM7HYWL4RY=",
                ),
                (
                    Base::Base58Btc,
                    "QmYtUc4iTCbbfVSDNKvtQqrfyezPPnFvE33wFmutw9PBBk",
                ),
                (
                    Base::Base64Pad,
                    "EiCcvAfD+ZFyWDajqipYHKICkZiqQgudmbwOEx2fPiy+Rw==",
                ),
            ],
        ),
    ];
    for &(hex_form, forms) in examples {
        let bytes = hex::decode(hex_form).unwrap();
        let mh = Multihash::from_bytes(&bytes).unwrap();
        for &(base, text) in forms {
            let mut out = [0u8; 128];
            let n = base.decode(text, &mut out).unwrap();
            assert_eq!(&out[..n], &bytes[..], "{text}");
            assert_eq!(base.encode(&mh.to_bytes(), &mut out).unwrap(), text);
        }
    }
}
