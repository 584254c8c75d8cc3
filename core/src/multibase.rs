//! Multibase: text encodings of bytes, named by a one-character prefix.
//!
//! Supported: base16 (`f`, `F`), base32 without padding (`b`, `B`), base32 with padding (`c`,
//! `C`), base36 (`k`, `K`), base58btc (`z`), base64 (`m`), base64 with padding (`M`), base64url
//! (`u`) and base64url with padding (`U`). Any other prefix is [`MultibaseError::UnknownBase`].
//! Encoding writes ASCII into a caller buffer and returns it as `&str`; decoding writes bytes
//! into a caller buffer. Encoding always writes the case its prefix names. Decoding is strict
//! about everything but letter case: characters outside the alphabet, padding that is missing,
//! excess or anywhere but at the very end, and non-zero trailing bits are errors.
//!
//! # Q&A
//! *Why does decoding accept either letter case for base16, base32 and base36?* The multibase
//! table (`multibase.csv`) calls base32 and base36 "case-insensitive", and the official vectors
//! (`tests/case_insensitivity.csv`, "must decode without errors") decode mixed-case base16,
//! base32 and base36 text under both the lower- and the upper-case prefix. The prefix still
//! picks the case of what is *written*. Base58 and base64 are case-sensitive alphabets and stay
//! strict. Up to letter case every base is canonical: one byte string has one text.
//!
//! *Why not the `multibase` crate?* It needs `alloc` for every call. Base16/32/64 use
//! `data-encoding` and base58 uses `bs58`, both of which write into caller buffers. Base36 has
//! no no_std crate that does; it is the same big-number conversion as base58 and is written
//! here in a few lines, bounded by [`MAX_BASE36_INPUT`].

use crate::wire::BufferTooSmall;
use data_encoding::Encoding;

/// The most bytes base36 encodes or decodes (the conversion is quadratic in the length).
pub const MAX_BASE36_INPUT: usize = 1024;

/// A multibase encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Base {
    /// `f`: lowercase hexadecimal.
    Base16Lower,
    /// `F`: uppercase hexadecimal.
    Base16Upper,
    /// `b`: RFC 4648 base32, lowercase, no padding (CIDv1's default).
    Base32Lower,
    /// `B`: RFC 4648 base32, uppercase, no padding.
    Base32Upper,
    /// `c`: RFC 4648 base32, lowercase, padded.
    Base32PadLower,
    /// `C`: RFC 4648 base32, uppercase, padded.
    Base32PadUpper,
    /// `k`: base36, lowercase (IPNS keys).
    Base36Lower,
    /// `K`: base36, uppercase.
    Base36Upper,
    /// `z`: base58 with the Bitcoin alphabet (PeerIds, CIDv0).
    Base58Btc,
    /// `m`: RFC 4648 base64, no padding.
    Base64,
    /// `M`: RFC 4648 base64, padded.
    Base64Pad,
    /// `u`: RFC 4648 base64url, no padding.
    Base64Url,
    /// `U`: RFC 4648 base64url, padded.
    Base64UrlPad,
}

/// Why text could not be encoded or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultibaseError {
    /// The text is empty: it has no base prefix.
    Empty,
    /// The prefix names no base this crate supports.
    UnknownBase(char),
    /// A character outside the base's alphabet, bad padding or non-zero trailing bits, at
    /// this byte offset of the text after the prefix.
    InvalidCharacter(usize),
    /// The text's length is impossible for the base.
    InvalidLength,
    /// The input is longer than this base converts ([`MAX_BASE36_INPUT`]).
    TooLong,
    /// The output buffer is too small.
    BufferTooSmall(BufferTooSmall),
}

impl core::fmt::Display for MultibaseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MultibaseError::Empty => f.write_str("multibase: empty text"),
            MultibaseError::UnknownBase(c) => write!(f, "multibase: unknown base prefix {c:?}"),
            MultibaseError::InvalidCharacter(i) => write!(f, "multibase: invalid character at {i}"),
            MultibaseError::InvalidLength => f.write_str("multibase: invalid length"),
            MultibaseError::TooLong => f.write_str("multibase: input too long"),
            MultibaseError::BufferTooSmall(e) => write!(f, "multibase: {e}"),
        }
    }
}

impl core::error::Error for MultibaseError {}

impl From<BufferTooSmall> for MultibaseError {
    fn from(e: BufferTooSmall) -> Self {
        MultibaseError::BufferTooSmall(e)
    }
}

const BASE36_LOWER: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

impl Base {
    /// Every supported base.
    pub const ALL: [Base; 13] = [
        Base::Base16Lower,
        Base::Base16Upper,
        Base::Base32Lower,
        Base::Base32Upper,
        Base::Base32PadLower,
        Base::Base32PadUpper,
        Base::Base36Lower,
        Base::Base36Upper,
        Base::Base58Btc,
        Base::Base64,
        Base::Base64Pad,
        Base::Base64Url,
        Base::Base64UrlPad,
    ];

    /// The prefix character.
    pub const fn code(self) -> char {
        match self {
            Base::Base16Lower => 'f',
            Base::Base16Upper => 'F',
            Base::Base32Lower => 'b',
            Base::Base32Upper => 'B',
            Base::Base32PadLower => 'c',
            Base::Base32PadUpper => 'C',
            Base::Base36Lower => 'k',
            Base::Base36Upper => 'K',
            Base::Base58Btc => 'z',
            Base::Base64 => 'm',
            Base::Base64Pad => 'M',
            Base::Base64Url => 'u',
            Base::Base64UrlPad => 'U',
        }
    }

    /// The base a prefix character names.
    pub fn from_code(code: char) -> Result<Base, MultibaseError> {
        Base::ALL
            .into_iter()
            .find(|b| b.code() == code)
            .ok_or(MultibaseError::UnknownBase(code))
    }

    /// The data-encoding engine of an RFC 4648 base, and whether its text is folded to upper case
    /// for decoding and written in lower case (data-encoding's base32 alphabets are upper case).
    /// `None` for base36 and base58.
    ///
    /// # Q&A
    /// *Why statics and not `&de::BASE32`?* With data-encoding's `alloc` feature (turned on by
    /// any other crate in the build, e.g. rust-libp2p) an `Encoding` holds a `Cow`, and a
    /// reference to such a constant is no longer promoted to `'static`.
    fn rfc4648(self) -> Option<(&'static Encoding, Fold)> {
        use data_encoding as de;
        static HEXLOWER: Encoding = de::HEXLOWER_PERMISSIVE;
        static HEXUPPER: Encoding = de::HEXUPPER_PERMISSIVE;
        static BASE32_NOPAD: Encoding = de::BASE32_NOPAD;
        static BASE32: Encoding = de::BASE32;
        static BASE64_NOPAD: Encoding = de::BASE64_NOPAD;
        static BASE64: Encoding = de::BASE64;
        static BASE64URL_NOPAD: Encoding = de::BASE64URL_NOPAD;
        static BASE64URL: Encoding = de::BASE64URL;
        Some(match self {
            // The permissive engines decode either case; encoding picks the case itself.
            Base::Base16Lower => (&HEXLOWER, Fold::None),
            Base::Base16Upper => (&HEXUPPER, Fold::None),
            Base::Base32Lower => (&BASE32_NOPAD, Fold::Lowercase),
            Base::Base32Upper => (&BASE32_NOPAD, Fold::Uppercase),
            Base::Base32PadLower => (&BASE32, Fold::Lowercase),
            Base::Base32PadUpper => (&BASE32, Fold::Uppercase),
            Base::Base64 => (&BASE64_NOPAD, Fold::None),
            Base::Base64Pad => (&BASE64, Fold::None),
            Base::Base64Url => (&BASE64URL_NOPAD, Fold::None),
            Base::Base64UrlPad => (&BASE64URL, Fold::None),
            Base::Base36Lower | Base::Base36Upper | Base::Base58Btc => return None,
        })
    }

    /// An upper bound on the characters [`Base::encode`] writes for `len` bytes, no prefix.
    pub fn encoded_len(self, len: usize) -> usize {
        match self {
            // log(256)/log(58) < 1.3658 and log(256)/log(36) < 1.5475.
            Base::Base58Btc => len + len.div_ceil(2) + 1,
            Base::Base36Lower | Base::Base36Upper => len * 2 + 1,
            _ => self.rfc4648().map_or(0, |(e, _)| e.encode_len(len)),
        }
    }

    /// Encodes `data` in this base without the prefix, into `out`.
    pub fn encode<'o>(self, data: &[u8], out: &'o mut [u8]) -> Result<&'o str, MultibaseError> {
        let n = match self {
            Base::Base58Btc => bs58::encode(data).onto(&mut *out).map_err(|_| {
                MultibaseError::BufferTooSmall(BufferTooSmall {
                    required: self.encoded_len(data.len()),
                })
            })?,
            Base::Base36Lower | Base::Base36Upper => {
                let n = base36_encode(data, out)?;
                if self == Base::Base36Upper {
                    out[..n].make_ascii_uppercase();
                }
                n
            }
            _ => {
                let (enc, fold) = self.rfc4648().expect("every other base is RFC 4648");
                let n = enc.encode_len(data.len());
                let dst = out.get_mut(..n).ok_or(BufferTooSmall { required: n })?;
                enc.encode_mut(data, dst);
                if fold == Fold::Lowercase {
                    dst.make_ascii_lowercase();
                }
                n
            }
        };
        Ok(core::str::from_utf8(&out[..n]).expect("every alphabet is ASCII"))
    }

    /// Decodes `text` (without the prefix) from this base into `out`; returns the byte count.
    pub fn decode(self, text: &str, out: &mut [u8]) -> Result<usize, MultibaseError> {
        let text = text.as_bytes();
        match self {
            Base::Base58Btc => bs58::decode(text).onto(out).map_err(|e| match e {
                bs58::decode::Error::BufferTooSmall => {
                    MultibaseError::BufferTooSmall(BufferTooSmall {
                        required: text.len(),
                    })
                }
                bs58::decode::Error::InvalidCharacter { index, .. } => {
                    MultibaseError::InvalidCharacter(index)
                }
                _ => MultibaseError::InvalidCharacter(0),
            }),
            Base::Base36Lower | Base::Base36Upper => base36_decode(text, out),
            _ => {
                let (enc, fold) = self.rfc4648().expect("every other base is RFC 4648");
                check_padding(text, enc)?;
                let n = enc
                    .decode_len(text.len())
                    .map_err(|_| MultibaseError::InvalidLength)?;
                let dst = out.get_mut(..n).ok_or(BufferTooSmall { required: n })?;
                if fold == Fold::None {
                    enc.decode_mut(text, dst).map_err(|e| decode_error(e.error))
                } else {
                    decode_folded(enc, text, dst)
                }
            }
        }
    }
}

/// How an RFC 4648 base's text relates to data-encoding's engine.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fold {
    /// The engine decodes and writes the base's text as is.
    None,
    /// base32, lower case: written lowercased, decoded after folding to upper case.
    Lowercase,
    /// base32, upper case: written as is, decoded after folding to upper case.
    Uppercase,
}

/// Rejects padding anywhere but at the very end: data-encoding accepts concatenated padded
/// blocks (`Zg==Zg==`), which would give one byte string two texts.
fn check_padding(text: &[u8], enc: &Encoding) -> Result<(), MultibaseError> {
    const PAD: u8 = b'=';
    if !matches!(enc.interpret_byte(PAD), data_encoding::Character::Padding) {
        return Ok(());
    }
    let Some(first) = text.iter().position(|&c| c == PAD) else {
        return Ok(());
    };
    // A block holds 8 characters in base32 and 4 in base64; at most block - 1 are padding.
    let block = if enc.bit_width() == 5 { 8 } else { 4 };
    if let Some(i) = text[first..].iter().position(|&c| c != PAD) {
        return Err(MultibaseError::InvalidCharacter(first + i));
    }
    if text.len() - first >= block {
        return Err(MultibaseError::InvalidCharacter(first));
    }
    Ok(())
}

fn decode_error(e: data_encoding::DecodeError) -> MultibaseError {
    match e.kind {
        data_encoding::DecodeKind::Length => MultibaseError::InvalidLength,
        _ => MultibaseError::InvalidCharacter(e.position),
    }
}

/// Decodes base32 of either case with an uppercase engine: whole 8-character blocks are
/// uppercased on the stack and decoded block by block, the last block carrying any padding or
/// partial tail.
fn decode_folded(enc: &Encoding, text: &[u8], out: &mut [u8]) -> Result<usize, MultibaseError> {
    const BLOCK: usize = 8 * 32; // characters per round: a multiple of base32's 8-char block
    let mut written = 0;
    let mut offset = 0;
    for chunk in text.chunks(BLOCK) {
        let mut upper = [0u8; BLOCK];
        let upper = &mut upper[..chunk.len()];
        upper.copy_from_slice(chunk);
        upper.make_ascii_uppercase();
        let n = enc
            .decode_len(upper.len())
            .map_err(|_| MultibaseError::InvalidLength)?;
        let dst = out.get_mut(written..written + n).ok_or(BufferTooSmall {
            required: written + n,
        })?;
        let got = enc.decode_mut(upper, dst).map_err(|e| {
            let mut err = decode_error(e.error);
            if let MultibaseError::InvalidCharacter(i) = &mut err {
                *i += offset;
            }
            err
        })?;
        written += got;
        offset += chunk.len();
    }
    Ok(written)
}

/// Big-number conversion of bytes to base36 digits, leading zero bytes kept as `0` digits.
fn base36_encode(data: &[u8], out: &mut [u8]) -> Result<usize, MultibaseError> {
    if data.len() > MAX_BASE36_INPUT {
        return Err(MultibaseError::TooLong);
    }
    let zeros = data.iter().take_while(|&&b| b == 0).count();
    // Digits, least significant first, accumulated in `out` itself.
    let mut len = 0usize;
    for &byte in &data[zeros..] {
        let mut carry = u32::from(byte);
        for d in out[..len].iter_mut() {
            carry += u32::from(*d) << 8;
            *d = (carry % 36) as u8;
            carry /= 36;
        }
        while carry > 0 {
            let slot = out.get_mut(len).ok_or(BufferTooSmall {
                required: Base::Base36Lower.encoded_len(data.len()),
            })?;
            *slot = (carry % 36) as u8;
            carry /= 36;
            len += 1;
        }
    }
    let total = zeros + len;
    if out.len() < total {
        return Err(BufferTooSmall { required: total }.into());
    }
    out.copy_within(0..len, zeros);
    out[..zeros].fill(0);
    out[zeros..total].reverse();
    for d in &mut out[..total] {
        *d = BASE36_LOWER[usize::from(*d)];
    }
    Ok(total)
}

/// Big-number conversion of base36 digits (either case) to bytes, leading `0` digits kept as
/// zero bytes.
fn base36_decode(text: &[u8], out: &mut [u8]) -> Result<usize, MultibaseError> {
    if text.len() > MAX_BASE36_INPUT * 2 {
        return Err(MultibaseError::TooLong);
    }
    let zeros = text.iter().take_while(|&&c| c == b'0').count();
    // Bytes, least significant first.
    let mut len = 0usize;
    for (i, &c) in text.iter().enumerate().skip(zeros) {
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'z' => c - b'a' + 10,
            b'A'..=b'Z' => c - b'A' + 10,
            _ => return Err(MultibaseError::InvalidCharacter(i)),
        };
        let mut carry = u32::from(digit);
        for b in out[..len].iter_mut() {
            carry += u32::from(*b) * 36;
            *b = carry as u8;
            carry >>= 8;
        }
        while carry > 0 {
            let slot = out.get_mut(len).ok_or(BufferTooSmall {
                required: text.len(),
            })?;
            *slot = carry as u8;
            carry >>= 8;
            len += 1;
        }
    }
    let total = zeros + len;
    // Decode no more than encode takes, so that whatever decodes encodes back.
    if total > MAX_BASE36_INPUT {
        return Err(MultibaseError::TooLong);
    }
    if out.len() < total {
        return Err(BufferTooSmall { required: total }.into());
    }
    out.copy_within(0..len, zeros);
    out[..zeros].fill(0);
    out[zeros..total].reverse();
    Ok(total)
}

/// Encodes `data` with `base`, prefix included, into `out`.
pub fn encode<'o>(base: Base, data: &[u8], out: &'o mut [u8]) -> Result<&'o str, MultibaseError> {
    let (prefix, rest) = out.split_first_mut().ok_or(BufferTooSmall {
        required: 1 + base.encoded_len(data.len()),
    })?;
    *prefix = base.code() as u8;
    let n = base.encode(data, rest)?.len();
    Ok(core::str::from_utf8(&out[..=n]).expect("ASCII"))
}

/// An upper bound on the characters [`encode`] writes for `len` bytes, prefix included.
pub fn encoded_len(base: Base, len: usize) -> usize {
    1 + base.encoded_len(len)
}

/// Decodes multibase `text` into `out`: the base it named and the byte count.
pub fn decode(text: &str, out: &mut [u8]) -> Result<(Base, usize), MultibaseError> {
    let code = text.chars().next().ok_or(MultibaseError::Empty)?;
    let base = Base::from_code(code)?;
    let n = base.decode(&text[code.len_utf8()..], out)?;
    Ok((base, n))
}

/// Encodes `data` with `base`, prefix included, into a new string.
#[cfg(feature = "alloc")]
pub fn encode_to_string(base: Base, data: &[u8]) -> alloc::string::String {
    let mut buf = alloc::vec![0u8; encoded_len(base, data.len())];
    let n = encode(base, data, &mut buf)
        .expect("sized by encoded_len")
        .len();
    buf.truncate(n);
    alloc::string::String::from_utf8(buf).expect("ASCII")
}

/// Decodes multibase `text` into a new vector.
#[cfg(feature = "alloc")]
pub fn decode_to_vec(text: &str) -> Result<(Base, alloc::vec::Vec<u8>), MultibaseError> {
    // No base makes fewer characters per byte than base16's two, bar base32/36/58/64 which all
    // need more than one; `text.len()` bytes is always enough.
    let mut buf = alloc::vec![0u8; text.len()];
    let (base, n) = decode(text, &mut buf)?;
    buf.truncate(n);
    Ok((base, buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(base: Base, data: &[u8]) -> String {
        let mut text = vec![0u8; encoded_len(base, data.len())];
        let encoded = encode(base, data, &mut text).unwrap().to_owned();
        let mut back = vec![0u8; encoded.len()];
        assert_eq!(decode(&encoded, &mut back), Ok((base, data.len())));
        assert_eq!(&back[..data.len()], data);
        encoded
    }

    #[test]
    fn prefixes_are_distinct_and_round_trip() {
        for base in Base::ALL {
            assert_eq!(Base::from_code(base.code()), Ok(base));
        }
        assert_eq!(Base::from_code('Q'), Err(MultibaseError::UnknownBase('Q')));
        assert_eq!(
            decode("", &mut [0u8; 4]),
            Err(MultibaseError::Empty),
            "no prefix"
        );
        assert_eq!(
            decode("🚀", &mut [0u8; 4]),
            Err(MultibaseError::UnknownBase('🚀'))
        );
    }

    #[test]
    fn hex_of_both_cases() {
        // The bug the official vectors found: lowercase hex with letters did not decode.
        assert_eq!(round_trip(Base::Base16Lower, &[0xde, 0xad]), "fdead");
        assert_eq!(round_trip(Base::Base16Upper, &[0xbe, 0xef]), "FBEEF");
    }

    #[test]
    fn case_is_folded_only_where_the_spec_says() {
        let mut out = [0u8; 16];
        // base16, base32 and base36 accept either case under either prefix.
        assert_eq!(decode("fDeAd", &mut out), Ok((Base::Base16Lower, 2)));
        assert_eq!(decode("BmZxW6", &mut out), Ok((Base::Base32Upper, 3)));
        assert_eq!(&out[..3], b"foo");
        assert_eq!(decode("kA", &mut out), Ok((Base::Base36Lower, 1)));
        assert_eq!(out[0], 10);
        // base58 and base64 are case-sensitive: swapping case changes (or breaks) the data.
        assert_eq!(decode("mZm9v", &mut out), Ok((Base::Base64, 3)));
        assert_eq!(&out[..3], b"foo");
        assert_ne!(
            decode("mzM9V", &mut out).map(|_| &out[..3]),
            Ok(&b"foo"[..])
        );
        // Characters outside the alphabet are still errors, at their offset.
        assert_eq!(
            decode("bmzxw0", &mut out),
            Err(MultibaseError::InvalidCharacter(4))
        );
        assert_eq!(
            decode("fdeag", &mut out),
            Err(MultibaseError::InvalidCharacter(3))
        );
        assert_eq!(
            decode("k1!", &mut out),
            Err(MultibaseError::InvalidCharacter(1))
        );
    }

    #[test]
    fn strict_padding_length_and_trailing_bits() {
        let mut out = [0u8; 16];
        assert_eq!(decode("b", &mut out), Ok((Base::Base32Lower, 0)));
        assert_eq!(decode("bm", &mut out), Err(MultibaseError::InvalidLength));
        // "foo" in padded base32 is "MZXW6===": padding is required for `c` and refused for `b`.
        assert_eq!(decode("cmzxw6===", &mut out), Ok((Base::Base32PadLower, 3)));
        assert!(decode("cmzxw6", &mut out).is_err());
        assert!(decode("bmzxw6===", &mut out).is_err());
        // Non-zero trailing bits: the last character carries bits past the last byte.
        assert!(decode("bmzxw7", &mut out).is_err());
        assert!(decode("mZm9", &mut out).is_err());
        assert!(decode("f0", &mut out).is_err());
        // Padding only at the very end (data-encoding would decode concatenated blocks).
        assert_eq!(decode("MZg==", &mut out), Ok((Base::Base64Pad, 1)));
        assert_eq!(
            decode("MZg==Zg==", &mut out),
            Err(MultibaseError::InvalidCharacter(4))
        );
        assert_eq!(
            decode("cmy======my======", &mut out),
            Err(MultibaseError::InvalidCharacter(8))
        );
        assert_eq!(
            decode("MZm9v====", &mut out),
            Err(MultibaseError::InvalidCharacter(4))
        );
    }

    #[test]
    fn long_base32_spans_fold_blocks() {
        // More than one 256-character fold block, mixed case, with an error in the second one.
        let data: Vec<u8> = (0..=255u8).cycle().take(400).collect();
        let text = round_trip(Base::Base32PadLower, &data);
        let mut mixed = text.clone().into_bytes();
        for c in mixed.iter_mut().skip(1).step_by(3) {
            c.make_ascii_uppercase();
        }
        let mixed = String::from_utf8(mixed).unwrap();
        let mut out = vec![0u8; 500];
        assert_eq!(decode(&mixed, &mut out), Ok((Base::Base32PadLower, 400)));
        assert_eq!(&out[..400], &data[..]);
        let mut bad = text.into_bytes();
        bad[301] = b'1';
        let bad = String::from_utf8(bad).unwrap();
        assert_eq!(
            decode(&bad, &mut out),
            Err(MultibaseError::InvalidCharacter(300))
        );
    }

    #[test]
    fn buffers_too_small_are_errors() {
        for base in Base::ALL {
            let data = [0xffu8; 20];
            let mut tiny = [0u8; 3];
            assert!(
                matches!(
                    encode(base, &data, &mut tiny),
                    Err(MultibaseError::BufferTooSmall(_))
                ),
                "{base:?}"
            );
            let text = round_trip(base, &data);
            assert!(
                matches!(
                    decode(&text, &mut tiny),
                    Err(MultibaseError::BufferTooSmall(_))
                ),
                "{base:?}"
            );
        }
        assert!(matches!(
            encode(Base::Base16Lower, b"x", &mut []),
            Err(MultibaseError::BufferTooSmall(_))
        ));
    }

    #[test]
    fn base36_limits() {
        let big = vec![1u8; MAX_BASE36_INPUT + 1];
        let mut out = vec![0u8; 4096];
        assert_eq!(
            Base::Base36Lower.encode(&big, &mut out),
            Err(MultibaseError::TooLong)
        );
        let text = "k".to_owned() + &"z".repeat(MAX_BASE36_INPUT * 2 + 1);
        assert_eq!(decode(&text, &mut out), Err(MultibaseError::TooLong));
        // Text that would decode to more bytes than encoding takes is refused too.
        let text = "k".to_owned() + &"z".repeat(MAX_BASE36_INPUT * 2);
        assert_eq!(decode(&text, &mut out), Err(MultibaseError::TooLong));
        let text = "k".to_owned() + &"0".repeat(MAX_BASE36_INPUT + 1);
        assert_eq!(decode(&text, &mut out), Err(MultibaseError::TooLong));
        let max = vec![0xffu8; MAX_BASE36_INPUT];
        round_trip(Base::Base36Upper, &max);
        assert_eq!(round_trip(Base::Base36Lower, &[0, 0]), "k00");
        assert_eq!(round_trip(Base::Base36Upper, &[]), "K");
    }

    proptest! {
        #[test]
        fn every_base_round_trips(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            for base in Base::ALL {
                let mut text = vec![0u8; encoded_len(base, data.len())];
                let encoded = encode(base, &data, &mut text).unwrap();
                // `encoded_len` is an upper bound (exact for the RFC 4648 bases).
                prop_assert!(encoded.len() <= encoded_len(base, data.len()));
                prop_assert!(encoded.starts_with(base.code()));
                let mut back = vec![0u8; encoded.len()];
                prop_assert_eq!(decode(encoded, &mut back), Ok((base, data.len())));
                prop_assert_eq!(&back[..data.len()], &data[..]);
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let mut out = vec![0u8; text.len()];
            if let Ok((base, n)) = decode(&text, &mut out) {
                // What decodes re-encodes, in the same base, to text that decodes the same.
                let mut again = vec![0u8; encoded_len(base, n)];
                let encoded = encode(base, &out[..n], &mut again).unwrap();
                let mut back = vec![0u8; encoded.len()];
                prop_assert_eq!(decode(encoded, &mut back), Ok((base, n)));
                prop_assert_eq!(&back[..n], &out[..n]);
            }
        }

        #[test]
        fn alphabet_text_never_panics(
            prefix in proptest::sample::select(Base::ALL.to_vec()),
            body in "[0-9a-zA-Z+/_-]{0,80}={0,3}[0-9a-zA-Z=]{0,3}",
        ) {
            let text = format!("{}{}", prefix.code(), body);
            for len in [0, 8] {
                let _ = decode(&text, &mut vec![0u8; len]);
            }
            let mut out = [0u8; 200];
            if let Ok((base, n)) = decode(&text, &mut out) {
                // Every base is canonical up to letter case: one text per byte string.
                let mut again = vec![0u8; encoded_len(base, n)];
                let encoded = encode(base, &out[..n], &mut again).unwrap();
                prop_assert!(encoded.eq_ignore_ascii_case(&text), "{} {}", text, encoded);
            }
        }
    }
}
