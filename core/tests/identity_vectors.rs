//! Identity against official and implementation test data (see tests/vectors/peer-ids/README.md).

use rhizo_core::identity::Keypair;
use rhizo_core::identity::envelope;
use rhizo_core::identity::keypair::{SignError, Signer};
use rhizo_core::identity::keys::{KeyError, KeyType, PublicKey, VerifyError};
use rhizo_core::identity::peer_id::PeerId;
use rhizo_core::identity::peer_record::{self, SignedPeerRecord};
use rhizo_core::multibase::Base;
use std::collections::HashMap;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/peer-ids");

fn table(name: &str) -> HashMap<String, Vec<String>> {
    std::fs::read_to_string(format!("{VECTORS}/{name}"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut words = l.split_whitespace().map(String::from);
            (words.next().unwrap(), words.collect())
        })
        .collect()
}

fn spec_key(name: &str) -> Vec<u8> {
    hex::decode(&table("spec-keys.txt")[name][0]).unwrap()
}

fn file(name: &str) -> Vec<u8> {
    std::fs::read(format!("{VECTORS}/{name}")).unwrap()
}

/// Splits a `PrivateKey` protobuf into its type number and data (test helper, not strict).
fn private_data(bytes: &[u8]) -> (u8, Vec<u8>) {
    let mut reader = rhizo_core::wire::proto::Reader::new(bytes);
    let t = reader.next().unwrap().unwrap().varint().unwrap() as u8;
    let d = reader.next().unwrap().unwrap().bytes().unwrap().to_vec();
    (t, d)
}

#[test]
fn spec_public_keys_and_their_peer_ids() {
    let expected = table("peer-ids.txt");
    for (name, key_type) in [
        ("ed25519-public", KeyType::Ed25519),
        ("secp256k1-public", KeyType::Secp256k1),
        ("ecdsa-public", KeyType::Ecdsa),
        ("rsa-public", KeyType::Rsa),
    ] {
        let bytes = spec_key(name);
        let key = PublicKey::decode(&bytes).unwrap();
        assert_eq!(key.key_type(), key_type, "{name}");
        assert_eq!(&key.to_protobuf()[..], &bytes[..], "{name}");
        let id = PeerId::from_public_key(&key);
        let (base58, cid) = (&expected[name][0], &expected[name][1]);
        assert_eq!(&id.to_string(), base58, "{name}");
        assert_eq!(&id.to_cid_string(Base::Base32Lower), cid, "{name}");
        assert_eq!(base58.parse::<PeerId>(), Ok(id));
        assert_eq!(cid.parse::<PeerId>(), Ok(id));
        assert!(id.matches(&key));
        match id.public_key() {
            Some(embedded) => {
                assert!(bytes.len() <= 42);
                assert_eq!(embedded, Ok(key.clone()));
            }
            None => assert!(bytes.len() > 42),
        }
    }
}

#[test]
fn spec_ed25519_private_key() {
    let keypair = Keypair::decode_private_key(&spec_key("ed25519-private")).unwrap();
    assert_eq!(
        &keypair.public().to_protobuf()[..],
        &spec_key("ed25519-public")[..]
    );
    let mut out = [0u8; 68];
    assert_eq!(
        keypair.encode_private_key(&mut out).unwrap(),
        &spec_key("ed25519-private")[..]
    );
    // Other private key types are valid protobuf but not ours to sign with.
    assert_eq!(
        Keypair::decode_private_key(&spec_key("secp256k1-private")).unwrap_err(),
        KeyError::Unsupported(KeyType::Secp256k1)
    );
}

#[test]
fn spec_secp256k1_keypair_signs_and_verifies() {
    use k256::ecdsa::signature::hazmat::PrehashSigner;
    use sha2::Digest;
    let (t, secret) = private_data(&spec_key("secp256k1-private"));
    assert_eq!(t, 2);
    let signing = k256::ecdsa::SigningKey::from_slice(&secret).unwrap();
    let public = PublicKey::decode(&spec_key("secp256k1-public")).unwrap();
    assert_eq!(
        signing.verifying_key().to_sec1_point(true).as_bytes(),
        public.data()
    );
    let msg = b"spec secp256k1";
    let sig: k256::ecdsa::Signature = signing.sign_prehash(&sha2::Sha256::digest(msg)).unwrap();
    let der = sig.to_der();
    assert_eq!(public.verify(msg, der.as_bytes()), Ok(()));
    assert_eq!(
        public.verify(b"other", der.as_bytes()),
        Err(VerifyError::InvalidSignature)
    );
    // The raw (r, s) form is not the spec's DER encoding.
    assert!(public.verify(msg, &sig.to_bytes()).is_err());
    // The uncompressed point is accepted too, and is a different key encoding (and PeerId).
    let uncompressed = signing.verifying_key().to_sec1_point(false);
    let long = PublicKey::from_data(KeyType::Secp256k1, uncompressed.as_bytes()).unwrap();
    assert_eq!(long.verify(msg, der.as_bytes()), Ok(()));
    assert_ne!(
        PeerId::from_public_key(&long),
        PeerId::from_public_key(&public)
    );
}

#[test]
fn spec_ecdsa_keypair_signs_and_verifies() {
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::EncodePublicKey;
    let (t, der) = private_data(&spec_key("ecdsa-private"));
    assert_eq!(t, 3);
    let secret = p256::SecretKey::from_sec1_der(&der).unwrap();
    let signing = p256::ecdsa::SigningKey::from(&secret);
    let public = PublicKey::decode(&spec_key("ecdsa-public")).unwrap();
    assert_eq!(
        signing
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes(),
        public.data()
    );
    let msg = b"spec ecdsa";
    // p256's default digest is SHA-256, as the spec's ECDSA signatures use.
    let sig: p256::ecdsa::Signature = signing.sign(msg);
    assert_eq!(public.verify(msg, sig.to_der().as_bytes()), Ok(()));
    assert!(public.verify(b"other", sig.to_der().as_bytes()).is_err());
}

fn rsa_sign(key: &rsa::RsaPrivateKey, msg: &[u8]) -> Vec<u8> {
    use rsa::signature::{SignatureEncoding, Signer as _};
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    signer.sign(msg).to_vec()
}

#[test]
fn spec_rsa_keypair_signs_and_verifies() {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::EncodePublicKey;
    let (t, der) = private_data(&spec_key("rsa-private"));
    assert_eq!(t, 0);
    let private = rsa::RsaPrivateKey::from_pkcs1_der(&der).unwrap();
    let public = PublicKey::decode(&spec_key("rsa-public")).unwrap();
    assert_eq!(
        private
            .to_public_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes(),
        public.data()
    );
    let sig = rsa_sign(&private, b"spec rsa");
    assert_eq!(public.verify(b"spec rsa", &sig), Ok(()));
    assert!(public.verify(b"spec rsA", &sig).is_err());
}

#[test]
fn rust_libp2p_rsa_keys() {
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
    for (name, bits) in [("rsa-2048.pk8", 2048), ("rsa-4096.pk8", 4096)] {
        let private =
            rsa::RsaPrivateKey::from_pkcs8_der(&file(&format!("rust-libp2p-identity/{name}")))
                .unwrap();
        let spki = private.to_public_key().to_public_key_der().unwrap();
        let public = PublicKey::from_data(KeyType::Rsa, spki.as_bytes()).unwrap();
        assert!(public.to_protobuf().len() > 42);
        let sig = rsa_sign(&private, b"rust-libp2p");
        assert_eq!(sig.len(), bits / 8);
        assert_eq!(public.verify(b"rust-libp2p", &sig), Ok(()));
        assert!(public.verify(b"rust-libp2p", &sig[1..]).is_err());
        // PKCS#1 RSAPublicKey is not accepted as key data (neither go- nor rust-libp2p does).
        use rsa::pkcs1::EncodeRsaPublicKey;
        let pkcs1 = private.to_public_key().to_pkcs1_der().unwrap();
        assert_eq!(
            PublicKey::from_data(KeyType::Rsa, pkcs1.as_bytes()),
            Err(KeyError::InvalidKeyData(KeyType::Rsa))
        );
    }
}

#[test]
fn rsa_size_bounds() {
    // A well-formed SPKI with a 1024-bit modulus.
    fn spki(modulus_bytes: usize) -> Vec<u8> {
        fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
            let mut v = vec![tag];
            match body.len() {
                n @ 0..=0x7f => v.push(n as u8),
                n @ 0x80..=0xff => v.extend([0x81, n as u8]),
                n => v.extend([0x82, (n >> 8) as u8, n as u8]),
            }
            v.extend_from_slice(body);
            v
        }
        let mut n = vec![0x00, 0xc1];
        n.resize(modulus_bytes + 1, 0x23);
        let key = tlv(0x30, &[tlv(0x02, &n), tlv(0x02, &[1, 0, 1])].concat());
        let algorithm = hex::decode("300d06092a864886f70d0101010500").unwrap();
        let mut bits = vec![0u8];
        bits.extend(key);
        tlv(0x30, &[algorithm, tlv(0x03, &bits)].concat())
    }
    assert_eq!(
        PublicKey::from_data(KeyType::Rsa, &spki(128)),
        Err(KeyError::RsaKeySize { bits: 1024 })
    );
    assert!(PublicKey::from_data(KeyType::Rsa, &spki(256)).is_ok());
    assert!(PublicKey::from_data(KeyType::Rsa, &spki(512)).is_ok());
    assert_eq!(
        PublicKey::from_data(KeyType::Rsa, &spki(768)).unwrap_err(),
        KeyError::KeyTooLarge {
            key_type: KeyType::Rsa,
            len: spki(768).len()
        }
    );
    assert_eq!(
        PublicKey::from_data(KeyType::Rsa, &spki(1025)),
        Err(KeyError::RsaKeySize { bits: 8200 })
    );
}

#[test]
fn go_libp2p_signatures_verify() {
    let expected = table("peer-ids.txt");
    let message = b"Libp2p is the _best_!";
    for (n, key_type) in [
        (0, KeyType::Rsa),
        (2, KeyType::Secp256k1),
        (3, KeyType::Ecdsa),
    ] {
        let bytes = file(&format!("go-libp2p-crypto/{n}.pub"));
        let sig = file(&format!("go-libp2p-crypto/{n}.sig"));
        let key = PublicKey::decode(&bytes).unwrap();
        assert_eq!(key.key_type(), key_type);
        assert_eq!(&key.to_protobuf()[..], &bytes[..]);
        assert_eq!(key.verify(message, &sig), Ok(()), "{key_type}");
        assert_eq!(
            key.verify(b"Libp2p is the _best_?", &sig),
            Err(VerifyError::InvalidSignature)
        );
        let id = PeerId::from_public_key(&key);
        assert_eq!(id.to_string(), expected[&format!("go-{n}.pub")][0]);
    }
}

/// A secp256k1 signer: the [`Signer`] seam with a key type other than our own Ed25519.
struct Secp256k1Signer(k256::ecdsa::SigningKey);

impl Signer for Secp256k1Signer {
    fn public_key(&self) -> PublicKey {
        let point = self.0.verifying_key().to_sec1_point(true);
        PublicKey::from_data(KeyType::Secp256k1, point.as_bytes()).unwrap()
    }
    fn max_signature_len(&self) -> usize {
        72
    }
    fn sign(&self, message: &[u8], out: &mut [u8]) -> Result<usize, SignError> {
        use k256::ecdsa::signature::hazmat::PrehashSigner;
        use sha2::Digest;
        let sig: k256::ecdsa::Signature = self
            .0
            .sign_prehash(&sha2::Sha256::digest(message))
            .map_err(|_| SignError::Failed)?;
        let der = sig.to_der();
        let dst = out.get_mut(..der.len()).ok_or(SignError::Failed)?;
        dst.copy_from_slice(der.as_bytes());
        Ok(der.len())
    }
}

#[test]
fn envelope_and_peer_record_with_a_secp256k1_signer() {
    let (_, secret) = private_data(&spec_key("secp256k1-private"));
    let signer = Secp256k1Signer(k256::ecdsa::SigningKey::from_slice(&secret).unwrap());
    let addrs: [&[u8]; 2] = [
        &[4, 127, 0, 0, 1, 6, 0x0f, 0xa1],
        &[4, 10, 0, 0, 1, 6, 0, 80],
    ];
    let mut record_buf = [0u8; 128];
    let mut out = [0u8; 512];
    let sealed = peer_record::seal(&signer, 7, addrs, &mut record_buf, &mut out).unwrap();
    let opened = SignedPeerRecord::open(sealed).unwrap();
    assert_eq!(opened.record.seq(), 7);
    assert_eq!(opened.record.addresses().collect::<Vec<_>>(), addrs);
    assert_eq!(opened.envelope.public_key, signer.public_key());
    assert!(envelope::open(sealed, "another domain").is_err());
}
