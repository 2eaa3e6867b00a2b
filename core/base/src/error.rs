//! The core's error type. Every variant a person can meet carries a message in Chinese and English
//! (`message_zh`, `message_en`) that says what happened and what to do. `bindings/` maps these, in one
//! place, onto the small public error enum of the FFI.

use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store is locked (by the user, or after too many wrong PINs). `retry_after_secs` is 0 when a
    /// correct PIN may be entered at once.
    #[error("store locked; retry after {retry_after_secs} s")]
    Locked { retry_after_secs: u64 },
    /// The key the vault returned (or the PIN) does not open this store.
    #[error("wrong key for this store")]
    WrongKey,
    /// A wrong PIN; `attempts_left` before a lockout delay starts.
    #[error("wrong PIN; {attempts_left} attempts left before a delay")]
    WrongPin { attempts_left: u32 },
    #[error("not found: {what}")]
    NotFound { what: String },
    /// Input that breaks a rule; `field` names where (a form path, a parameter), when known.
    #[error("invalid {field}: {message_en}")]
    Validation { field: String, message_zh: String, message_en: String },
    /// Stored data failed its integrity check. Other records stay readable.
    #[error("corrupted data in {table} record {record}")]
    Corrupted { table: String, record: String },
    /// The record belongs to a subject whose key was deleted (crypto-shredded).
    #[error("subject {subject} was erased")]
    Shredded { subject: String },
    /// The store's files are an older copy put back in place of the current ones (the vault destroyed the
    /// key of the epoch they name): refused, so that no restore undoes a PIN count, a used grant or a list.
    #[error("the store's files were replaced by an older copy")]
    RolledBack,
    /// The platform vault keeps the store's key behind the person's own authentication (fingerprint, face,
    /// the screen lock: finding 6) and it was not given recently: ask for it, then try again.
    #[error("the key vault needs the user to authenticate")]
    NeedsUserAuthentication,
    /// An agent acted for a principal without an active delegation that covers the action (out of
    /// scope, expired, revoked, another principal's). `missing` is a stable code of what is missing
    /// (`delegation`, `action:submit`, `item:GA-002`, `validity`, `revoked`, `used`, `certificate`);
    /// the messages name it for a person. Every such attempt is in the audit log (`agent.access`).
    #[error("permission denied ({missing}): {message_en}")]
    PermissionDenied { missing: String, message_zh: String, message_en: String },
    /// The platform (or network) could not be reached; the operation may be retried later.
    #[error("network: {0}")]
    Network(String),
    /// The platform refused a request; retrying the same request will not help.
    #[error("platform refused ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// A typed rejection from the wallet (licence or presentation checks).
    #[error("licence check failed: {0}")]
    Licence(String),
    /// The device key held by the platform (Android Keystore / StrongBox, iOS Secure Enclave) could not sign
    /// now (the key was invalidated, the hardware is busy, the prompt was cancelled); nothing was signed.
    #[error("device key unavailable: {0}")]
    DeviceKeyUnavailable(String),
    #[error("storage: {0}")]
    Storage(String),
    #[error("io: {0}")]
    Io(String),
    /// A bug or an impossible state; the message is for developers.
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    pub fn validation(field: impl Into<String>, zh: impl Into<String>, en: impl Into<String>) -> Self {
        Error::Validation { field: field.into(), message_zh: zh.into(), message_en: en.into() }
    }
    pub fn permission_denied(missing: impl Into<String>, zh: impl Into<String>, en: impl Into<String>) -> Self {
        Error::PermissionDenied { missing: missing.into(), message_zh: zh.into(), message_en: en.into() }
    }
    pub fn not_found(what: impl fmt::Display) -> Self {
        Error::NotFound { what: what.to_string() }
    }
    pub fn corrupted(table: impl Into<String>, record: impl fmt::Display) -> Self {
        Error::Corrupted { table: table.into(), record: record.to_string() }
    }

    /// What happened and what to do, for a person reading Chinese.
    pub fn message_zh(&self) -> String {
        match self {
            Error::Locked { retry_after_secs: 0 } => "已锁定：请输入 PIN 解锁。".into(),
            Error::Locked { retry_after_secs } => {
                format!("PIN 错误次数过多，已锁定：请在 {retry_after_secs} 秒后重试。")
            }
            Error::WrongKey => "密钥不正确，无法打开本地数据：请确认使用的是本机的钥匙串/密钥库。".into(),
            Error::WrongPin { attempts_left } => {
                format!("PIN 不正确：还可尝试 {attempts_left} 次，之后将需要等待。")
            }
            Error::NotFound { what } => format!("未找到：{what}。"),
            Error::Validation { field, message_zh, .. } => format!("{field}：{message_zh}"),
            Error::Corrupted { table, record } => {
                format!("数据已损坏（{table} / {record}）：其他记录不受影响，请从平台重新获取或删除该记录。")
            }
            Error::Shredded { subject } => format!("该委托人的数据已被清除（{subject}），无法再读取。"),
            Error::RolledBack => {
                "本机数据文件已被替换为较早的副本（可能遭到篡改），已拒绝打开：请勿继续使用，并联系客服或从备份恢复。"
                    .into()
            }
            Error::NeedsUserAuthentication => "需要先验证是您本人：请用指纹、面容或手机锁屏密码确认后重试。".into(),
            Error::PermissionDenied { message_zh, .. } => format!("无权代办：{message_zh}"),
            Error::Network(_) => "网络不可用：已保存在本机，联网后将自动提交。".into(),
            Error::Rejected { message, .. } => format!("平台拒绝了该请求：{message}。请修改后重新提交。"),
            Error::Licence(m) => format!("证照校验未通过：{m}"),
            Error::DeviceKeyUnavailable(_) => {
                "本机的设备密钥暂时无法签名：请解锁手机并确认是您本人后重试；若仍不行，请到“备份与换机”重新绑定本机。"
                    .into()
            }
            Error::Storage(_) | Error::Io(_) => "本地存储出错：请检查手机剩余空间后重试。".into(),
            Error::Internal(_) => "程序内部错误：请更新应用或联系客服。".into(),
        }
    }

    /// What happened and what to do, for a person reading English.
    pub fn message_en(&self) -> String {
        match self {
            Error::Locked { retry_after_secs: 0 } => "Locked: enter your PIN to unlock.".into(),
            Error::Locked { retry_after_secs } => {
                format!("Too many wrong PINs: try again in {retry_after_secs} s.")
            }
            Error::WrongKey => "Wrong key: this store cannot be opened with the key the device vault returned.".into(),
            Error::WrongPin { attempts_left: 1 } => "Wrong PIN: 1 attempt left before a waiting time.".into(),
            Error::WrongPin { attempts_left } => {
                format!("Wrong PIN: {attempts_left} attempts left before a waiting time.")
            }
            Error::NotFound { what } => format!("Not found: {what}."),
            Error::Validation { field, message_en, .. } => format!("{field}: {message_en}"),
            Error::Corrupted { table, record } => {
                format!("Damaged data ({table} / {record}): other records are fine; fetch it again or delete it.")
            }
            Error::Shredded { subject } => format!("This principal's data was erased ({subject})."),
            Error::RolledBack => "This phone's data files were replaced by an older copy (possible tampering), so \
                they were not opened: stop using them, and contact support or restore from your backup."
                .into(),
            Error::NeedsUserAuthentication => {
                "Confirm it is you first: use your fingerprint, face or the phone's screen lock, then try again.".into()
            }
            Error::PermissionDenied { message_en, .. } => format!("Not permitted for this principal: {message_en}"),
            Error::Network(_) => "No network: saved on the phone, it will be sent when online.".into(),
            Error::Rejected { message, .. } => {
                format!("The platform refused the request: {message}. Change it and submit again.")
            }
            Error::Licence(m) => format!("Licence check failed: {m}"),
            Error::DeviceKeyUnavailable(_) => "This phone's device key cannot sign right now: unlock the phone and \
                confirm it is you, then try again; if it still fails, bind this phone again under Backup and move."
                .into(),
            Error::Storage(_) | Error::Io(_) => {
                "Local storage error: check free space on the phone and try again.".into()
            }
            Error::Internal(_) => "Internal error: please update the app or contact support.".into(),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::QueryReturnedNoRows => Error::not_found("record"),
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(f.code, rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) =>
            {
                Error::corrupted("database", "file")
            }
            // The schema the migrations made is fixed, so a table or column that is not there means the
            // schema itself was damaged on disk.
            rusqlite::Error::SqliteFailure(_, Some(m)) | rusqlite::Error::SqlInputError { msg: m, .. }
                if m.starts_with("no such table")
                    || m.starts_with("no such column")
                    || m.contains("malformed database schema")
                    // The header's schema format number or file format bytes changed (the byte-flip test:
                    // open said `Storage`): every file this code writes has the format SQLite wrote.
                    || m.contains("unsupported file format") =>
            {
                Error::corrupted("schema", m.chars().take(120).collect::<String>())
            }
            // A column that no longer reads as what was stored (text that is not UTF-8, a blob where an
            // integer was): the row was damaged.
            rusqlite::Error::Utf8Error(..)
            | rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => Error::corrupted("database", "row"),
            _ => Error::Storage(e.to_string()),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(format!("json: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn one_attempt_left_is_said_in_the_singular() {
        assert_eq!(
            Error::WrongPin { attempts_left: 1 }.message_en(),
            "Wrong PIN: 1 attempt left before a waiting time."
        );
        assert_eq!(
            Error::WrongPin { attempts_left: 3 }.message_en(),
            "Wrong PIN: 3 attempts left before a waiting time."
        );
    }
}
