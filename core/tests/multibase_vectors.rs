//! The official multibase test vectors (multiformats/multibase, `tests/*.csv`; see
//! `tests/vectors/multibase/README.md`), every row of every file.

use rhizo_core::multibase::{self, Base, MultibaseError};

/// A vector file: its name, its text, and whether its rows are canonical (re-encoding the
/// decoded bytes gives back the same text) or deliberately mis-cased.
const FILES: &[(&str, &str, bool)] = &[
    ("basic", include_str!("vectors/multibase/basic.csv"), true),
    (
        "leading_zero",
        include_str!("vectors/multibase/leading_zero.csv"),
        true,
    ),
    (
        "two_leading_zeros",
        include_str!("vectors/multibase/two_leading_zeros.csv"),
        true,
    ),
    (
        "case_insensitivity",
        include_str!("vectors/multibase/case_insensitivity.csv"),
        false,
    ),
];

/// The rhizo base for a multibase name of `multibase.csv`, or `None` if rhizo-core lacks it.
fn base_named(name: &str) -> Option<Base> {
    Some(match name {
        "base16" => Base::Base16Lower,
        "base16upper" => Base::Base16Upper,
        "base32" => Base::Base32Lower,
        "base32upper" => Base::Base32Upper,
        "base32pad" => Base::Base32PadLower,
        "base32padupper" => Base::Base32PadUpper,
        "base36" => Base::Base36Lower,
        "base36upper" => Base::Base36Upper,
        "base58btc" => Base::Base58Btc,
        "base64" => Base::Base64,
        "base64pad" => Base::Base64Pad,
        "base64url" => Base::Base64Url,
        "base64urlpad" => Base::Base64UrlPad,
        _ => return None,
    })
}

/// Splits `name, "quoted"` into its two parts.
fn split_row(line: &str) -> (&str, &str) {
    let (name, rest) = line.split_once(',').expect("a comma in every row");
    let quoted = rest.trim();
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .expect("a quoted second column");
    (name.trim(), inner)
}

/// The header's input string, with its `\xNN` escapes resolved.
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = text.as_bytes();
    while let Some((&c, tail)) = rest.split_first() {
        if c == b'\\' && tail.first() == Some(&b'x') {
            let hex = std::str::from_utf8(&tail[1..3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            rest = &tail[3..];
        } else {
            out.push(c);
            rest = tail;
        }
    }
    out
}

#[test]
fn official_vectors() {
    let mut checked = 0;
    let mut unsupported = 0;
    for &(file, text, canonical) in FILES {
        let mut lines = text.lines();
        let (_, input) = split_row(lines.next().expect("a header"));
        let input = unescape(input);
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let (name, encoded) = split_row(line);
            let mut out = [0u8; 256];
            let Some(base) = base_named(name) else {
                let prefix = encoded.chars().next().unwrap();
                assert_eq!(
                    multibase::decode(encoded, &mut out),
                    Err(MultibaseError::UnknownBase(prefix)),
                    "{file}: {name}"
                );
                unsupported += 1;
                continue;
            };
            let (got_base, n) = multibase::decode(encoded, &mut out)
                .unwrap_or_else(|e| panic!("{file}: {name}: {e}"));
            assert_eq!(got_base, base, "{file}: {name}");
            assert_eq!(out[..n], input[..], "{file}: {name}");

            let mut text_out = [0u8; 256];
            let again = multibase::encode(base, &input, &mut text_out).unwrap();
            assert!(
                again.len() <= multibase::encoded_len(base, input.len()),
                "{file}: {name}"
            );
            if canonical {
                assert_eq!(again, encoded, "{file}: {name}");
            } else {
                // Same prefix, same letters; only the case of the body differs.
                assert_eq!(again[..1], encoded[..1], "{file}: {name}");
                assert!(again.eq_ignore_ascii_case(encoded), "{file}: {name}");
            }
            checked += 1;
        }
    }
    // 13 supported bases in each of the three canonical files, 8 in case_insensitivity.csv.
    assert_eq!(checked, 3 * 13 + 8);
    // base2, base8, base10, four base32hex, base32z, base58flickr and base256emoji in each
    // canonical file, and the four base32hex rows of case_insensitivity.csv.
    assert_eq!(unsupported, 3 * 10 + 4);
}
