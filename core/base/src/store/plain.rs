//! Plain access: what a call outside agent mode may reach. The shells' plain exports (the store's
//! attachments; profiles, checklists, drafts and cases through the forms and cases crates) reach the owner
//! and the family members, never an agent's principal: a principal's data is reached only in agent mode
//! (`zhangban-agent`), which checks the delegation (its scope and validity) and audits each access. A plain
//! call given a principal's subject, or the id of one of their attachments, is
//! `PermissionDenied{missing: "delegation"}` (issue 10, the attack tests in
//! `tests/python/test_ffi_attacks.py`).

use std::path::Path;

use rusqlite::OptionalExtension;

use super::{AttachmentInfo, Store, SubjectKind};
use crate::{Error, Result};

/// A store as a plain call sees it ([`Store::plain`]): attachments of every subject but a principal.
pub struct Plain<'a>(&'a Store);

impl Store {
    /// Refuses `subject` to a call outside agent mode when it is an agent's principal
    /// (`PermissionDenied{missing: "delegation"}`; `Shredded` once erased). A subject the store does not know passes: there is
    /// nothing of it to protect, and the call it guards answers as it did.
    pub fn plain_access(&self, subject: &str) -> Result<()> {
        let kind = match self.subject_kind(subject) {
            Err(Error::NotFound { .. }) => return Ok(()),
            other => other?,
        };
        if kind == SubjectKind::Principal {
            // An erased principal says so (`Shredded`): nothing of them is left to refuse.
            self.read(|conn, u| super::subject_key(conn, u, subject))?;
            return Err(Error::permission_denied(
                "delegation",
                "委托人的资料只能在代办模式下、凭有效的授权委托查看和使用",
                "a principal's data is reached only in agent mode, under an active delegation",
            ));
        }
        Ok(())
    }

    /// This store's attachments as a plain call sees them (a principal's are refused).
    pub fn plain(&self) -> Plain<'_> {
        Plain(self)
    }
}

impl Plain<'_> {
    /// [`Store::write_attachment`] for a subject that is not a principal.
    pub fn write_attachment(
        &self,
        subject: &str,
        name: &str,
        reader: &mut dyn std::io::Read,
    ) -> Result<AttachmentInfo> {
        self.0.plain_access(subject)?;
        self.0.write_attachment(subject, name, reader)
    }

    /// [`Store::write_attachment_from_path`] for a subject that is not a principal.
    pub fn write_attachment_from_path(&self, subject: &str, name: &str, path: &Path) -> Result<AttachmentInfo> {
        self.0.plain_access(subject)?;
        self.0.write_attachment_from_path(subject, name, path)
    }

    /// [`Store::attachment_info`] of an attachment that is not a principal's.
    pub fn attachment_info(&self, id: &str) -> Result<AttachmentInfo> {
        let info = self.0.attachment_info(id)?;
        self.0.plain_access(&info.subject)?;
        Ok(info)
    }

    /// [`Store::read_attachment_to_vec`] of an attachment that is not a principal's.
    pub fn read_attachment_to_vec(&self, id: &str) -> Result<Vec<u8>> {
        self.attachment_info(id)?;
        self.0.read_attachment_to_vec(id)
    }

    /// [`Store::read_attachment_to_path`] of an attachment that is not a principal's (no file appears
    /// when refused).
    pub fn read_attachment_to_path(&self, id: &str, path: &Path) -> Result<u64> {
        self.attachment_info(id)?;
        self.0.read_attachment_to_path(id, path)
    }

    /// [`Store::delete_attachment`] of an attachment that is not a principal's (an id that names none
    /// deletes nothing, as there).
    pub fn delete_attachment(&self, id: &str) -> Result<()> {
        let subject: Option<String> = self.0.read(|conn, _| {
            Ok(conn
                .prepare_cached("SELECT subject FROM attachments WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?)
        })?;
        if let Some(s) = subject {
            self.0.plain_access(&s)?;
        }
        self.0.delete_attachment(id)
    }
}
