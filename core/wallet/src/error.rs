//! Typed reasons why the wallet refuses a licence, a presentation, a grant or a signed list.
//!
//! Each reason has a stable machine code (`code()`, used by the shells, the FFI and the test vectors)
//! and a message in Chinese and English that says what happened and what to do.

use std::fmt;

/// Why a licence, presentation, grant, trust list or status list was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletError {
    // --- input bounds and encoding -----------------------------------------------------------
    /// The text (QR or grant) is longer than any valid one can be.
    TooLong {
        len: usize,
        max: usize,
    },
    /// The text does not start with the expected prefix (`ZB1:`, `ZBG1:`).
    BadPrefix {
        expected: &'static str,
    },
    /// Not valid base45.
    BadEncoding,
    /// A base45 group whose value overflows its bytes (RFC 9285: a 3-character group above 65535, a
    /// final 2-character group above 255). Not a spelling any encoder writes.
    Base45Overflow,
    /// The compressed data is damaged or truncated.
    BadCompression,
    /// Bytes after the end of a structure that must end the input (`after`: "DEFLATE" or "CBOR").
    TrailingBytes {
        after: &'static str,
        count: usize,
    },
    /// Inflating would exceed the size limit (a deflate bomb).
    DeflateBomb {
        limit: usize,
    },
    /// CBOR nested deeper than allowed.
    CborTooDeep {
        limit: usize,
    },
    /// A CBOR length or item count beyond the limits or beyond the data (a length bomb).
    CborTooLarge,
    /// Well-formed input with the wrong structure; `what` names the part.
    Malformed {
        what: String,
    },
    /// An issuer-signed licence or signed list without its COSE_Sign1 tag (18).
    MissingCoseTag,
    /// Disclosed (or granted) items not in ascending element-id order.
    ItemsOutOfOrder,
    /// The same element disclosed twice.
    DuplicateItem {
        element: String,
    },
    /// Well-formed CBOR that is not in the one deterministic encoding (a longer integer or length
    /// than needed, …): the same presentation could otherwise be written as many texts.
    NonCanonical {
        what: String,
    },
    UnsupportedVersion {
        version: u64,
    },
    UnsupportedAlgorithm {
        alg: i64,
    },

    // --- issuer and trust --------------------------------------------------------------------
    /// No trust list is available (none cached yet).
    NoTrustList,
    /// The issuer key id is not in the trust list.
    UnknownIssuerKey {
        kid: String,
    },
    /// The issuer key was withdrawn from the trust list (or is outside its validity).
    IssuerKeyWithdrawn {
        kid: String,
    },
    /// The issuer key may not issue this licence type, or the identifier names another issuer.
    IssuerNotAuthorised {
        kid: String,
    },
    /// The issuer's signature does not verify (forged or altered licence).
    BadIssuerSignature,
    /// A trust list or status list whose platform root signature does not verify.
    BadListSignature {
        list: &'static str,
    },
    /// A trust or status list older than the cached one (a rollback).
    ListRollback {
        list: &'static str,
    },
    /// A status list asked for as shard `expected` that is signed as shard `found` (ADR 0039): a list signed
    /// for one shard never stands for another.
    StatusListMismatch {
        expected: u32,
        found: u32,
    },

    // --- the licence itself ------------------------------------------------------------------
    /// An identifier (licence id, ID number, USCC) failed its check on import.
    InvalidIdentifier {
        field: String,
        zh: String,
        en: String,
    },
    /// A well-formed identifier whose GB/T 36904 type code names a licence type this app does not
    /// know (not a typing error: a newer type, or another catalogue).
    UnknownLicenceType {
        code: String,
    },
    /// A required element is missing, or an element has the wrong type.
    InvalidElement {
        field: String,
    },
    NotYetValid {
        valid_from: i64,
    },
    Expired {
        valid_until: i64,
    },
    Revoked,
    /// No status list is cached, so revocation cannot be checked.
    StatusUnknown,
    /// The licence's status index is beyond the status list (the list cannot say whether it is revoked).
    StatusIndexOutOfRange {
        index: u64,
        size: u64,
    },
    /// The cached status list is older than the policy allows.
    StatusStale {
        age_secs: i64,
        max_secs: i64,
    },
    /// The cached trust list is older than the policy allows (its sync may be blocked).
    TrustStale {
        age_secs: i64,
        max_secs: i64,
    },
    /// The licence is bound to another device key (import).
    DeviceKeyMismatch,

    // --- the presentation ----------------------------------------------------------------------
    /// The presentation window ends before it starts (`not_after < not_before`).
    NegativeWindow {
        not_before: i64,
        not_after: i64,
    },
    /// The presentation window is longer than 60 s.
    WindowTooLong {
        secs: i64,
    },
    WindowNotYetValid {
        not_before: i64,
    },
    /// The presentation window has passed (a screenshot or an old code).
    WindowExpired {
        not_after: i64,
    },
    /// This presentation's nonce was already seen by this verifier (a replay).
    Replay,
    /// The device signature does not verify with the device key inside the licence.
    BadDeviceSignature,
    /// A disclosed value does not match the issuer's digest (an altered value).
    DigestMismatch {
        element: String,
    },
    /// The verifier does not accept this purpose.
    PurposeNotAccepted {
        purpose: String,
    },
    /// The verifier named no purposes it accepts (a policy must list them).
    NoPurposePolicy,
    /// The code answers another verifier's challenge, or none where one was shown (a relayed code).
    EngagementMismatch,
    /// The verifier's engagement challenge is older than its lifetime: show a new one.
    EngagementExpired,

    // --- grants ----------------------------------------------------------------------------------
    GrantExpired {
        expires_at: i64,
    },
    /// The grant is addressed to another recipient.
    GrantWrongRecipient {
        recipient: String,
    },
    /// A single-use grant that this recipient already used.
    GrantAlreadyUsed,
    /// The holder revoked the grant.
    GrantRevoked,
    /// Grant terms outside the rules (expiry beyond a year, empty purpose …).
    GrantTerms {
        what: String,
    },
    /// The person presenting a grant could not prove they hold the recipient's key.
    GrantRecipientProof,
}

impl WalletError {
    /// A stable machine code (snake_case). Shells and vectors match on it.
    pub fn code(&self) -> &'static str {
        use WalletError::*;
        match self {
            TooLong { .. } => "too_long",
            BadPrefix { .. } => "bad_prefix",
            BadEncoding => "bad_encoding",
            Base45Overflow => "base45_overflow",
            BadCompression => "bad_compression",
            TrailingBytes { .. } => "trailing_bytes",
            MissingCoseTag => "missing_cose_tag",
            ItemsOutOfOrder => "items_out_of_order",
            DuplicateItem { .. } => "duplicate_item",
            NonCanonical { .. } => "non_canonical",
            NegativeWindow { .. } => "negative_window",
            StatusIndexOutOfRange { .. } => "status_index_out_of_range",
            DeflateBomb { .. } => "deflate_bomb",
            CborTooDeep { .. } => "cbor_too_deep",
            CborTooLarge => "cbor_too_large",
            Malformed { .. } => "malformed",
            UnsupportedVersion { .. } => "unsupported_version",
            UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            NoTrustList => "no_trust_list",
            UnknownIssuerKey { .. } => "unknown_issuer_key",
            IssuerKeyWithdrawn { .. } => "issuer_key_withdrawn",
            IssuerNotAuthorised { .. } => "issuer_not_authorised",
            BadIssuerSignature => "bad_issuer_signature",
            BadListSignature { .. } => "bad_list_signature",
            ListRollback { .. } => "list_rollback",
            StatusListMismatch { .. } => "status_list_mismatch",
            InvalidIdentifier { .. } => "invalid_identifier",
            UnknownLicenceType { .. } => "unknown_licence_type",
            InvalidElement { .. } => "invalid_element",
            NotYetValid { .. } => "not_yet_valid",
            Expired { .. } => "expired",
            Revoked => "revoked",
            StatusUnknown => "status_unknown",
            StatusStale { .. } => "status_stale",
            TrustStale { .. } => "trust_stale",
            DeviceKeyMismatch => "device_key_mismatch",
            WindowTooLong { .. } => "window_too_long",
            WindowNotYetValid { .. } => "window_not_yet_valid",
            WindowExpired { .. } => "window_expired",
            Replay => "replay",
            BadDeviceSignature => "bad_device_signature",
            DigestMismatch { .. } => "digest_mismatch",
            PurposeNotAccepted { .. } => "purpose_not_accepted",
            NoPurposePolicy => "no_purpose_policy",
            EngagementMismatch => "engagement_mismatch",
            EngagementExpired => "engagement_expired",
            GrantExpired { .. } => "grant_expired",
            GrantWrongRecipient { .. } => "grant_wrong_recipient",
            GrantAlreadyUsed => "grant_already_used",
            GrantRevoked => "grant_revoked",
            GrantTerms { .. } => "grant_terms",
            GrantRecipientProof => "grant_recipient_proof",
        }
    }

    pub fn message_zh(&self) -> String {
        use WalletError::*;
        match self {
            TooLong { len, max } => format!("二维码内容过长（{len} 字符，上限 {max}）：不是有效的亮证码。"),
            BadPrefix { expected } => format!("不是掌办亮证码（应以 {expected} 开头）：请扫描对方手机上的亮证二维码。"),
            BadEncoding => "二维码内容编码错误（不是有效的 base45）：请重新扫描。".into(),
            BadCompression => "二维码内容不完整或已损坏：请让对方刷新后重新扫描。".into(),
            Base45Overflow => "二维码内容编码越界（base45 数值溢出）：不是正规生成的亮证码，已拒绝。".into(),
            TrailingBytes { after, count } => {
                format!("二维码内容在 {after} 数据之后多出 {count} 字节：不是正规生成的亮证码，已拒绝。")
            }
            MissingCoseTag => "签名结构缺少 COSE 标签 18：不是正规签发的证照，已拒绝。".into(),
            ItemsOutOfOrder => "披露的项目未按项目编号升序排列：不是正规生成的亮证码，已拒绝。".into(),
            DuplicateItem { element } => format!("项目“{element}”被重复披露：已拒绝。"),
            NonCanonical { what } => format!("数据编码不是唯一的规范形式（{what}）：不是正规生成的亮证码，已拒绝。"),
            NegativeWindow { .. } => "亮证码的结束时间早于开始时间：不是正规生成的亮证码，已拒绝。".into(),
            StatusIndexOutOfRange { index, size } => format!(
                "证照的状态序号 {index} 超出状态列表范围（共 {size} 项），无法确认是否被注销：请联网更新状态列表后再核验。"
            ),
            DeflateBomb { limit } => format!("二维码解压后超过 {limit} 字节，已拒绝（疑似恶意数据）。"),
            CborTooDeep { limit } => format!("数据嵌套超过 {limit} 层，已拒绝（疑似恶意数据）。"),
            CborTooLarge => "数据长度声明异常，已拒绝（疑似恶意数据）。".into(),
            Malformed { what } => format!("数据结构不正确（{what}）：请让对方刷新后重新扫描。"),
            UnsupportedVersion { version } => format!("不支持的格式版本 {version}：请更新应用。"),
            UnsupportedAlgorithm { alg } => format!("不支持的算法（{alg}）：请更新应用。"),
            NoTrustList => "本机尚无签发机构信任列表：请联网一次以下载信任列表。".into(),
            UnknownIssuerKey { kid } => {
                format!("签发机构密钥（{kid}）不在信任列表中：证照不可信，请联网更新信任列表后重试。")
            }
            IssuerKeyWithdrawn { kid } => format!("签发机构密钥（{kid}）已被撤销或不在有效期内：证照不可信。"),
            IssuerNotAuthorised { kid } => format!("签发机构密钥（{kid}）无权签发此类证照：证照不可信。"),
            BadIssuerSignature => "签发机构签名验证失败：证照被伪造或篡改，请勿采信。".into(),
            BadListSignature { list } => format!("{list}的平台签名验证失败：已拒绝，请重新下载。"),
            ListRollback { list } => format!("{list}比本机已有的更旧：已保留本机版本。"),
            StatusListMismatch { expected, found } => {
                format!("收到的状态列表是第 {found} 号分片，而请求的是第 {expected} 号：已拒绝，请重新下载。")
            }
            InvalidIdentifier { field, zh, .. } => format!("{field}：{zh}"),
            UnknownLicenceType { code } => {
                format!("证照类型代码“{code}”格式正确，但本应用不认识这种证照：请更新应用后再试。")
            }
            InvalidElement { field } => format!("证照项目“{field}”缺失或类型不正确：请联系签发机构重新签发。"),
            NotYetValid { .. } => "证照尚未生效：请在生效日期后使用。".into(),
            Expired { .. } => "证照已过期：请向签发机构申请换发。".into(),
            Revoked => "证照已被签发机构注销或吊销：请勿采信。".into(),
            StatusUnknown => "本机没有证照状态列表，无法确认是否被注销：请联网更新一次。".into(),
            StatusStale { age_secs, max_secs } => format!(
                "证照状态列表已有 {} 小时未更新（上限 {} 小时）：请联网更新后再核验。",
                age_secs / 3600,
                max_secs / 3600
            ),
            TrustStale { age_secs, max_secs } => format!(
                "签发机构信任列表已有 {} 小时未更新（上限 {} 小时），可能已撤销的签发密钥无法排除：请联网更新后再核验。",
                age_secs / 3600,
                max_secs / 3600
            ),
            DeviceKeyMismatch => "该证照绑定的是另一台设备：请在本机重新申领。".into(),
            WindowTooLong { secs } => format!("亮证码有效时间过长（{secs} 秒，上限 60 秒）：已拒绝。"),
            WindowNotYetValid { .. } => "亮证码尚未生效：请检查双方手机时间是否准确。".into(),
            WindowExpired { .. } => "亮证码已过期（可能是截图）：请让对方刷新亮证码后重新扫描。".into(),
            Replay => "该亮证码已被扫描过（重放）：请让对方刷新后重新扫描。".into(),
            BadDeviceSignature => "持证设备签名验证失败：亮证码不是由证照持有人的手机生成的。".into(),
            DigestMismatch { element } => format!("披露的项目“{element}”与签发机构签名不符：内容被篡改，请勿采信。"),
            PurposeNotAccepted { purpose } => format!("本核验点不接受用途“{purpose}”的亮证：请对方选择正确的用途。"),
            NoPurposePolicy => "核验点未设置接受的用途：请先在核验设置中列出本机构的用途。".into(),
            EngagementMismatch => {
                "该亮证码不是针对本机出示的挑战码生成的（疑似转发）：请对方扫描本机的挑战码后重新出示。".into()
            }
            EngagementExpired => "本机的挑战码已过期：请刷新挑战码后让对方重新扫描。".into(),
            GrantExpired { .. } => "授权用证已过期：请联系持证人重新授权。".into(),
            GrantWrongRecipient { recipient } => format!("该授权是给“{recipient}”的，不是给本机构的：不可使用。"),
            GrantAlreadyUsed => "该授权为一次性授权，已经使用过。".into(),
            GrantRevoked => "持证人已撤回该授权。".into(),
            GrantTerms { what } => format!("授权条件不符合规定：{what}"),
            GrantRecipientProof => "出示者无法证明自己是被授权人（密钥签名不符）：不可使用该授权。".into(),
        }
    }

    pub fn message_en(&self) -> String {
        use WalletError::*;
        match self {
            TooLong { len, max } => {
                format!("Code too long ({len} characters, at most {max}): not a valid licence code.")
            }
            BadPrefix { expected } => {
                format!(
                    "Not a Zhangban licence code (must start with {expected}): scan the QR code on the holder's phone."
                )
            }
            BadEncoding => "The code is not valid base45: scan it again.".into(),
            BadCompression => "The code is incomplete or damaged: ask the holder to refresh it and scan again.".into(),
            Base45Overflow => "A base45 group of the code overflows: not a code any holder's app makes; refused.".into(),
            TrailingBytes { after, count } => {
                format!("{count} extra byte(s) after the {after} data: not a code any holder's app makes; refused.")
            }
            MissingCoseTag => "The signed structure lacks its COSE tag 18: not an issued licence; refused.".into(),
            ItemsOutOfOrder => {
                "The disclosed elements are not in ascending element order: not a code any holder's app makes; refused."
                    .into()
            }
            DuplicateItem { element } => format!("Element '{element}' is disclosed twice: refused."),
            NonCanonical { what } => {
                format!("The data is not in its one canonical encoding ({what}): not a code any holder's app makes; refused.")
            }
            NegativeWindow { .. } => {
                "The code's validity ends before it starts: not a code any holder's app makes; refused.".into()
            }
            StatusIndexOutOfRange { index, size } => format!(
                "The licence's status index {index} is beyond the status list ({size} entries), revocation cannot be checked: update the status list online and verify again."
            ),
            DeflateBomb { limit } => format!("The code inflates beyond {limit} bytes: refused as hostile."),
            CborTooDeep { limit } => format!("Data nested deeper than {limit} levels: refused as hostile."),
            CborTooLarge => "A length in the data is out of bounds: refused as hostile.".into(),
            Malformed { what } => {
                format!("Wrong structure ({what}): ask the holder to refresh the code and scan again.")
            }
            UnsupportedVersion { version } => format!("Unsupported format version {version}: update the app."),
            UnsupportedAlgorithm { alg } => format!("Unsupported algorithm ({alg}): update the app."),
            NoTrustList => "No issuer trust list on this device yet: go online once to download it.".into(),
            UnknownIssuerKey { kid } => {
                format!(
                    "Issuer key {kid} is not in the trust list: not trusted; update the trust list online and retry."
                )
            }
            IssuerKeyWithdrawn { kid } => {
                format!("Issuer key {kid} was withdrawn or is outside its validity: not trusted.")
            }
            IssuerNotAuthorised { kid } => format!("Issuer key {kid} may not issue this kind of licence: not trusted."),
            BadIssuerSignature => "The issuer's signature does not verify: forged or altered; do not accept it.".into(),
            BadListSignature { list } => {
                format!("The platform signature of the {list} does not verify: refused; download it again.")
            }
            ListRollback { list } => format!("The {list} is older than the one on this device: kept the newer one."),
            StatusListMismatch { expected, found } => format!(
                "The status list received is signed as shard {found}, not the shard {expected} asked for: refused; download it again."
            ),
            InvalidIdentifier { field, en, .. } => format!("{field}: {en}"),
            UnknownLicenceType { code } => format!(
                "Licence type code {code} is well formed but this app does not know that kind of licence: update the app and try again."
            ),
            InvalidElement { field } => {
                format!("Licence element '{field}' is missing or of the wrong type: ask the issuer to reissue it.")
            }
            NotYetValid { .. } => "The licence is not valid yet: use it from its start date.".into(),
            Expired { .. } => "The licence has expired: apply to the issuer for a renewal.".into(),
            Revoked => "The issuer revoked this licence: do not accept it.".into(),
            StatusUnknown => "No status list on this device, revocation cannot be checked: go online once.".into(),
            StatusStale { age_secs, max_secs } => format!(
                "The status list is {} h old (at most {} h allowed): go online to update it, then verify again.",
                age_secs / 3600,
                max_secs / 3600
            ),
            TrustStale { age_secs, max_secs } => format!(
                "The issuer trust list is {} h old (at most {} h allowed), so a withdrawn issuer key cannot be ruled \
                 out: go online to update it, then verify again.",
                age_secs / 3600,
                max_secs / 3600
            ),
            DeviceKeyMismatch => "This licence is bound to another device: request it again on this phone.".into(),
            WindowTooLong { secs } => format!("The code is valid for {secs} s (at most 60 s): refused."),
            WindowNotYetValid { .. } => "The code is not valid yet: check both phones' clocks.".into(),
            WindowExpired { .. } => {
                "The code has expired (maybe a screenshot): ask the holder to refresh it and scan again.".into()
            }
            Replay => "This code was already scanned (a replay): ask the holder to refresh it.".into(),
            BadDeviceSignature => {
                "The device signature does not verify: the code was not made on the holder's phone.".into()
            }
            DigestMismatch { element } => {
                format!(
                    "Disclosed element '{element}' does not match the issuer's signature: altered; do not accept it."
                )
            }
            PurposeNotAccepted { purpose } => {
                format!("This verifier does not accept purpose '{purpose}': ask the holder to choose the right one.")
            }
            NoPurposePolicy => {
                "This verifier accepts no purpose yet: list your purposes in the verifier settings.".into()
            }
            EngagementMismatch => {
                "This code does not answer this device's challenge (it may be relayed): ask the holder \
                                   to scan this device's challenge and show a new code."
                    .into()
            }
            EngagementExpired => {
                "This device's challenge has expired: show a new one and ask the holder to scan it.".into()
            }
            GrantExpired { .. } => "The grant has expired: ask the holder for a new one.".into(),
            GrantWrongRecipient { recipient } => {
                format!("This grant is for '{recipient}', not for you: do not use it.")
            }
            GrantAlreadyUsed => "This single-use grant was already used.".into(),
            GrantRevoked => "The holder withdrew this grant.".into(),
            GrantTerms { what } => format!("Grant terms not allowed: {what}"),
            GrantRecipientProof => {
                "Whoever presents this grant could not prove they hold the recipient's key: do not use it.".into()
            }
        }
    }
}

impl fmt::Display for WalletError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.code(), self.message_en())
    }
}

impl std::error::Error for WalletError {}

/// Into the core error: `Error::Licence` carries `"<code>: <zh> / <en>"` so the code survives the FFI.
impl From<WalletError> for crate::Error {
    fn from(e: WalletError) -> Self {
        crate::Error::Licence(format!("{}: {} / {}", e.code(), e.message_zh(), e.message_en()))
    }
}

pub type WResult<T> = std::result::Result<T, WalletError>;

pub(crate) fn malformed(what: impl Into<String>) -> WalletError {
    WalletError::Malformed { what: what.into() }
}
