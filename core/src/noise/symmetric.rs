//! Noise's `CipherState` and `SymmetricState` (Noise spec rev. 34, section 5), for
//! ChaChaPoly and SHA-256 over any [`CryptoProvider`].

use super::NoiseError;
use crate::crypto::{AeadCipher, CryptoProvider, TAG_LEN, sha256};

/// A key and its nonce counter, or no key yet (then "encryption" is the identity).
pub struct CipherState<P: CryptoProvider> {
    cipher: Option<P::Cipher>,
    nonce: u64,
}

impl<P: CryptoProvider> core::fmt::Debug for CipherState<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CipherState")
            .field("keyed", &self.cipher.is_some())
            .field("nonce", &self.nonce)
            .finish()
    }
}

impl<P: CryptoProvider> CipherState<P> {
    pub(crate) fn empty() -> Self {
        CipherState {
            cipher: None,
            nonce: 0,
        }
    }

    pub(crate) fn with_key(key: &[u8; 32]) -> Self {
        CipherState {
            cipher: Some(P::cipher(key)),
            nonce: 0,
        }
    }

    pub(crate) fn has_key(&self) -> bool {
        self.cipher.is_some()
    }

    /// The nonce the next message uses.
    pub fn nonce(&self) -> u64 {
        self.nonce
    }

    fn next_nonce(&mut self) -> Result<u64, NoiseError> {
        // 2^64 - 1 is reserved by the spec; a session that reaches it must end.
        if self.nonce == u64::MAX {
            return Err(NoiseError::NonceExhausted);
        }
        let n = self.nonce;
        self.nonce += 1;
        Ok(n)
    }

    /// Encrypts `buf[..len]` in place and appends the tag (if keyed); returns the new length.
    pub(crate) fn encrypt_with_ad(
        &mut self,
        ad: &[u8],
        buf: &mut [u8],
        len: usize,
    ) -> Result<usize, NoiseError> {
        if self.cipher.is_none() {
            return Ok(len);
        }
        let required = len + TAG_LEN;
        if buf.len() < required {
            return Err(NoiseError::BufferTooSmall { required });
        }
        let n = self.next_nonce()?;
        let cipher = self.cipher.as_ref().expect("checked above");
        let tag = cipher.seal(n, ad, &mut buf[..len]);
        buf[len..required].copy_from_slice(&tag);
        Ok(required)
    }

    /// Checks and strips the tag of `buf` (if keyed) and decrypts in place; returns the
    /// plaintext length.
    pub(crate) fn decrypt_with_ad(
        &mut self,
        ad: &[u8],
        buf: &mut [u8],
    ) -> Result<usize, NoiseError> {
        let Some(cipher) = self.cipher.as_ref() else {
            return Ok(buf.len());
        };
        let len = buf.len().checked_sub(TAG_LEN).ok_or(NoiseError::Decrypt)?;
        if self.nonce == u64::MAX {
            return Err(NoiseError::NonceExhausted);
        }
        let (body, tag) = buf.split_at_mut(len);
        let tag: &[u8; TAG_LEN] = (&*tag).try_into().expect("split at len - 16");
        cipher
            .open(self.nonce, ad, body, tag)
            .map_err(|_| NoiseError::Decrypt)?;
        // The nonce only advances on success, as the spec requires.
        self.nonce += 1;
        Ok(len)
    }
}

/// The chaining key, handshake hash and current cipher of a handshake.
pub(crate) struct SymmetricState<P: CryptoProvider> {
    cs: CipherState<P>,
    ck: [u8; 32],
    h: [u8; 32],
}

impl<P: CryptoProvider> SymmetricState<P> {
    pub(crate) fn new(protocol_name: &[u8]) -> Self {
        let h = if protocol_name.len() <= 32 {
            let mut h = [0u8; 32];
            h[..protocol_name.len()].copy_from_slice(protocol_name);
            h
        } else {
            sha256::<P>(&[protocol_name])
        };
        SymmetricState {
            cs: CipherState::empty(),
            ck: h,
            h,
        }
    }

    pub(crate) fn mix_hash(&mut self, data: &[u8]) {
        self.h = sha256::<P>(&[&self.h, data]);
    }

    pub(crate) fn mix_key(&mut self, ikm: &[u8; 32]) {
        let mut out = [[0u8; 32]; 2];
        P::hkdf_sha256(&self.ck, ikm, &mut out);
        self.ck = out[0];
        self.cs = CipherState::with_key(&out[1]);
    }

    pub(crate) fn has_key(&self) -> bool {
        self.cs.has_key()
    }

    pub(crate) fn handshake_hash(&self) -> [u8; 32] {
        self.h
    }

    /// Encrypts `buf[..len]` in place (tag appended once keyed), mixes the ciphertext into the
    /// hash; returns the ciphertext length.
    pub(crate) fn encrypt_and_hash(
        &mut self,
        buf: &mut [u8],
        len: usize,
    ) -> Result<usize, NoiseError> {
        let h = self.h;
        let n = self.cs.encrypt_with_ad(&h, buf, len)?;
        self.mix_hash(&buf[..n]);
        Ok(n)
    }

    /// Decrypts `buf` in place, mixing the ciphertext into the hash; returns the plaintext
    /// length.
    pub(crate) fn decrypt_and_hash(&mut self, buf: &mut [u8]) -> Result<usize, NoiseError> {
        let h = self.h;
        let next_h = sha256::<P>(&[&h, buf]);
        let n = self.cs.decrypt_with_ad(&h, buf)?;
        self.h = next_h;
        Ok(n)
    }

    /// The two transport cipher states: initiator-to-responder first.
    pub(crate) fn split(&self) -> (CipherState<P>, CipherState<P>) {
        let mut out = [[0u8; 32]; 2];
        P::hkdf_sha256(&self.ck, &[], &mut out);
        (
            CipherState::with_key(&out[0]),
            CipherState::with_key(&out[1]),
        )
    }
}
