//! The trust list of issuer keys and the revocation status list, both COSE_Sign1 signed by the
//! platform root key, whose public key is pinned from a build input ([`zhangban_base::anchors`]). Both carry their issue time, so a verifier
//! offline knows how old its copy is.

use ciborium::value::Value;
use coset::CoseSign1;

use super::error::{malformed, WResult, WalletError};
use super::format::*;

/// Key id of the platform root key (pinned from the build input: [`zhangban_base::anchors`]).
pub const ROOT_KID: &[u8] = zhangban_base::anchors::ROOT_KID;

/// Largest signed list accepted (a status list of a million licences is 128 KiB).
pub const MAX_LIST_BYTES: usize = 192 * 1024;
pub use super::format::{list_id, MAX_STATUS_BITS, MAX_STATUS_LISTS};

/// The pinned platform root public key (SEC1, P-256), from the build input ([`zhangban_base::anchors`]).
pub fn pinned_root_key() -> Vec<u8> {
    zhangban_base::anchors::ROOT_PUBLIC_KEY.to_vec()
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrustEntry {
    /// Key id as carried in licences' protected headers.
    pub kid: Vec<u8>,
    pub alg: i64,
    /// SEC1 uncompressed public key.
    pub public_key: Vec<u8>,
    /// The issuing department's unified social credit code (must match the licence identifier).
    pub issuer_uscc: String,
    pub name_zh: String,
    pub name_en: String,
    /// Licence type codes this key may issue.
    pub types: Vec<String>,
    pub valid_from: i64,
    pub valid_until: i64,
    /// Withdrawn keys stay listed so a verifier can say "withdrawn" rather than "unknown".
    pub withdrawn: bool,
}

impl TrustEntry {
    fn to_value(&self) -> Value {
        map(vec![
            (1, bytes(&self.kid)),
            (2, int(self.alg)),
            (3, bytes(&self.public_key)),
            (4, text(&self.issuer_uscc)),
            (5, text(&self.name_zh)),
            (6, text(&self.name_en)),
            (7, Value::Array(self.types.iter().map(|t| text(t)).collect())),
            (8, int(self.valid_from)),
            (9, int(self.valid_until)),
            (10, Value::Bool(self.withdrawn)),
        ])
    }

    fn from_value(v: &Value) -> WResult<TrustEntry> {
        let w = "trust entry";
        let m = IntMap::new(v, w)?;
        Ok(TrustEntry {
            kid: as_bytes(m.get(1, w)?, w)?.to_vec(),
            alg: as_i64(m.get(2, w)?, w)?,
            public_key: as_bytes(m.get(3, w)?, w)?.to_vec(),
            issuer_uscc: as_text(m.get(4, w)?, w)?.to_string(),
            name_zh: as_text(m.get(5, w)?, w)?.to_string(),
            name_en: as_text(m.get(6, w)?, w)?.to_string(),
            types: as_array(m.get(7, w)?, w)?
                .iter()
                .map(|t| as_text(t, w).map(str::to_string))
                .collect::<WResult<Vec<_>>>()?,
            valid_from: as_i64(m.get(8, w)?, w)?,
            valid_until: as_i64(m.get(9, w)?, w)?,
            withdrawn: as_bool(m.get(10, w)?, w)?,
        })
    }

    pub fn kid_hex(&self) -> String {
        hex::encode(&self.kid)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrustList {
    /// Increases with every new list; a lower one is a rollback.
    pub sequence: u64,
    pub issued_at: i64,
    pub entries: Vec<TrustEntry>,
}

fn sign_list(payload: Value, sign: impl FnOnce(&[u8]) -> crate::Result<Vec<u8>>) -> crate::Result<Vec<u8>> {
    let s = sign1_create(ROOT_KID, encode_cbor(&payload), sign)?;
    Ok(encode_cbor(&sign1_value(&s)))
}

/// Parses a signed list and checks the root signature; returns its payload.
fn open_list(b: &[u8], root_key: &[u8], list: &'static str) -> WResult<Value> {
    if b.len() > MAX_LIST_BYTES {
        return Err(WalletError::TooLong { len: b.len(), max: MAX_LIST_BYTES });
    }
    let (s, kid): (CoseSign1, Vec<u8>) = sign1_parse(decode_cbor(b)?)?;
    if kid != ROOT_KID || !sign1_verify(&s, root_key) {
        return Err(WalletError::BadListSignature { list });
    }
    sign1_payload(&s)
}

impl TrustList {
    pub const NAME: &'static str = "trust list";

    /// Signs the list with the platform root key (the sandbox does this).
    pub fn sign(&self, sign: impl FnOnce(&[u8]) -> crate::Result<Vec<u8>>) -> crate::Result<Vec<u8>> {
        sign_list(
            map(vec![
                (1, uint(FORMAT_VERSION)),
                (2, uint(self.sequence)),
                (3, int(self.issued_at)),
                (4, Value::Array(self.entries.iter().map(TrustEntry::to_value).collect())),
            ]),
            sign,
        )
    }

    /// Verifies a signed trust list against `root_key` (normally [`pinned_root_key`]).
    pub fn verify(b: &[u8], root_key: &[u8]) -> WResult<TrustList> {
        let v = open_list(b, root_key, "信任列表 trust list")?;
        let m = IntMap::new(&v, "trust list")?;
        let version = as_u64(m.get(1, "trust list")?, "version")?;
        if version != FORMAT_VERSION {
            return Err(WalletError::UnsupportedVersion { version });
        }
        Ok(TrustList {
            sequence: as_u64(m.get(2, "trust list")?, "sequence")?,
            issued_at: as_i64(m.get(3, "trust list")?, "issued at")?,
            entries: as_array(m.get(4, "trust list")?, "entries")?
                .iter()
                .map(TrustEntry::from_value)
                .collect::<WResult<Vec<_>>>()?,
        })
    }

    pub fn find(&self, kid: &[u8]) -> Option<&TrustEntry> {
        self.entries.iter().find(|e| e.kid == kid)
    }

    /// The entry for `kid` if it may sign at `now`: listed, not withdrawn, within its validity.
    pub fn active_key(&self, kid: &[u8], now: i64) -> WResult<&TrustEntry> {
        let e = self.find(kid).ok_or_else(|| WalletError::UnknownIssuerKey { kid: hex::encode(kid) })?;
        if e.withdrawn || now < e.valid_from || now > e.valid_until {
            return Err(WalletError::IssuerKeyWithdrawn { kid: e.kid_hex() });
        }
        if e.alg != ALG_ES256 {
            return Err(WalletError::UnsupportedAlgorithm { alg: e.alg });
        }
        Ok(e)
    }
}

/// The revocation status list (one shard): bit `i` set means the licence of this list with index `i` in it
/// is revoked. A licence names its list (payload key 9, absent = 0) and its signed status index (key 8) is
/// `list_id × MAX_STATUS_BITS + i` (ADR 0039), so a phone that knows no shards sees a licence of list k > 0 as
/// beyond its list ("status unknown"), never as a bit of list 0.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusList {
    /// Which shard this is (key 6 of the signed list, absent = 0): inside the root's signature, so a list
    /// signed for one shard is never taken for another.
    #[serde(default)]
    pub list_id: u32,
    pub sequence: u64,
    pub issued_at: i64,
    /// Number of indices covered.
    pub size: u64,
    /// Bit i is bit (i % 8) (least significant first) of byte i / 8.
    pub bits: Vec<u8>,
}

impl StatusList {
    pub fn new(sequence: u64, issued_at: i64, size: u64) -> StatusList {
        StatusList::shard(0, sequence, issued_at, size)
    }

    /// An empty list for shard `list_id`.
    pub fn shard(list_id: u32, sequence: u64, issued_at: i64, size: u64) -> StatusList {
        StatusList { list_id, sequence, issued_at, size, bits: vec![0; size.div_ceil(8) as usize] }
    }

    pub fn set_revoked(&mut self, index: u64) {
        if index < self.size {
            self.bits[(index / 8) as usize] |= 1 << (index % 8);
        }
    }

    /// `None` when the list does not cover `index`.
    pub fn is_revoked(&self, index: u64) -> Option<bool> {
        if index >= self.size {
            return None;
        }
        self.bits.get((index / 8) as usize).map(|b| b & (1 << (index % 8)) != 0)
    }

    pub fn sign(&self, sign: impl FnOnce(&[u8]) -> crate::Result<Vec<u8>>) -> crate::Result<Vec<u8>> {
        let mut fields = vec![
            (1, uint(FORMAT_VERSION)),
            (2, uint(self.sequence)),
            (3, int(self.issued_at)),
            (4, uint(self.size)),
            (5, bytes(&self.bits)),
        ];
        // List 0 is written as before sharding (no key 6): byte for byte what an older phone reads.
        if self.list_id != 0 {
            fields.push((6, uint(u64::from(self.list_id))));
        }
        sign_list(map(fields), sign)
    }

    pub fn verify(b: &[u8], root_key: &[u8]) -> WResult<StatusList> {
        let v = open_list(b, root_key, "状态列表 status list")?;
        let m = IntMap::new(&v, "status list")?;
        let version = as_u64(m.get(1, "status list")?, "version")?;
        if version != FORMAT_VERSION {
            return Err(WalletError::UnsupportedVersion { version });
        }
        let size = as_u64(m.get(4, "status list")?, "size")?;
        let bits = as_bytes(m.get(5, "status list")?, "bits")?;
        if size > MAX_STATUS_BITS || bits.len() as u64 != size.div_ceil(8) {
            return Err(malformed("status list size"));
        }
        let list_id = super::format::opt_list_id(m.opt(6))?;
        Ok(StatusList {
            list_id,
            sequence: as_u64(m.get(2, "status list")?, "sequence")?,
            issued_at: as_i64(m.get(3, "status list")?, "issued at")?,
            size,
            bits: bits.to_vec(),
        })
    }
}

/// The status lists a verifier or wallet holds, one per shard id (at most [`MAX_STATUS_LISTS`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusLists(std::collections::BTreeMap<u32, StatusList>);

impl StatusLists {
    /// The list of shard `id`, if held.
    pub fn get(&self, id: u32) -> Option<&StatusList> {
        self.0.get(&id)
    }

    /// Keeps `sl` under its own id (replacing that shard's older copy).
    pub fn insert(&mut self, sl: StatusList) {
        self.0.insert(sl.list_id, sl);
    }

    pub fn iter(&self) -> impl Iterator<Item = &StatusList> {
        self.0.values()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Option<StatusList>> for StatusLists {
    fn from(sl: Option<StatusList>) -> StatusLists {
        sl.into_iter().collect()
    }
}

impl Extend<StatusList> for StatusLists {
    fn extend<I: IntoIterator<Item = StatusList>>(&mut self, it: I) {
        for sl in it {
            self.insert(sl);
        }
    }
}

impl FromIterator<StatusList> for StatusLists {
    fn from_iter<I: IntoIterator<Item = StatusList>>(it: I) -> StatusLists {
        let mut out = StatusLists::default();
        out.extend(it);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{DeviceSigner, SoftwareKey};

    pub(crate) fn entry(key: &SoftwareKey) -> TrustEntry {
        TrustEntry {
            kid: key.key_id(),
            alg: ALG_ES256,
            public_key: key.public_key(),
            issuer_uscc: "91350100M000100Y43".into(),
            name_zh: "测试公安局".into(),
            name_en: "Test Public Security Bureau".into(),
            types: vec![crate::types::LicenceType::ResidentId.code().into()],
            valid_from: 0,
            valid_until: 4_000_000_000,
            withdrawn: false,
        }
    }

    #[test]
    fn pinned_root_is_a_p256_point() {
        let k = pinned_root_key();
        assert_eq!(k.len(), 65);
        assert_eq!(k[0], 4);
    }

    #[test]
    fn trust_list_sign_verify_and_forgery() {
        let root = SoftwareKey::generate().unwrap();
        let issuer = SoftwareKey::generate().unwrap();
        let tl = TrustList { sequence: 3, issued_at: 1000, entries: vec![entry(&issuer)] };
        let b = tl.sign(|m| root.sign(m)).unwrap();
        assert_eq!(TrustList::verify(&b, &root.public_key()).unwrap(), tl);
        // Another root (e.g. the pinned one) refuses it.
        assert!(matches!(TrustList::verify(&b, &pinned_root_key()), Err(WalletError::BadListSignature { .. })));
        // A flipped byte anywhere is refused, never a panic.
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x01;
            assert!(TrustList::verify(&c, &root.public_key()).is_err(), "byte {i}");
        }
        assert_eq!(tl.active_key(&issuer.key_id(), 10).unwrap().issuer_uscc, "91350100M000100Y43");
        assert!(matches!(tl.active_key(b"nope", 10), Err(WalletError::UnknownIssuerKey { .. })));
        let mut w = tl.clone();
        w.entries[0].withdrawn = true;
        assert!(matches!(w.active_key(&issuer.key_id(), 10), Err(WalletError::IssuerKeyWithdrawn { .. })));
    }

    #[test]
    fn status_list_bits() {
        let root = SoftwareKey::generate().unwrap();
        let mut sl = StatusList::new(1, 50, 100);
        sl.set_revoked(9);
        let b = sl.sign(|m| root.sign(m)).unwrap();
        let v = StatusList::verify(&b, &root.public_key()).unwrap();
        assert_eq!(v.is_revoked(9), Some(true));
        assert_eq!(v.is_revoked(8), Some(false));
        assert_eq!(v.is_revoked(100), None);
        assert!(StatusList::verify(&b, &pinned_root_key()).is_err());
    }
}
