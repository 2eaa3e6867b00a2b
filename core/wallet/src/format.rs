//! Wire formats: the issuer-signed licence (COSE_Sign1 over a CBOR payload with per-element salted
//! digests), element items, presentations and grants, the QR text codec (`ZB1:` + base45 of raw
//! DEFLATE), and
//! the bounded CBOR pre-scan that runs before any decoder sees outside bytes.
//!
//! Specified byte by byte in `docs/formats.md`. Every map this module writes has integer keys in
//! ascending (deterministic, RFC 8949 §4.2.1) order and every integer in its shortest form.

use std::collections::BTreeMap;

use ciborium::value::{Integer, Value};
use coset::{iana, AsCborValue, CoseSign1, CoseSign1Builder, HeaderBuilder};
use ring::{digest, signature};

use super::error::{malformed, WResult, WalletError};
use super::types::{ElementValue, Member};

/// Prefix of a presentation QR text.
pub const PRESENTATION_PREFIX: &str = "ZB1:";
/// Prefix of a grant text.
pub const GRANT_PREFIX: &str = "ZBG1:";
/// Longest text accepted (a QR code, version 40, holds at most 4,296 alphanumeric characters).
pub const MAX_TEXT_LEN: usize = 4296;
/// Largest inflated payload accepted.
pub const MAX_INFLATED: usize = 16 * 1024;
/// Largest issued licence accepted on import (CBOR bytes).
pub const MAX_LICENCE_BYTES: usize = 64 * 1024;
/// Deepest CBOR nesting accepted anywhere (our structures need 5).
pub const MAX_DEPTH: usize = 8;
/// Most CBOR data items accepted in one decoded object.
pub const MAX_ITEMS: usize = 4096;

/// COSE algorithm id of ES256 (ECDSA P-256 with SHA-256).
pub const ALG_ES256: i64 = zhangban_base::signer::ALG_ES256;
/// Zhangban digest algorithm 1: SHA-256 truncated to its first 16 bytes (see docs/formats.md).
pub const DIGEST_SHA256_128: i64 = 1;
pub const DIGEST_LEN: usize = 16;
pub const SALT_LEN: usize = 16;
pub const NONCE_LEN: usize = 8;
pub const FORMAT_VERSION: u64 = 1;
/// Version of an engaged presentation (`ZB1:`, device auth with the verifier's challenge; see
/// [`super::engage`]). Version 1 stays the one-way code.
pub const ENGAGED_VERSION: u64 = 2;
/// Length of a verifier's engagement challenge.
pub const CHALLENGE_LEN: usize = 16;
/// Longest presentation window allowed.
pub const MAX_WINDOW_SECS: i64 = 60;

/// Context strings that open each device-signed structure (domain separation).
pub const DEVICE_AUTH_CONTEXT: &str = "ZB1-DeviceAuth";
pub const GRANT_CONTEXT: &str = "ZB1-Grant";
pub const POSSESSION_CONTEXT: &str = "ZB1-Possession";

// ---------------------------------------------------------------------------------------------
// Bounded pre-scan

/// Checks that `bytes` is exactly one well-formed, definite-length CBOR item within the limits,
/// without allocating anything: nesting depth ≤ `max_depth`, at most `MAX_ITEMS` items, and every
/// declared length within the bytes that remain. Runs before ciborium or coset see the bytes.
pub fn prescan(bytes: &[u8], max_depth: usize) -> WResult<()> {
    let mut s = Scanner { b: bytes, pos: 0, items: 0, max_depth };
    s.item(0)?;
    if s.pos != bytes.len() {
        return Err(WalletError::TrailingBytes { after: "CBOR", count: bytes.len() - s.pos });
    }
    Ok(())
}

struct Scanner<'a> {
    b: &'a [u8],
    pos: usize,
    items: usize,
    max_depth: usize,
}

impl Scanner<'_> {
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    fn byte(&mut self) -> WResult<u8> {
        let v = *self.b.get(self.pos).ok_or_else(|| malformed("truncated CBOR"))?;
        self.pos += 1;
        Ok(v)
    }

    fn arg(&mut self, info: u8) -> WResult<u64> {
        let n = match info {
            0..=23 => return Ok(info as u64),
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            31 => return Err(malformed("indefinite-length CBOR")),
            _ => return Err(malformed("reserved CBOR header")),
        };
        let mut v = 0u64;
        for _ in 0..n {
            v = (v << 8) | self.byte()? as u64;
        }
        Ok(v)
    }

    fn item(&mut self, depth: usize) -> WResult<()> {
        if depth > self.max_depth {
            return Err(WalletError::CborTooDeep { limit: self.max_depth });
        }
        self.items += 1;
        if self.items > MAX_ITEMS {
            return Err(WalletError::CborTooLarge);
        }
        let ib = self.byte()?;
        let (major, info) = (ib >> 5, ib & 0x1f);
        match major {
            0 | 1 => {
                self.arg(info)?;
            }
            2 | 3 => {
                let len = self.arg(info)?;
                if len > self.remaining() as u64 {
                    return Err(WalletError::CborTooLarge);
                }
                self.pos += len as usize;
            }
            4 | 5 => {
                let n = self.arg(info)?;
                let per = if major == 5 { 2 } else { 1 };
                // Every item needs at least one byte: a count beyond the bytes left is a length bomb.
                if n.saturating_mul(per) > self.remaining() as u64 {
                    return Err(WalletError::CborTooLarge);
                }
                for _ in 0..n * per {
                    self.item(depth + 1)?;
                }
            }
            6 => {
                self.arg(info)?;
                self.item(depth + 1)?;
            }
            _ => match info {
                0..=23 => {}
                24 => {
                    self.byte()?;
                }
                25..=27 => {
                    let n = 1usize << (info - 24);
                    if n > self.remaining() {
                        return Err(malformed("truncated CBOR"));
                    }
                    self.pos += n;
                }
                _ => return Err(malformed("indefinite or reserved CBOR simple value")),
            },
        }
        Ok(())
    }
}

/// Pre-scans, then decodes one CBOR item.
pub fn decode_cbor(bytes: &[u8]) -> WResult<Value> {
    prescan(bytes, MAX_DEPTH)?;
    ciborium::de::from_reader(bytes).map_err(|_| malformed("CBOR"))
}

pub fn encode_cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    // Writing into a Vec cannot fail.
    let _ = ciborium::ser::into_writer(v, &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// Text codec: prefix + base45(deflate(cbor)), raw DEFLATE (RFC 1951) without a zlib wrapper: the
// signatures inside already protect integrity, and six bytes matter in a QR code.

pub fn encode_text(prefix: &str, cbor: &[u8]) -> String {
    let z = miniz_oxide::deflate::compress_to_vec(cbor, 9);
    let mut s = String::with_capacity(prefix.len() + z.len() * 3 / 2 + 2);
    s.push_str(prefix);
    s.push_str(&base45::encode(&z));
    s
}

/// Reverses [`encode_text`] with every bound checked before the next step runs, and strictly: a text
/// decodes only if it is the one base45 spelling of its bytes and the DEFLATE stream ends exactly at
/// the last byte (docs/formats.md § 6, step 1).
pub fn decode_text(prefix: &'static str, text: &str) -> WResult<Vec<u8>> {
    // The limit counts bytes; a valid text is ASCII, so bytes and characters agree for it.
    if text.len() > MAX_TEXT_LEN {
        return Err(WalletError::TooLong { len: text.len(), max: MAX_TEXT_LEN });
    }
    let body = text.strip_prefix(prefix).ok_or(WalletError::BadPrefix { expected: prefix })?;
    let z = base45_decode_strict(body)?;
    inflate_exact(&z)
}

/// RFC 9285 base45, strictly: upper-case alphabet only, no 1-character tail, and no group whose value
/// overflows its bytes (a 3-character group above 65535, a final 2-character group above 255: RFC 9285
/// § 4.2 says refuse). Every byte string then has exactly one text.
pub fn base45_decode_strict(body: &str) -> WResult<Vec<u8>> {
    const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    let value = |c: u8| ALPHABET.iter().position(|&a| a == c).map(|v| v as u32);
    let b = body.as_bytes();
    if b.len() % 3 == 1 {
        return Err(WalletError::BadEncoding);
    }
    let mut out = Vec::with_capacity(b.len() / 3 * 2 + 1);
    for group in b.chunks(3) {
        let mut v = 0u32;
        let mut scale = 1u32;
        for &c in group {
            v += value(c).ok_or(WalletError::BadEncoding)? * scale;
            scale *= 45;
        }
        if group.len() == 3 {
            if v > 0xFFFF {
                return Err(WalletError::Base45Overflow);
            }
            out.extend_from_slice(&(v as u16).to_be_bytes());
        } else {
            if v > 0xFF {
                return Err(WalletError::Base45Overflow);
            }
            out.push(v as u8);
        }
    }
    Ok(out)
}

/// Raw DEFLATE into at most [`MAX_INFLATED`] bytes; the stream must end at the last input byte.
pub fn inflate_exact(z: &[u8]) -> WResult<Vec<u8>> {
    use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
    use miniz_oxide::inflate::TINFLStatus;
    let mut state = Box::<DecompressorOxide>::default();
    let mut out = vec![0u8; MAX_INFLATED];
    let (status, consumed, written) =
        decompress(&mut state, z, &mut out, 0, inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF);
    match status {
        TINFLStatus::Done if consumed == z.len() => {
            out.truncate(written);
            Ok(out)
        }
        TINFLStatus::Done => {
            Err(WalletError::TrailingBytes { after: "DEFLATE", count: z.len().saturating_sub(consumed) })
        }
        TINFLStatus::HasMoreOutput => Err(WalletError::DeflateBomb { limit: MAX_INFLATED }),
        _ => Err(WalletError::BadCompression),
    }
}

// ---------------------------------------------------------------------------------------------
// Value helpers

pub fn int(v: i64) -> Value {
    Value::Integer(Integer::from(v))
}
pub fn uint(v: u64) -> Value {
    Value::Integer(Integer::from(v))
}
pub fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}
pub fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}
pub fn map(entries: Vec<(i64, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (int(k), v)).collect())
}

pub fn as_i64(v: &Value, what: &str) -> WResult<i64> {
    match v {
        Value::Integer(i) => i64::try_from(i128::from(*i)).map_err(|_| malformed(what)),
        _ => Err(malformed(what)),
    }
}
pub fn as_u64(v: &Value, what: &str) -> WResult<u64> {
    match v {
        Value::Integer(i) => u64::try_from(i128::from(*i)).map_err(|_| malformed(what)),
        _ => Err(malformed(what)),
    }
}
pub fn as_text<'a>(v: &'a Value, what: &str) -> WResult<&'a str> {
    match v {
        Value::Text(s) => Ok(s),
        _ => Err(malformed(what)),
    }
}
pub fn as_bytes<'a>(v: &'a Value, what: &str) -> WResult<&'a [u8]> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(malformed(what)),
    }
}
pub fn as_array<'a>(v: &'a Value, what: &str) -> WResult<&'a [Value]> {
    match v {
        Value::Array(a) => Ok(a),
        _ => Err(malformed(what)),
    }
}
pub fn as_bool(v: &Value, what: &str) -> WResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(malformed(what)),
    }
}

/// A map with integer keys, each key at most once.
pub struct IntMap<'a>(BTreeMap<i64, &'a Value>);

impl<'a> IntMap<'a> {
    pub fn new(v: &'a Value, what: &str) -> WResult<IntMap<'a>> {
        let Value::Map(entries) = v else { return Err(malformed(what)) };
        let mut m = BTreeMap::new();
        for (k, v) in entries {
            let k = as_i64(k, what)?;
            if m.insert(k, v).is_some() {
                return Err(malformed(format!("{what}: duplicate key {k}")));
            }
        }
        Ok(IntMap(m))
    }
    pub fn get(&self, k: i64, what: &str) -> WResult<&'a Value> {
        self.0.get(&k).copied().ok_or_else(|| malformed(format!("{what}: missing key {k}")))
    }
    pub fn opt(&self, k: i64) -> Option<&'a Value> {
        self.0.get(&k).copied()
    }
}

// ---------------------------------------------------------------------------------------------
// Signatures

/// Verifies an ES256 signature (64 bytes r‖s) with a SEC1 uncompressed P-256 public key.
pub fn es256_verify(public_key: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, public_key).verify(msg, sig).is_ok()
}

/// The digest of an element item's bytes: SHA-256, first 16 bytes.
pub fn element_digest(item_bytes: &[u8]) -> [u8; DIGEST_LEN] {
    let d = digest::digest(&digest::SHA256, item_bytes);
    let mut out = [0u8; DIGEST_LEN];
    out.copy_from_slice(&d.as_ref()[..DIGEST_LEN]);
    out
}

/// A device public key as a COSE_Key: {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKey {
    pub alg: i64,
    /// SEC1 uncompressed point (0x04 ‖ x ‖ y), 65 bytes.
    pub sec1: Vec<u8>,
}

impl DeviceKey {
    pub fn es256(sec1: &[u8]) -> WResult<DeviceKey> {
        if sec1.len() != 65 || sec1[0] != 4 {
            return Err(malformed("device key"));
        }
        Ok(DeviceKey { alg: ALG_ES256, sec1: sec1.to_vec() })
    }

    pub fn to_value(&self) -> Value {
        map(vec![
            (1, int(2)),
            (3, int(self.alg)),
            (-1, int(1)),
            (-2, bytes(&self.sec1[1..33])),
            (-3, bytes(&self.sec1[33..65])),
        ])
    }

    pub fn from_value(v: &Value) -> WResult<DeviceKey> {
        let m = IntMap::new(v, "device key")?;
        if as_i64(m.get(1, "device key")?, "device key kty")? != 2 {
            return Err(malformed("device key type"));
        }
        let alg = as_i64(m.get(3, "device key")?, "device key alg")?;
        if alg != ALG_ES256 {
            return Err(WalletError::UnsupportedAlgorithm { alg });
        }
        if as_i64(m.get(-1, "device key")?, "device key curve")? != 1 {
            return Err(malformed("device key curve"));
        }
        let x = as_bytes(m.get(-2, "device key")?, "device key x")?;
        let y = as_bytes(m.get(-3, "device key")?, "device key y")?;
        if x.len() != 32 || y.len() != 32 {
            return Err(malformed("device key coordinates"));
        }
        let mut sec1 = Vec::with_capacity(65);
        sec1.push(4);
        sec1.extend_from_slice(x);
        sec1.extend_from_slice(y);
        Ok(DeviceKey { alg, sec1 })
    }

    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.alg == ALG_ES256 && es256_verify(&self.sec1, msg, sig)
    }
}

// ---------------------------------------------------------------------------------------------
// Element items: [element id, salt, value], carried as the bytes the digest covers.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementItem {
    pub id: u32,
    pub salt: Vec<u8>,
    pub value: ElementValue,
}

pub fn value_to_cbor(v: &ElementValue) -> Value {
    match v {
        ElementValue::Bool(b) => Value::Bool(*b),
        ElementValue::Int(i) => int(*i),
        ElementValue::Text(s) => text(s),
        ElementValue::Members(ms) => Value::Array(
            ms.iter().map(|m| map(vec![(1, text(&m.name)), (2, text(&m.relation)), (3, text(&m.id_number))])).collect(),
        ),
    }
}

pub fn value_from_cbor(v: &Value) -> WResult<ElementValue> {
    Ok(match v {
        Value::Bool(b) => ElementValue::Bool(*b),
        Value::Integer(_) => ElementValue::Int(as_i64(v, "element value")?),
        Value::Text(s) => ElementValue::Text(s.clone()),
        Value::Array(a) => ElementValue::Members(
            a.iter()
                .map(|m| {
                    let m = IntMap::new(m, "member")?;
                    Ok(Member {
                        name: as_text(m.get(1, "member")?, "member name")?.to_string(),
                        relation: as_text(m.get(2, "member")?, "member relation")?.to_string(),
                        id_number: as_text(m.get(3, "member")?, "member id number")?.to_string(),
                    })
                })
                .collect::<WResult<Vec<_>>>()?,
        ),
        _ => return Err(malformed("element value type")),
    })
}

impl ElementItem {
    pub fn encode(&self) -> Vec<u8> {
        encode_cbor(&Value::Array(vec![uint(self.id as u64), bytes(&self.salt), value_to_cbor(&self.value)]))
    }

    pub fn decode(b: &[u8]) -> WResult<ElementItem> {
        let v = decode_cbor(b)?;
        let a = as_array(&v, "element item")?;
        if a.len() != 3 {
            return Err(malformed("element item"));
        }
        let id = u32::try_from(as_u64(&a[0], "element id")?).map_err(|_| malformed("element id"))?;
        let salt = as_bytes(&a[1], "element salt")?;
        if salt.len() != SALT_LEN {
            return Err(malformed("element salt"));
        }
        Ok(ElementItem { id, salt: salt.to_vec(), value: value_from_cbor(&a[2])? })
    }
}

/// Bits of one status list (a list of a million licences is 128 KiB).
pub const MAX_STATUS_BITS: u64 = 1 << 20;
/// Status lists (shards) a platform may publish and a phone holds: ids `0..MAX_STATUS_LISTS` (ADR 0039). With
/// [`MAX_STATUS_BITS`] each, 268 million licences; a verifier holding every shard keeps at most 32 MiB.
pub const MAX_STATUS_LISTS: u32 = 256;

/// A status list id as read from a signed list or a licence: below [`MAX_STATUS_LISTS`].
pub fn list_id(id: u64) -> WResult<u32> {
    match u32::try_from(id) {
        Ok(id) if id < MAX_STATUS_LISTS => Ok(id),
        _ => Err(malformed(format!("status list id {id} (at most {})", MAX_STATUS_LISTS - 1))),
    }
}

/// The optional status list id of a licence (key 9) or a signed list (key 6): absent is list 0, and an explicit
/// 0 — a second way to write the same thing — is refused.
pub fn opt_list_id(v: Option<&Value>) -> WResult<u32> {
    match v {
        None => Ok(0),
        Some(v) => match list_id(as_u64(v, "status list id")?)? {
            0 => Err(malformed("status list id 0 written out (absent means 0)")),
            id => Ok(id),
        },
    }
}

/// A licence's status list and its bit in that list, from its list id and its signed status index
/// (`list × MAX_STATUS_BITS + bit`). A licence of list 0 (every licence issued before sharding) reads as before.
pub fn status_slot(status_list: u32, status_index: u64) -> (u32, u64) {
    (status_list, status_index.saturating_sub(u64::from(status_list) * MAX_STATUS_BITS))
}

// ---------------------------------------------------------------------------------------------
// The issuer-signed licence payload

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicencePayload {
    pub version: u64,
    /// GB/T 36904 identifier.
    pub licence_id: String,
    pub digest_alg: i64,
    /// Element id → digest of that element item's bytes.
    pub digests: BTreeMap<u32, Vec<u8>>,
    pub device_key: DeviceKey,
    pub valid_from: i64,
    pub valid_until: i64,
    /// The signed status index (key 8): `status_list × MAX_STATUS_BITS + i`, where `i` is this licence's bit
    /// in its status list ([`LicencePayload::status_slot`]). For list 0 it is the bit itself, as before sharding.
    pub status_index: u64,
    /// The status list (shard) holding this licence's bit (key 9, absent = 0; ADR 0039).
    pub status_list: u32,
}

impl LicencePayload {
    pub fn to_value(&self) -> Value {
        let mut fields = vec![
            (1, uint(self.version)),
            (2, text(&self.licence_id)),
            (3, int(self.digest_alg)),
            (4, Value::Map(self.digests.iter().map(|(k, d)| (uint(*k as u64), bytes(d))).collect())),
            (5, self.device_key.to_value()),
            (6, int(self.valid_from)),
            (7, int(self.valid_until)),
            (8, uint(self.status_index)),
        ];
        // List 0 is written as before sharding (no key 9): the same bytes an older phone reads.
        if self.status_list != 0 {
            fields.push((9, uint(u64::from(self.status_list))));
        }
        map(fields)
    }

    /// The licence's status list and its bit in that list ([`status_slot`]).
    pub fn status_slot(&self) -> (u32, u64) {
        status_slot(self.status_list, self.status_index)
    }

    pub fn from_value(v: &Value) -> WResult<LicencePayload> {
        let m = IntMap::new(v, "licence payload")?;
        let version = as_u64(m.get(1, "licence payload")?, "version")?;
        if version != FORMAT_VERSION {
            return Err(WalletError::UnsupportedVersion { version });
        }
        let digest_alg = as_i64(m.get(3, "licence payload")?, "digest algorithm")?;
        if digest_alg != DIGEST_SHA256_128 {
            return Err(WalletError::UnsupportedAlgorithm { alg: digest_alg });
        }
        let Value::Map(ds) = m.get(4, "licence payload")? else { return Err(malformed("digests")) };
        let mut digests = BTreeMap::new();
        for (k, d) in ds {
            let k = u32::try_from(as_u64(k, "digest key")?).map_err(|_| malformed("digest key"))?;
            let d = as_bytes(d, "digest")?;
            if d.len() != DIGEST_LEN || digests.insert(k, d.to_vec()).is_some() {
                return Err(malformed("digest"));
            }
        }
        let status_index = as_u64(m.get(8, "licence payload")?, "status index")?;
        let status_list = opt_list_id(m.opt(9))?;
        // The signed index must lie in its list's range: a licence cannot name list k and a bit of another.
        if status_list != 0 && status_index / MAX_STATUS_BITS != u64::from(status_list) {
            return Err(malformed("status index outside its status list"));
        }
        Ok(LicencePayload {
            version,
            licence_id: as_text(m.get(2, "licence payload")?, "licence id")?.to_string(),
            digest_alg,
            digests,
            device_key: DeviceKey::from_value(m.get(5, "licence payload")?)?,
            valid_from: as_i64(m.get(6, "licence payload")?, "valid from")?,
            valid_until: as_i64(m.get(7, "licence payload")?, "valid until")?,
            status_index,
            status_list,
        })
    }
}

/// A COSE_Sign1 (ES256, kid in the protected header) and its decoded payload.
#[derive(Debug, Clone)]
pub struct Signed<T> {
    pub sign1: CoseSign1,
    pub kid: Vec<u8>,
    pub body: T,
}

/// Signs `payload` as a COSE_Sign1 with ES256 and `kid` in the protected header.
pub fn sign1_create(
    kid: &[u8],
    payload: Vec<u8>,
    sign: impl FnOnce(&[u8]) -> crate::Result<Vec<u8>>,
) -> crate::Result<CoseSign1> {
    let protected = HeaderBuilder::new().algorithm(iana::Algorithm::ES256).key_id(kid.to_vec()).build();
    CoseSign1Builder::new().protected(protected).payload(payload).try_create_signature(b"", sign).map(|b| b.build())
}

/// Parses a COSE_Sign1, which must carry its tag 18 (every producer writes it; an untagged one is
/// `missing_cose_tag`), whose protected header names ES256 and a kid. Every nested byte string is
/// pre-scanned before coset decodes it.
pub fn sign1_parse(v: Value) -> WResult<(CoseSign1, Vec<u8>)> {
    let v = match v {
        Value::Tag(18, inner) => *inner,
        Value::Tag(..) => return Err(malformed("COSE_Sign1 tag")),
        _ => return Err(WalletError::MissingCoseTag),
    };
    if let Value::Array(a) = &v {
        if let Some(Value::Bytes(p)) = a.first() {
            if !p.is_empty() {
                prescan(p, 2)?;
            }
        }
    }
    let s = CoseSign1::from_cbor_value(v).map_err(|_| malformed("COSE_Sign1"))?;
    match &s.protected.header.alg {
        Some(coset::RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256)) => {}
        Some(coset::RegisteredLabelWithPrivate::Assigned(a)) => {
            return Err(WalletError::UnsupportedAlgorithm { alg: *a as i64 })
        }
        Some(coset::RegisteredLabelWithPrivate::PrivateUse(a)) => {
            return Err(WalletError::UnsupportedAlgorithm { alg: *a })
        }
        _ => return Err(malformed("COSE algorithm")),
    }
    if s.protected.header.key_id.is_empty() || s.protected.header.key_id.len() > 32 {
        return Err(malformed("COSE key id"));
    }
    let kid = s.protected.header.key_id.clone();
    Ok((s, kid))
}

/// The COSE_Sign1's payload, pre-scanned and decoded.
pub fn sign1_payload(s: &CoseSign1) -> WResult<Value> {
    decode_cbor(s.payload.as_deref().ok_or_else(|| malformed("COSE payload"))?)
}

/// Verifies a COSE_Sign1's ES256 signature with a SEC1 public key.
pub fn sign1_verify(s: &CoseSign1, public_key: &[u8]) -> bool {
    s.verify_signature(b"", |sig, data| if es256_verify(public_key, data, sig) { Ok(()) } else { Err(()) }).is_ok()
}

pub fn sign1_value(s: &CoseSign1) -> Value {
    // A parsed or built CoseSign1 always converts back.
    Value::Tag(18, Box::new(s.clone().to_cbor_value().unwrap_or(Value::Null)))
}

pub type SignedLicence = Signed<LicencePayload>;

impl SignedLicence {
    pub fn from_value(v: Value) -> WResult<SignedLicence> {
        let (sign1, kid) = sign1_parse(v)?;
        let body = LicencePayload::from_value(&sign1_payload(&sign1)?)?;
        Ok(Signed { sign1, kid, body })
    }
}

// ---------------------------------------------------------------------------------------------
// An issued licence as the holder receives and keeps it: {1: COSE_Sign1, 2: [item bstr …]}

#[derive(Debug, Clone)]
pub struct IssuedLicence {
    pub signed: SignedLicence,
    /// Each element item's exact bytes (what its digest covers).
    pub items: Vec<Vec<u8>>,
}

impl IssuedLicence {
    pub fn encode(&self) -> Vec<u8> {
        encode_cbor(&map(vec![
            (1, sign1_value(&self.signed.sign1)),
            (2, Value::Array(self.items.iter().map(|b| bytes(b)).collect())),
        ]))
    }

    pub fn decode(b: &[u8]) -> WResult<IssuedLicence> {
        if b.len() > MAX_LICENCE_BYTES {
            return Err(WalletError::TooLong { len: b.len(), max: MAX_LICENCE_BYTES });
        }
        let v = decode_cbor(b)?;
        let m = IntMap::new(&v, "issued licence")?;
        let signed = SignedLicence::from_value(m.get(1, "issued licence")?.clone())?;
        let items = as_array(m.get(2, "issued licence")?, "element items")?
            .iter()
            .map(|i| as_bytes(i, "element item").map(<[u8]>::to_vec))
            .collect::<WResult<Vec<_>>>()?;
        Ok(IssuedLicence { signed, items })
    }
}

// ---------------------------------------------------------------------------------------------
// Presentation: [1, COSE_Sign1, [item bstr …], [not_before, not_after, nonce, purpose, device sig]]

#[derive(Debug, Clone)]
pub struct Presentation {
    pub signed: SignedLicence,
    pub items: Vec<Vec<u8>>,
    pub not_before: i64,
    pub not_after: i64,
    pub nonce: Vec<u8>,
    pub purpose: String,
    pub device_signature: Vec<u8>,
    /// The verifier's engagement challenge this code answers (version 2); `None`: a one-way code.
    pub challenge: Option<Vec<u8>>,
}

/// What the device signs for an engaged presentation (version 2): the one-way fields, then the
/// verifier's challenge, in one array of 8 (so the two kinds can never be confused).
pub fn engaged_device_auth_tbs(
    licence_id: &str,
    element_ids: &[u32],
    not_before: i64,
    not_after: i64,
    nonce: &[u8],
    purpose: &str,
    challenge: &[u8],
) -> Vec<u8> {
    encode_cbor(&Value::Array(vec![
        text(DEVICE_AUTH_CONTEXT),
        text(licence_id),
        Value::Array(element_ids.iter().map(|i| uint(*i as u64)).collect()),
        int(not_before),
        int(not_after),
        bytes(nonce),
        text(purpose),
        bytes(challenge),
    ]))
}

/// Disclosed items must come in strictly ascending element-id order (`items_out_of_order`), each id
/// once (`duplicate_item`): one set of disclosed elements has one encoding. Items are decoded (bounded)
/// for their ids only; their digests are checked later, after the issuer's signature.
pub fn check_item_order(licence_id: &str, items: &[Vec<u8>]) -> WResult<()> {
    let mut last: Option<u32> = None;
    for b in items {
        let id = ElementItem::decode(b)?.id;
        match last {
            Some(prev) if prev == id => {
                let name = super::ids::LicenceId::parse(licence_id)
                    .ok()
                    .and_then(|l| super::types::LicenceType::from_code(&l.type_code))
                    .and_then(|t| t.element(id))
                    .map(|d| d.key.to_string())
                    .unwrap_or_else(|| format!("#{id}"));
                return Err(WalletError::DuplicateItem { element: name });
            }
            Some(prev) if prev > id => return Err(WalletError::ItemsOutOfOrder),
            _ => {}
        }
        last = Some(id);
    }
    Ok(())
}

/// What the device signs for a presentation.
pub fn device_auth_tbs(
    licence_id: &str,
    element_ids: &[u32],
    not_before: i64,
    not_after: i64,
    nonce: &[u8],
    purpose: &str,
) -> Vec<u8> {
    encode_cbor(&Value::Array(vec![
        text(DEVICE_AUTH_CONTEXT),
        text(licence_id),
        Value::Array(element_ids.iter().map(|i| uint(*i as u64)).collect()),
        int(not_before),
        int(not_after),
        bytes(nonce),
        text(purpose),
    ]))
}

impl Presentation {
    pub fn encode(&self) -> Vec<u8> {
        let mut auth = vec![
            int(self.not_before),
            int(self.not_after),
            bytes(&self.nonce),
            text(&self.purpose),
            bytes(&self.device_signature),
        ];
        let version = match &self.challenge {
            Some(c) => {
                auth.push(bytes(c));
                ENGAGED_VERSION
            }
            None => FORMAT_VERSION,
        };
        encode_cbor(&Value::Array(vec![
            uint(version),
            sign1_value(&self.signed.sign1),
            Value::Array(self.items.iter().map(|b| bytes(b)).collect()),
            Value::Array(auth),
        ]))
    }

    /// The bytes the device signature covers (one-way or engaged).
    pub fn tbs(&self, element_ids: &[u32]) -> Vec<u8> {
        let id = &self.signed.body.licence_id;
        match &self.challenge {
            Some(c) => {
                engaged_device_auth_tbs(id, element_ids, self.not_before, self.not_after, &self.nonce, &self.purpose, c)
            }
            None => device_auth_tbs(id, element_ids, self.not_before, self.not_after, &self.nonce, &self.purpose),
        }
    }

    pub fn to_text(&self) -> String {
        encode_text(PRESENTATION_PREFIX, &self.encode())
    }

    /// Decodes a presentation strictly, in the order of docs/formats.md § 6 step 2: the bounded
    /// pre-scan, the outer structure and version, the COSE_Sign1 (tag, protected header, algorithm,
    /// payload), the disclosed items (ascending element ids, no duplicates), the device-auth fields, and
    /// last that the bytes are the one deterministic encoding of what was decoded (`non_canonical`).
    pub fn decode(b: &[u8]) -> WResult<Presentation> {
        let v = decode_cbor(b)?;
        let a = match v {
            Value::Array(a) if a.len() == 4 => a,
            _ => return Err(malformed("presentation")),
        };
        let version = as_u64(&a[0], "presentation version")?;
        let auth_len = match version {
            FORMAT_VERSION => 5,
            ENGAGED_VERSION => 6,
            _ => return Err(WalletError::UnsupportedVersion { version }),
        };
        let mut a = a;
        let auth = as_array(&a[3], "device auth")?.to_vec();
        let items = as_array(&a[2], "disclosed items")?
            .iter()
            .map(|i| as_bytes(i, "disclosed item").map(<[u8]>::to_vec))
            .collect::<WResult<Vec<_>>>()?;
        let signed = SignedLicence::from_value(a.swap_remove(1))?;
        check_item_order(&signed.body.licence_id, &items)?;
        if auth.len() != auth_len {
            return Err(malformed("device auth"));
        }
        let challenge = match auth.get(5) {
            Some(c) => {
                let c = as_bytes(c, "verifier challenge")?;
                if c.len() != CHALLENGE_LEN {
                    return Err(malformed("verifier challenge"));
                }
                Some(c.to_vec())
            }
            None => None,
        };
        let nonce = as_bytes(&auth[2], "nonce")?;
        if nonce.len() != NONCE_LEN {
            return Err(malformed("nonce"));
        }
        let purpose = as_text(&auth[3], "purpose")?;
        if purpose.len() > 64 {
            return Err(malformed("purpose"));
        }
        let p = Presentation {
            signed,
            items,
            not_before: as_i64(&auth[0], "not before")?,
            not_after: as_i64(&auth[1], "not after")?,
            nonce: nonce.to_vec(),
            purpose: purpose.to_string(),
            device_signature: as_bytes(&auth[4], "device signature")?.to_vec(),
            challenge,
        };
        if p.encode() != b {
            return Err(WalletError::NonCanonical { what: "presentation".into() });
        }
        Ok(p)
    }

    pub fn from_text(t: &str) -> WResult<Presentation> {
        Presentation::decode(&decode_text(PRESENTATION_PREFIX, t)?)
    }
}

// ---------------------------------------------------------------------------------------------
// Grant: [1, COSE_Sign1, [item bstr …],
//         [grant id, recipient, purpose, issued_at, expires_at, single_use, device sig]]
// Grant version 2 (bound to the recipient's key): the terms end with the recipient's public key
//         [grant id, recipient, purpose, issued_at, expires_at, single_use, device sig, recipient key]

/// Version of a grant bound to its recipient's key.
pub const GRANT_BOUND_VERSION: u64 = 2;

#[derive(Debug, Clone)]
pub struct GrantToken {
    pub signed: SignedLicence,
    pub items: Vec<Vec<u8>>,
    pub grant_id: Vec<u8>,
    pub recipient: String,
    pub purpose: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub single_use: bool,
    pub device_signature: Vec<u8>,
    /// The recipient's public key (SEC1 P-256) the grant is bound to (version 2); `None`: an old bearer
    /// grant (version 1), which verifiers refuse.
    pub recipient_key: Option<Vec<u8>>,
}

/// What the device signs for a grant bound to `recipient_key` (version 2): the version 1 fields, then
/// the key (an array of 10, so the two kinds can never be confused).
#[allow(clippy::too_many_arguments)]
pub fn bound_grant_tbs(
    licence_id: &str,
    element_ids: &[u32],
    grant_id: &[u8],
    recipient: &str,
    purpose: &str,
    issued_at: i64,
    expires_at: i64,
    single_use: bool,
    recipient_key: &[u8],
) -> Vec<u8> {
    encode_cbor(&Value::Array(vec![
        text(GRANT_CONTEXT),
        text(licence_id),
        Value::Array(element_ids.iter().map(|i| uint(*i as u64)).collect()),
        bytes(grant_id),
        text(recipient),
        text(purpose),
        int(issued_at),
        int(expires_at),
        Value::Bool(single_use),
        bytes(recipient_key),
    ]))
}

#[allow(clippy::too_many_arguments)]
pub fn grant_tbs(
    licence_id: &str,
    element_ids: &[u32],
    grant_id: &[u8],
    recipient: &str,
    purpose: &str,
    issued_at: i64,
    expires_at: i64,
    single_use: bool,
) -> Vec<u8> {
    encode_cbor(&Value::Array(vec![
        text(GRANT_CONTEXT),
        text(licence_id),
        Value::Array(element_ids.iter().map(|i| uint(*i as u64)).collect()),
        bytes(grant_id),
        text(recipient),
        text(purpose),
        int(issued_at),
        int(expires_at),
        Value::Bool(single_use),
    ]))
}

impl GrantToken {
    pub fn encode(&self) -> Vec<u8> {
        let mut terms = vec![
            bytes(&self.grant_id),
            text(&self.recipient),
            text(&self.purpose),
            int(self.issued_at),
            int(self.expires_at),
            Value::Bool(self.single_use),
            bytes(&self.device_signature),
        ];
        let version = match &self.recipient_key {
            Some(k) => {
                terms.push(bytes(k));
                GRANT_BOUND_VERSION
            }
            None => FORMAT_VERSION,
        };
        encode_cbor(&Value::Array(vec![
            uint(version),
            sign1_value(&self.signed.sign1),
            Value::Array(self.items.iter().map(|b| bytes(b)).collect()),
            Value::Array(terms),
        ]))
    }

    /// The bytes the device signature covers (version 1 or 2).
    pub fn tbs(&self, element_ids: &[u32]) -> Vec<u8> {
        let id = &self.signed.body.licence_id;
        match &self.recipient_key {
            Some(k) => bound_grant_tbs(
                id,
                element_ids,
                &self.grant_id,
                &self.recipient,
                &self.purpose,
                self.issued_at,
                self.expires_at,
                self.single_use,
                k,
            ),
            None => grant_tbs(
                id,
                element_ids,
                &self.grant_id,
                &self.recipient,
                &self.purpose,
                self.issued_at,
                self.expires_at,
                self.single_use,
            ),
        }
    }

    pub fn to_text(&self) -> String {
        encode_text(GRANT_PREFIX, &self.encode())
    }

    pub fn from_text(t: &str) -> WResult<GrantToken> {
        GrantToken::decode(&decode_text(GRANT_PREFIX, t)?)
    }

    /// A grant from its CBOR bytes (a `ZBG1:` text's content, or a grant carried inside another signed
    /// structure: a delegation's shared licence, docs/formats.md § 10): bounded pre-scan, the one
    /// deterministic encoding, items in order.
    pub fn decode(bytes_in: &[u8]) -> WResult<GrantToken> {
        let v = decode_cbor(bytes_in)?;
        let mut a = match v {
            Value::Array(a) if a.len() == 4 => a,
            _ => return Err(malformed("grant")),
        };
        let version = as_u64(&a[0], "grant version")?;
        let terms_len = match version {
            FORMAT_VERSION => 7,
            GRANT_BOUND_VERSION => 8,
            _ => return Err(WalletError::UnsupportedVersion { version }),
        };
        let terms = as_array(&a[3], "grant terms")?.to_vec();
        let items = as_array(&a[2], "granted items")?
            .iter()
            .map(|i| as_bytes(i, "granted item").map(<[u8]>::to_vec))
            .collect::<WResult<Vec<_>>>()?;
        let signed = SignedLicence::from_value(a.swap_remove(1))?;
        check_item_order(&signed.body.licence_id, &items)?;
        if terms.len() != terms_len {
            return Err(malformed("grant terms"));
        }
        let recipient_key = match terms.get(7) {
            Some(k) => {
                let k = as_bytes(k, "recipient key")?;
                if k.len() != 65 || k[0] != 0x04 {
                    return Err(malformed("recipient key"));
                }
                Some(k.to_vec())
            }
            None => None,
        };
        let g = GrantToken {
            signed,
            items,
            grant_id: as_bytes(&terms[0], "grant id")?.to_vec(),
            recipient: as_text(&terms[1], "recipient")?.to_string(),
            purpose: as_text(&terms[2], "purpose")?.to_string(),
            issued_at: as_i64(&terms[3], "issued at")?,
            expires_at: as_i64(&terms[4], "expires at")?,
            single_use: as_bool(&terms[5], "single use")?,
            device_signature: as_bytes(&terms[6], "device signature")?.to_vec(),
            recipient_key,
        };
        if g.encode() != bytes_in {
            return Err(WalletError::NonCanonical { what: "grant".into() });
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prescan_accepts_ordinary_cbor() {
        let v = map(vec![(1, text("a")), (2, Value::Array(vec![int(-3), bytes(&[1, 2])]))]);
        let b = encode_cbor(&v);
        assert_eq!(decode_cbor(&b).unwrap(), v);
    }

    #[test]
    fn prescan_rejects_deep_nesting() {
        // 100 nested arrays of one element.
        let mut b = vec![0x81u8; 100];
        b.push(0x00);
        assert_eq!(prescan(&b, MAX_DEPTH), Err(WalletError::CborTooDeep { limit: MAX_DEPTH }));
        // Nested tags count too.
        let mut b = vec![0xc1u8; 100];
        b.push(0x00);
        assert_eq!(prescan(&b, MAX_DEPTH), Err(WalletError::CborTooDeep { limit: MAX_DEPTH }));
    }

    #[test]
    fn prescan_rejects_length_bombs() {
        // A byte string claiming 2^32 bytes, an array claiming 2^60 items, a map claiming 1e9 pairs.
        assert_eq!(prescan(&[0x5a, 0xff, 0xff, 0xff, 0xff, 0x00], 8), Err(WalletError::CborTooLarge));
        assert_eq!(prescan(&[0x9b, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x00], 8), Err(WalletError::CborTooLarge));
        assert_eq!(prescan(&[0xba, 0x3b, 0x9a, 0xca, 0x00, 0x00], 8), Err(WalletError::CborTooLarge));
        // Many small items beyond MAX_ITEMS.
        let mut b = vec![0x99, 0x27, 0x10]; // array of 10,000
        b.extend(std::iter::repeat_n(0u8, 10_000));
        assert_eq!(prescan(&b, 8), Err(WalletError::CborTooLarge));
    }

    #[test]
    fn prescan_rejects_indefinite_truncated_and_trailing() {
        assert!(matches!(prescan(&[0x9f, 0x01, 0xff], 8), Err(WalletError::Malformed { .. })));
        assert!(prescan(&[0x82, 0x01], 8).is_err());
        assert!(matches!(prescan(&[0x83, 0x01, 0x02], 8), Err(WalletError::CborTooLarge)));
        assert!(matches!(prescan(&[0x82, 0x81, 0x01], 8), Err(WalletError::Malformed { .. })));
        assert_eq!(prescan(&[0x01, 0x01], 8), Err(WalletError::TrailingBytes { after: "CBOR", count: 1 }));
        assert!(matches!(prescan(&[0x19, 0x01], 8), Err(WalletError::Malformed { .. })));
        assert!(matches!(prescan(&[], 8), Err(WalletError::Malformed { .. })));
    }

    #[test]
    fn text_codec_bounds() {
        let t = encode_text(PRESENTATION_PREFIX, b"hello");
        assert_eq!(decode_text(PRESENTATION_PREFIX, &t).unwrap(), b"hello");
        assert_eq!(
            decode_text(PRESENTATION_PREFIX, &"A".repeat(MAX_TEXT_LEN + 1)),
            Err(WalletError::TooLong { len: MAX_TEXT_LEN + 1, max: MAX_TEXT_LEN })
        );
        assert_eq!(decode_text(PRESENTATION_PREFIX, "XX1:AB"), Err(WalletError::BadPrefix { expected: "ZB1:" }));
        assert_eq!(decode_text(PRESENTATION_PREFIX, "ZB1:ab"), Err(WalletError::BadEncoding));
        assert_eq!(decode_text(PRESENTATION_PREFIX, "ZB1:A"), Err(WalletError::BadEncoding));
        // RFC 9285: a final 2-character group above 255 ("::" = 2024) and a 3-character group above
        // 65535 (":::" = 91124) are refused, not truncated into a byte for the inflater.
        assert_eq!(decode_text(PRESENTATION_PREFIX, "ZB1:::"), Err(WalletError::Base45Overflow));
        assert_eq!(decode_text(PRESENTATION_PREFIX, "ZB1::::"), Err(WalletError::Base45Overflow));
        assert_eq!(base45_decode_strict("U5"), Ok(vec![255]));
        assert_eq!(base45_decode_strict("V5"), Err(WalletError::Base45Overflow));
        assert_eq!(base45_decode_strict("FGW"), Ok(vec![255, 255]));
        assert_eq!(base45_decode_strict("GGW"), Err(WalletError::Base45Overflow));
        for s in ["", "BB8", "QED8WEX0", "%69 VD92EX0"] {
            let b = base45_decode_strict(s).unwrap();
            assert_eq!(base45::encode(&b), s, "one text per byte string");
        }
        // Bytes after the end of the DEFLATE stream.
        let mut z = miniz_oxide::deflate::compress_to_vec(b"hello", 9);
        z.push(0);
        let t = format!("{PRESENTATION_PREFIX}{}", base45::encode(&z));
        assert_eq!(
            decode_text(PRESENTATION_PREFIX, &t),
            Err(WalletError::TrailingBytes { after: "DEFLATE", count: 1 })
        );
        for level in [0, 1, 6, 10] {
            let z = miniz_oxide::deflate::compress_to_vec(&[9u8; 700], level);
            let t = format!("{PRESENTATION_PREFIX}{}", base45::encode(&z));
            assert_eq!(decode_text(PRESENTATION_PREFIX, &t).unwrap(), vec![9u8; 700], "level {level}");
        }
        // Truncated deflate stream.
        let long = encode_text(PRESENTATION_PREFIX, &[7u8; 300]);
        let cut = &long[..long.len() - 6];
        let r = decode_text(PRESENTATION_PREFIX, cut);
        assert!(
            matches!(r, Err(WalletError::BadCompression | WalletError::BadEncoding | WalletError::Base45Overflow)),
            "{r:?}"
        );
        // A deflate bomb: 1 MiB of zeros compresses to about a kilobyte and fits in a QR code.
        let bomb = encode_text(PRESENTATION_PREFIX, &vec![0u8; 1 << 20]);
        assert!(bomb.len() < MAX_TEXT_LEN, "{}", bomb.len());
        assert_eq!(decode_text(PRESENTATION_PREFIX, &bomb), Err(WalletError::DeflateBomb { limit: MAX_INFLATED }));
    }

    #[test]
    fn device_key_roundtrip() {
        let mut sec1 = vec![4u8];
        sec1.extend(1..=64u8);
        let k = DeviceKey::es256(&sec1).unwrap();
        let v = k.to_value();
        let b = encode_cbor(&v);
        // Deterministic key order: 1, 3, -1, -2, -3.
        assert_eq!(&b[..7], &[0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01]);
        assert_eq!(DeviceKey::from_value(&decode_cbor(&b).unwrap()).unwrap(), k);
        assert!(DeviceKey::es256(&sec1[..64]).is_err());
    }

    #[test]
    fn element_item_roundtrip() {
        let it = ElementItem {
            id: 4,
            salt: vec![9; SALT_LEN],
            value: ElementValue::Members(vec![Member {
                name: "张三".into(),
                relation: "户主".into(),
                id_number: "11010519491231002X".into(),
            }]),
        };
        assert_eq!(ElementItem::decode(&it.encode()).unwrap(), it);
        let short = ElementItem { salt: vec![1; 3], ..it };
        assert!(ElementItem::decode(&short.encode()).is_err());
    }
}
