//! The one rejection vocabulary: why a token was refused, as a closed enum
//! with its wire string (the first word of every 4xx body, log line,
//! journal entry and conformance case). The decoder, the suite, the journal
//! and the tests all use it; nothing matches reasons as free text.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    Malformed,
    TooLarge,
    AlgNotAllowed,
    UnsupportedHeader,
    WrongKeyType,
    /// Key unwrap, tag and padding alike: deliberately one reason.
    DecryptionFailed,
    MissingNjwt,
    BadSignature,
    InvalidClaims,
    Expired,
    NotYetValid,
    /// Not the decoder's: a result accepted before, refused by the route
    /// under `--reject-replays`.
    Replay,
}

impl Reason {
    pub const ALL: [Reason; 12] = [
        Reason::Malformed,
        Reason::TooLarge,
        Reason::AlgNotAllowed,
        Reason::UnsupportedHeader,
        Reason::WrongKeyType,
        Reason::DecryptionFailed,
        Reason::MissingNjwt,
        Reason::BadSignature,
        Reason::InvalidClaims,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::Replay,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::TooLarge => "too_large",
            Reason::AlgNotAllowed => "alg_not_allowed",
            Reason::UnsupportedHeader => "unsupported_header",
            Reason::WrongKeyType => "wrong_key_type",
            Reason::DecryptionFailed => "decryption_failed",
            Reason::MissingNjwt => "missing_njwt",
            Reason::BadSignature => "bad_signature",
            Reason::InvalidClaims => "invalid_claims",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::Replay => "replay",
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_back_from_its_wire_string() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
        assert_eq!(Reason::parse("rejected"), None);
    }
}
