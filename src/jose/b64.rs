//! Strict base64url (RFC 7515 §2, RFC 4648 §5): URL-safe alphabet, no
//! padding, no whitespace, and no non-zero trailing bits, so that every byte
//! string has exactly one accepted encoding and a token cannot be altered
//! without changing what the MAC and the signature cover.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Why a segment is not base64url. The position of a bad character is not
/// reported: it is the caller's input and says nothing about our keys, but
/// the category is all a client needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum B64Error {
    /// A character outside `A-Z a-z 0-9 - _`, padding, or an impossible length.
    NotBase64Url,
}

pub fn decode(segment: &str) -> Result<Vec<u8>, B64Error> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| B64Error::NotBase64Url)
}

/// Unpadded base64url, for the minting side.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(decode("aGk").unwrap(), b"hi");
        assert_eq!(decode("").unwrap(), b"");
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(decode("-_8").unwrap(), [0xfb, 0xff]);
    }

    #[test]
    fn rejects_standard_alphabet_padding_whitespace() {
        assert_eq!(decode("+/8"), Err(B64Error::NotBase64Url));
        assert_eq!(decode("aGk="), Err(B64Error::NotBase64Url));
        assert_eq!(decode("aG k"), Err(B64Error::NotBase64Url));
        assert_eq!(decode("aGk\n"), Err(B64Error::NotBase64Url));
    }

    #[test]
    fn rejects_impossible_length() {
        assert_eq!(decode("a"), Err(B64Error::NotBase64Url));
        assert_eq!(decode("aGkaG"), Err(B64Error::NotBase64Url));
    }

    #[test]
    fn rejects_non_canonical_trailing_bits() {
        // "aGk" is canonical for "hi"; "aGl" has the same bytes plus set
        // trailing bits, a second encoding of the same value.
        assert_eq!(decode("aGl"), Err(B64Error::NotBase64Url));
    }
}
