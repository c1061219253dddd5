//! The system's randomness (ring's `SystemRandom`: `getrandom(2)`) as the
//! RNG `rsa` takes. The RSA private operation is handed it explicitly
//! (`jwe::rsa_oaep_decrypt`), so blinding is part of the call, not of a
//! Cargo feature: `rsa` 0.10 blinds only when given an RNG, and its
//! `getrandom` feature, which supplied one implicitly, is off.

use ring::rand::{SecureRandom, SystemRandom};

/// `rand_core`'s fallible RNG over ring's system randomness.
pub struct SystemRng(SystemRandom);

/// The system RNG failed: nothing is decrypted or encrypted without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RngFailed;

impl std::fmt::Display for RngFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the system random number generator failed")
    }
}

impl std::error::Error for RngFailed {}

impl SystemRng {
    pub fn new() -> Self {
        SystemRng(SystemRandom::new())
    }
}

impl Default for SystemRng {
    fn default() -> Self {
        Self::new()
    }
}

impl rand_core::TryRng for SystemRng {
    type Error = RngFailed;

    fn try_next_u32(&mut self) -> Result<u32, RngFailed> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, RngFailed> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), RngFailed> {
        self.0.fill(dst).map_err(|_| RngFailed)
    }
}

/// ring's `SystemRandom` is a CSPRNG (the kernel's).
impl rand_core::TryCryptoRng for SystemRng {}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::TryRng as _;

    #[test]
    fn draws_fresh_bytes() {
        let mut r = SystemRng::new();
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        r.try_fill_bytes(&mut a).unwrap();
        r.try_fill_bytes(&mut b).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
    }
}
