//! The recovery code (恢复码) the person writes down or prints, and the memory-hard key derivation from it.
//!
//! * 24 symbols of Crockford's base-32 alphabet (`0-9 A-Z` without `I L O U`): 120 random bits, from the
//!   system random generator; then one check symbol. Shown as 5 groups of 5: `XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`.
//! * Check symbol: the ISO 7064 hybrid construction with M = 32, M + 1 = 33 (like MOD 37,36 of the licence
//!   identifiers, over this alphabet). Every single wrong symbol is caught (2 is invertible mod 33, so
//!   each step is a bijection; `every_single_substitution_is_caught` checks it exhaustively) and most
//!   adjacent swaps; it is checked when the code is typed, before the slow KDF.
//! * Entry is forgiving where it is safe: case, spaces and dashes are ignored, `O` reads as `0` and `I`,
//!   `L` as `1` (Crockford's rule).
//! * Key derivation: Argon2id (RFC 9106, version 0x13) over the 24 data symbols, with a random 16-byte
//!   salt and the parameters written in every backup file's header; [`KdfParams::DEFAULT`] is 32 MiB,
//!   3 passes, 1 lane (docs/formats.md § backup).

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use crate::error::BackupError;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Random symbols in a code (5 bits each: 120 bits).
pub const DATA_SYMBOLS: usize = 24;
/// Symbols per written group.
pub const GROUP: usize = 5;

/// A recovery code, normalised (25 symbols, no separators). Zeroized on drop; never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(Zeroizing<String>);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(…)")
    }
}

/// Fills `buf` from the system random generator.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), BackupError> {
    use ring::rand::SecureRandom;
    ring::rand::SystemRandom::new()
        .fill(buf)
        .map_err(|_| BackupError::Store(zhangban_base::Error::Internal("system random generator failed".into())))
}

fn value(c: u8) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        b'O' => b'0',
        b'I' | b'L' => b'1',
        c => c,
    };
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u8)
}

/// The ISO 7064 hybrid check symbol over `values`, M = 32.
fn check_value(values: &[u8]) -> u8 {
    const M: u32 = 32;
    let mut p = M;
    for &a in values {
        let mut s = (p + a as u32) % M;
        if s == 0 {
            s = M;
        }
        p = (2 * s) % (M + 1);
    }
    ((M + 1 - p) % M) as u8
}

impl RecoveryCode {
    /// A new random code.
    pub fn generate() -> Result<RecoveryCode, BackupError> {
        let mut bytes = Zeroizing::new([0u8; 15]);
        fill_random(bytes.as_mut())?;
        let mut values = Zeroizing::new(Vec::with_capacity(DATA_SYMBOLS + 1));
        let mut acc: u32 = 0;
        let mut bits = 0;
        for &b in bytes.iter() {
            acc = (acc << 8) | b as u32;
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                values.push(((acc >> bits) & 31) as u8);
            }
            acc &= (1 << bits) - 1;
        }
        let check = check_value(&values);
        values.push(check);
        Ok(RecoveryCode(Zeroizing::new(values.iter().map(|&v| ALPHABET[v as usize] as char).collect())))
    }

    /// Reads a typed or scanned code. Wrong length or a foreign character: `CodeFormat` naming the
    /// position (1-based, among the symbols); a wrong check symbol: `CodeTypo`.
    pub fn parse(text: &str) -> Result<RecoveryCode, BackupError> {
        let mut values = Zeroizing::new(Vec::with_capacity(DATA_SYMBOLS + 1));
        for c in text.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            let position = values.len() as u32 + 1;
            if values.len() > DATA_SYMBOLS || !c.is_ascii() {
                return Err(BackupError::CodeFormat { position });
            }
            values.push(value(c as u8).ok_or(BackupError::CodeFormat { position })?);
        }
        if values.len() != DATA_SYMBOLS + 1 {
            return Err(BackupError::CodeFormat { position: values.len() as u32 + 1 });
        }
        if check_value(&values[..DATA_SYMBOLS]) != values[DATA_SYMBOLS] {
            return Err(BackupError::CodeTypo);
        }
        Ok(RecoveryCode(Zeroizing::new(values.iter().map(|&v| ALPHABET[v as usize] as char).collect())))
    }

    /// The code as written down: 5 groups of 5 separated by dashes.
    pub fn grouped(&self) -> String {
        self.0.as_bytes().chunks(GROUP).map(|g| String::from_utf8_lossy(g).into_owned()).collect::<Vec<_>>().join("-")
    }

    /// The secret the KDF takes: the 24 data symbols (the check symbol adds nothing).
    pub(crate) fn secret(&self) -> &[u8] {
        &self.0.as_bytes()[..DATA_SYMBOLS]
    }
}

/// Argon2id parameters, carried in every backup header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// What a phone uses: 32 MiB, 3 passes, 1 lane (≈ 0.1–0.3 s on a phone; the code's 120 bits are the
    /// real protection, the KDF makes each guess cost memory too).
    pub const DEFAULT: KdfParams = KdfParams { m_kib: 32 * 1024, t: 3, p: 1 };
    /// The most a header may ask for (a damaged or hostile header must not make a restore take minutes or
    /// gigabytes): 256 MiB, 10 passes, 4 lanes.
    pub const MAX: KdfParams = KdfParams { m_kib: 256 * 1024, t: 10, p: 4 };

    pub(crate) fn check(&self) -> Result<(), BackupError> {
        let ok = (8..=Self::MAX.m_kib).contains(&self.m_kib)
            && (1..=Self::MAX.t).contains(&self.t)
            && (1..=Self::MAX.p).contains(&self.p)
            && self.m_kib >= 8 * self.p;
        if ok {
            Ok(())
        } else {
            Err(BackupError::damaged("header: KDF parameters"))
        }
    }

    /// Derives the 32-byte key-encryption key from the code and salt.
    pub(crate) fn derive(&self, code: &RecoveryCode, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, BackupError> {
        self.check()?;
        let params = Params::new(self.m_kib, self.t, self.p, Some(32))
            .map_err(|_| BackupError::damaged("header: KDF parameters"))?;
        let mut out = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(code.secret(), salt, out.as_mut())
            .map_err(|_| BackupError::damaged("header: KDF parameters"))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_parse_back_and_are_grouped() {
        for _ in 0..200 {
            let c = RecoveryCode::generate().unwrap();
            let g = c.grouped();
            assert_eq!(g.len(), 29);
            assert_eq!(g.split('-').count(), 5);
            assert_eq!(RecoveryCode::parse(&g).unwrap(), c);
            // Forgiving entry: lower case, spaces instead of dashes.
            assert_eq!(RecoveryCode::parse(&g.to_lowercase().replace('-', " ")).unwrap(), c);
        }
        assert_ne!(RecoveryCode::generate().unwrap(), RecoveryCode::generate().unwrap());
    }

    #[test]
    fn every_single_substitution_is_caught() {
        for _ in 0..20 {
            let c = RecoveryCode::generate().unwrap();
            let s = c.0.as_bytes().to_vec();
            for i in 0..s.len() {
                for &a in ALPHABET.iter() {
                    if a == s[i] {
                        continue;
                    }
                    let mut t = s.clone();
                    t[i] = a;
                    let typed = String::from_utf8(t).unwrap();
                    assert!(
                        matches!(RecoveryCode::parse(&typed), Err(BackupError::CodeTypo)),
                        "substitution at {i} not caught"
                    );
                }
            }
        }
    }

    #[test]
    fn most_adjacent_swaps_are_caught() {
        let (mut swaps, mut caught) = (0, 0);
        for _ in 0..200 {
            let c = RecoveryCode::generate().unwrap();
            let s = c.0.as_bytes().to_vec();
            for i in 0..s.len() - 1 {
                if s[i] == s[i + 1] {
                    continue;
                }
                let mut t = s.clone();
                t.swap(i, i + 1);
                swaps += 1;
                if RecoveryCode::parse(std::str::from_utf8(&t).unwrap()).is_err() {
                    caught += 1;
                }
            }
        }
        assert!(caught * 100 >= swaps * 90, "only {caught} of {swaps} swaps caught");
    }

    #[test]
    fn malformed_codes_name_the_position() {
        let c = RecoveryCode::generate().unwrap().grouped();
        assert!(matches!(RecoveryCode::parse(&c[..27]), Err(BackupError::CodeFormat { .. })));
        assert!(matches!(RecoveryCode::parse(&format!("{c}7")), Err(BackupError::CodeFormat { position: 26 })));
        let bad = format!("U{}", &c[1..]);
        assert!(matches!(RecoveryCode::parse(&bad), Err(BackupError::CodeFormat { position: 1 })));
        assert!(matches!(RecoveryCode::parse("码码码"), Err(BackupError::CodeFormat { position: 1 })));
        assert!(matches!(RecoveryCode::parse(""), Err(BackupError::CodeFormat { position: 1 })));
    }

    #[test]
    fn confusable_letters_read_as_digits() {
        // A code whose symbols include 0 and 1 also parses when written with O and I/L.
        loop {
            let c = RecoveryCode::generate().unwrap();
            let g = c.grouped();
            if g.contains('0') && g.contains('1') {
                let typed = g.replace('0', "o").replacen('1', "I", 1).replace('1', "l");
                assert_eq!(RecoveryCode::parse(&typed).unwrap(), c);
                break;
            }
        }
    }

    #[test]
    fn kdf_depends_on_code_salt_and_parameters_and_refuses_huge_ones() {
        let p = KdfParams { m_kib: 64, t: 1, p: 1 };
        let c = RecoveryCode::generate().unwrap();
        let d = RecoveryCode::generate().unwrap();
        let k = p.derive(&c, &[1; 16]).unwrap();
        assert_eq!(*k, *p.derive(&c, &[1; 16]).unwrap());
        assert_ne!(*k, *p.derive(&d, &[1; 16]).unwrap());
        assert_ne!(*k, *p.derive(&c, &[2; 16]).unwrap());
        assert_ne!(*k, *KdfParams { m_kib: 64, t: 2, p: 1 }.derive(&c, &[1; 16]).unwrap());
        for bad in [
            KdfParams { m_kib: KdfParams::MAX.m_kib + 1, t: 1, p: 1 },
            KdfParams { m_kib: 64, t: 0, p: 1 },
            KdfParams { m_kib: 64, t: 11, p: 1 },
            KdfParams { m_kib: 64, t: 1, p: 0 },
        ] {
            assert!(matches!(bad.derive(&c, &[1; 16]), Err(BackupError::Damaged { .. })), "{bad:?}");
        }
    }
}
