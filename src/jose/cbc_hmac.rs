//! AES_128_CBC_HMAC_SHA_256 authenticated decryption (RFC 7518 §5.2.2.2,
//! §5.2.3): encrypt-then-MAC, so the tag is checked, in constant time,
//! before a single ciphertext block is decrypted. A padding error can then
//! only follow a valid tag, which an attacker cannot produce: no padding
//! oracle. `seal` is the producer's direction (§5.2.2.1), over the same
//! MAC input (`mac_of`, `aad_bits`); nothing on the decoding path calls it.

use aes::Aes128;
use cbc::cipher::{block_padding::Pkcs7, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The content encryption key: MAC_KEY ‖ ENC_KEY (RFC 7518 §5.2.2.1).
pub(crate) const KEY_LEN: usize = 32;
const HALF: usize = 16;
pub(crate) const IV_LEN: usize = 16;
/// T_LEN: the HMAC-SHA-256 output truncated to 16 octets (RFC 7518 §5.2.3).
const TAG_LEN: usize = 16;

/// Why the content could not be opened. The JWE layer reports all of them
/// as one reason, so these names are for tests, not for clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CbcHmacError {
    /// IV or tag of the wrong length, or a ciphertext that is not whole blocks.
    Length,
    /// The MAC over AAD ‖ IV ‖ ciphertext ‖ AL does not match.
    Tag,
    /// PKCS#7 padding wrong after a valid tag: only a broken sender makes this.
    Padding,
}

/// Whether the parts have the only lengths `open` takes: IV 16, tag 16, a
/// ciphertext of whole blocks (RFC 7518 §5.2.2.1-2: T_LEN, the IV and
/// CBC's blocks). The JWE layer asks before any private-key operation.
pub fn well_formed(iv: &[u8], ciphertext: &[u8], tag: &[u8]) -> bool {
    iv.len() == IV_LEN
        && tag.len() == TAG_LEN
        && !ciphertext.is_empty()
        && ciphertext.len().is_multiple_of(16)
}

pub fn open(
    key: &[u8; KEY_LEN],
    aad: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, CbcHmacError> {
    let (mac_key, enc_key) = key.split_at(HALF);
    // RFC 7518 §5.2.2.2 step 1 takes T whole (§5.2.3: T_LEN 16): a tag cut
    // short would otherwise be compared on fewer bytes, and be easier to
    // forge.
    if !well_formed(iv, ciphertext, tag) {
        return Err(CbcHmacError::Length);
    }
    // RFC 7518 §5.2.2.2 step 2, compared in constant time: the first 16
    // octets of the MAC over AAD ‖ IV ‖ C ‖ AL (§5.2.2.1 steps 4-5) must
    // equal T.
    let al = aad_bits(aad).ok_or(CbcHmacError::Length)?;
    if !verify_tag(mac_key, &[aad, iv, ciphertext, &al], tag) {
        return Err(CbcHmacError::Tag);
    }
    // Step 3, only now: AES-128-CBC decryption and PKCS#7 removal.
    cbc_decrypt(enc_key, iv, ciphertext)
}

/// AL: the AAD's length in bits, 64-bit big endian (RFC 7518 §5.2.2.1
/// step 4).
fn aad_bits(aad: &[u8]) -> Option<[u8; 8]> {
    Some(u64::try_from(aad.len()).ok()?.checked_mul(8)?.to_be_bytes())
}

/// HMAC-SHA-256 keyed with `mac_key`, fed the concatenation of `parts`.
fn mac_of(mac_key: &[u8], parts: &[&[u8]]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(mac_key).ok()?;
    parts.iter().for_each(|p| mac.update(p));
    Some(mac)
}

/// The producer's side (RFC 7518 §5.2.2.1): AES-128-CBC with PKCS#7 under
/// ENC_KEY, then the tag over the same input `open` checks. Returns the
/// ciphertext and the 16-octet tag.
pub(crate) fn seal(
    key: &[u8; KEY_LEN],
    aad: &[u8],
    iv: &[u8; IV_LEN],
    plaintext: &[u8],
) -> Option<(Vec<u8>, [u8; TAG_LEN])> {
    let (mac_key, enc_key) = key.split_at(HALF);
    let ciphertext = cbc::Encryptor::<Aes128>::new_from_slices(enc_key, iv)
        .ok()?
        .encrypt_padded_vec::<Pkcs7>(plaintext);
    let al = aad_bits(aad)?;
    let full = mac_of(mac_key, &[aad, iv, &ciphertext, &al])?
        .finalize()
        .into_bytes();
    let tag: [u8; TAG_LEN] = full.get(..TAG_LEN)?.try_into().ok()?;
    Some((ciphertext, tag))
}

/// HMAC-SHA-256 over the concatenation of `parts`, truncated to T_LEN and
/// compared with `tag` in constant time (`subtle`, inside hmac's
/// `verify_truncated_left`). A tag of any other length is refused before
/// comparing: a shorter one would be compared on fewer bytes.
pub fn verify_tag(mac_key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    if tag.len() != TAG_LEN {
        return false;
    }
    mac_of(mac_key, parts).is_some_and(|mac| mac.verify_truncated_left(tag).is_ok())
}

/// AES-128-CBC decryption with PKCS#7 padding removal. Only ever called on
/// authenticated ciphertext.
pub fn cbc_decrypt(enc_key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, CbcHmacError> {
    if enc_key.len() != HALF {
        return Err(CbcHmacError::Length);
    }
    cbc::Decryptor::<Aes128>::new_from_slices(enc_key, iv)
        .map_err(|_| CbcHmacError::Length)?
        .decrypt_padded_vec::<Pkcs7>(ciphertext)
        .map_err(|_| CbcHmacError::Padding)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An independent sealer for the tests: CBC encrypt, then MAC.
    fn seal(key: &[u8; 32], aad: &[u8], iv: &[u8; 16], pt: &[u8], pad: bool) -> (Vec<u8>, Vec<u8>) {
        let enc = cbc::Encryptor::<Aes128>::new_from_slices(&key[16..], iv).unwrap();
        let ct = if pad {
            enc.encrypt_padded_vec::<Pkcs7>(pt)
        } else {
            enc.encrypt_padded_vec::<cbc::cipher::block_padding::NoPadding>(pt)
        };
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key[..16]).unwrap();
        for part in [
            aad,
            iv.as_slice(),
            &ct,
            &((aad.len() as u64) * 8).to_be_bytes(),
        ] {
            mac.update(part);
        }
        (ct, mac.finalize().into_bytes()[..16].to_vec())
    }

    fn rfc7518_b1() -> ([u8; 32], Vec<u8>, [u8; 16], Vec<u8>) {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let p = b"A cipher system must not be required to be secret, and it must be able to fall into the hands of the enemy without inconvenience".to_vec();
        let iv = [
            0x1a, 0xf3, 0x8c, 0x2d, 0xc2, 0xb9, 0x6f, 0xfd, 0xd8, 0x66, 0x94, 0x09, 0x23, 0x41,
            0xbc, 0x04,
        ];
        (
            key,
            b"The second principle of Auguste Kerckhoffs".to_vec(),
            iv,
            p,
        )
    }

    #[test]
    fn rfc7518_appendix_b1_tag_and_round_trip() {
        let (key, aad, iv, p) = rfc7518_b1();
        let (ct, tag) = seal(&key, &aad, &iv, &p, true);
        // T from RFC 7518 Appendix B.1.
        assert_eq!(
            tag,
            [
                0x65, 0x2c, 0x3f, 0xa3, 0x6b, 0x0a, 0x7c, 0x5b, 0x32, 0x19, 0xfa, 0xb3, 0xa3, 0x0b,
                0xc1, 0xc4
            ]
        );
        assert_eq!(ct.len(), 144);
        assert_eq!(open(&key, &aad, &iv, &ct, &tag).unwrap(), p);
    }

    /// The producer's sealer gives RFC 7518 B.1's ciphertext and tag, as
    /// the independent one above does.
    #[test]
    fn the_producers_seal_matches_rfc7518_appendix_b1() {
        let (key, aad, iv, p) = rfc7518_b1();
        let (ct, tag) = super::seal(&key, &aad, &iv, &p).unwrap();
        assert_eq!((ct, tag.to_vec()), seal(&key, &aad, &iv, &p, true));
    }

    #[test]
    fn any_changed_input_is_bad_tag() {
        let (key, aad, iv, p) = rfc7518_b1();
        let (ct, tag) = seal(&key, &aad, &iv, &p, true);
        let mut t = tag.clone();
        t[15] ^= 1;
        assert_eq!(open(&key, &aad, &iv, &ct, &t), Err(CbcHmacError::Tag));
        let mut c = ct.clone();
        c[0] ^= 0x80;
        assert_eq!(open(&key, &aad, &iv, &c, &tag), Err(CbcHmacError::Tag));
        let mut i = iv;
        i[3] ^= 4;
        assert_eq!(open(&key, &aad, &i, &ct, &tag), Err(CbcHmacError::Tag));
        assert_eq!(
            open(&key, b"The second", &iv, &ct, &tag),
            Err(CbcHmacError::Tag)
        );
        let mut k = key;
        k[31] ^= 1; // ENC_KEY half: changes no MAC input, so this one decrypts to garbage...
        assert!(matches!(
            open(&k, &aad, &iv, &ct, &tag),
            Ok(_) | Err(CbcHmacError::Padding)
        ));
        k = key;
        k[0] ^= 1; // ...while the MAC_KEY half is caught by the tag.
        assert_eq!(open(&k, &aad, &iv, &ct, &tag), Err(CbcHmacError::Tag));
    }

    #[test]
    fn truncated_or_extended_tags_are_refused_before_comparing() {
        let (key, aad, iv, p) = rfc7518_b1();
        let (ct, tag) = seal(&key, &aad, &iv, &p, true);
        for n in [0, 1, 8, 15] {
            assert_eq!(
                open(&key, &aad, &iv, &ct, &tag[..n]),
                Err(CbcHmacError::Length)
            );
        }
        let mut long = tag.clone();
        long.push(0);
        assert_eq!(open(&key, &aad, &iv, &ct, &long), Err(CbcHmacError::Length));
        assert_eq!(
            open(&key, &aad, &iv[..8], &ct, &tag),
            Err(CbcHmacError::Length)
        );
        assert_eq!(
            open(&key, &aad, &iv, &ct[..143], &tag),
            Err(CbcHmacError::Length)
        );
        assert_eq!(open(&key, &aad, &iv, &[], &tag), Err(CbcHmacError::Length));
    }

    #[test]
    fn bad_padding_behind_a_valid_tag_is_bad_padding() {
        let (key, aad, iv, _) = rfc7518_b1();
        // 16 bytes ending in 0x00: never valid PKCS#7, yet correctly MACed.
        let (ct, tag) = seal(
            &key,
            &aad,
            &iv,
            &[7u8; 15].iter().chain(&[0]).copied().collect::<Vec<_>>(),
            false,
        );
        assert_eq!(open(&key, &aad, &iv, &ct, &tag), Err(CbcHmacError::Padding));
    }
}
