//! What can go wrong with a recovery code, a backup file or a restore: typed, each with what to do, in
//! Chinese and English. A store error met on the way keeps its own type and wording.

use zhangban_base::Error;

#[derive(Debug)]
pub enum BackupError {
    /// The recovery code has the wrong length or a character that is not in its alphabet.
    CodeFormat { position: u32 },
    /// The check character does not match: a typo in the written-down code (caught before the slow KDF).
    CodeTypo,
    /// The code is well-formed but does not open this backup (checked after the KDF).
    WrongCode,
    /// No recovery code was made on this phone yet: a backup needs one.
    NoRecoveryCode,
    /// The file is not a Zhangban backup (another file, or its start is damaged).
    NotABackup,
    /// A backup of a newer format than this app reads.
    UnsupportedVersion { version: u32 },
    /// The file ends before the backup does (an interrupted copy or upload).
    Truncated,
    /// Part of the file does not authenticate: altered, damaged, chunks reordered or from another backup.
    Damaged { part: String },
    /// The folder to restore into already holds a store.
    TargetExists,
    /// An increment without the full backup it builds on (first in a restore, or alone on the platform).
    MissingBase,
    /// Increments between `after` and `found` (their chain indices) are missing.
    IncrementMissing { after: u32, found: u32 },
    /// File `position` (1-based) does not build on the file before it: out of order, or from another chain.
    ChainOrder { position: u32 },
    /// The backup is older than one this phone already made or restored (`known` > `got`, generations):
    /// whoever served it (the platform, the network) rolled the backup back.
    OlderBackup { known: u64, got: u64 },
    /// The local store (or file system) failed; its own error says why.
    Store(Error),
}

impl std::fmt::Display for BackupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message_en())
    }
}

impl std::error::Error for BackupError {}

impl From<Error> for BackupError {
    fn from(e: Error) -> Self {
        BackupError::Store(e)
    }
}

impl From<std::io::Error> for BackupError {
    fn from(e: std::io::Error) -> Self {
        BackupError::Store(Error::from(e))
    }
}

impl BackupError {
    pub(crate) fn damaged(part: impl Into<String>) -> Self {
        BackupError::Damaged { part: part.into() }
    }

    /// A short stable code for the kind of error (for the shells' logic and for tests).
    pub fn code(&self) -> &'static str {
        match self {
            BackupError::CodeFormat { .. } => "code_format",
            BackupError::CodeTypo => "code_typo",
            BackupError::WrongCode => "wrong_code",
            BackupError::NoRecoveryCode => "no_recovery_code",
            BackupError::NotABackup => "not_a_backup",
            BackupError::UnsupportedVersion { .. } => "unsupported_version",
            BackupError::Truncated => "truncated",
            BackupError::Damaged { .. } => "damaged",
            BackupError::TargetExists => "target_exists",
            BackupError::MissingBase => "missing_base",
            BackupError::IncrementMissing { .. } => "increment_missing",
            BackupError::ChainOrder { .. } => "chain_order",
            BackupError::OlderBackup { .. } => "older_backup",
            BackupError::Store(_) => "store",
        }
    }

    /// What happened and what to do, in Chinese.
    pub fn message_zh(&self) -> String {
        match self {
            BackupError::CodeFormat { position } => {
                format!("恢复码格式不对（第 {position} 个字符）：恢复码为 25 个字符，分 5 组，只含数字和字母。")
            }
            BackupError::CodeTypo => "恢复码有抄写错误（校验位不符）：请逐组核对纸上的恢复码。".into(),
            BackupError::WrongCode => {
                "恢复码与此备份不匹配：请确认是为这份备份生成的恢复码（换过恢复码时，旧备份仍用旧码）。".into()
            }
            BackupError::NoRecoveryCode => "尚未生成恢复码：请先生成并抄下恢复码，再备份。".into(),
            BackupError::NotABackup => "这不是掌办的备份文件：请选择备份时保存的文件。".into(),
            BackupError::UnsupportedVersion { version } => {
                format!("备份文件版本 {version} 过新：请先更新应用再恢复。")
            }
            BackupError::Truncated => {
                "备份文件不完整（可能复制或上传中断）：请重新复制完整的文件，未恢复任何数据。".into()
            }
            BackupError::Damaged { part } => {
                format!("备份文件已损坏或被改动（{part}）：未恢复任何数据，请使用另一份备份。")
            }
            BackupError::TargetExists => "此处已有数据：恢复只能在新的空白位置进行。".into(),
            BackupError::MissingBase => {
                "这是增量备份，缺少它所依据的完整备份：请先选择完整备份，再按时间顺序选择其后的增量。".into()
            }
            BackupError::IncrementMissing { after, found } => format!(
                "缺少增量备份：第 {after} 个之后应是第 {} 个，却是第 {found} 个。请补上缺少的增量文件，未恢复任何数据。",
                after + 1
            ),
            BackupError::ChainOrder { position } => format!(
                "第 {position} 个备份文件不接续前一个（顺序不对，或属于另一组备份）：请按生成时间顺序选择，完整备份在前。未恢复任何数据。"
            ),
            BackupError::OlderBackup { known, got } => format!(
                "这份备份（第 {got} 版）比已知最新的一份（第 {known} 版，本机或平台记录）旧，可能被回滚：已拒绝。请改用最新的备份文件。"
            ),
            BackupError::Store(e) => e.message_zh(),
        }
    }

    /// What happened and what to do, in English.
    pub fn message_en(&self) -> String {
        match self {
            BackupError::CodeFormat { position } => format!(
                "The recovery code is not well-formed (character {position}): it has 25 letters and digits in 5 groups."
            ),
            BackupError::CodeTypo => {
                "The recovery code has a typo (its check character does not match): compare it group by group with the paper.".into()
            }
            BackupError::WrongCode => "The recovery code does not open this backup: use the code made for it (after a code change, older backups keep the old code).".into(),
            BackupError::NoRecoveryCode => "No recovery code yet: make one and write it down, then back up.".into(),
            BackupError::NotABackup => "This is not a Zhangban backup file: choose the file the backup saved.".into(),
            BackupError::UnsupportedVersion { version } => {
                format!("The backup file's version {version} is newer than this app: update the app, then restore.")
            }
            BackupError::Truncated => "The backup file is incomplete (an interrupted copy or upload): copy the whole file again. Nothing was restored.".into(),
            BackupError::Damaged { part } => {
                format!("The backup file is damaged or was altered ({part}): nothing was restored; use another backup.")
            }
            BackupError::TargetExists => "There is data here already: a restore needs a new, empty place.".into(),
            BackupError::MissingBase => "This is an incremental backup without the full backup it builds on: choose the full backup first, then the increments after it in the order they were made.".into(),
            BackupError::IncrementMissing { after, found } => format!(
                "An incremental backup is missing: after increment {after} comes increment {found}, not {}. Add the missing files; nothing was restored.",
                after + 1
            ),
            BackupError::ChainOrder { position } => format!(
                "Backup file {position} does not follow the file before it (out of order, or from another set of backups): choose them in the order they were made, the full backup first. Nothing was restored."
            ),
            BackupError::OlderBackup { known, got } => format!(
                "This backup (generation {got}) is older than the latest one known (generation {known}, on this phone or reported to the platform): it may have been rolled back, and was refused. Use the latest backup file."
            ),
            BackupError::Store(e) => e.message_en(),
        }
    }
}
