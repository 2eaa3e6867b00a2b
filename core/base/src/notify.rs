//! Events raised to the shells (a foreign listener trait in `bindings/`), so they can show a
//! notification: a receipt arrived, a case changed state, a supplement is requested, a licence was
//! issued, a submission was refused.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The platform accepted a submission and returned its receipt number.
    Receipt,
    /// The case moved to another state (accepted, suspended, approved…).
    StateChanged,
    /// The platform asks for more material (补正) by a due date.
    SupplementRequested,
    /// A licence resulting from the case was issued.
    LicenceIssued,
    /// The platform refused an outgoing request; it needs the person's attention.
    Refused,
}

/// One notification, with the text to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Notice {
    pub kind: NoticeKind,
    /// The local case id.
    pub case_id: String,
    /// Whose case: `self`, or the subject id of a principal (an agent's phone) or a family member. On an
    /// agent's phone the title of a principal's notice begins with their name (`【李秀英】…`), so that a
    /// notification never leaves unsaid whose case it is.
    pub subject: String,
    /// The case state after the event (snake_case name).
    pub state: String,
    pub title_zh: String,
    pub title_en: String,
    pub body_zh: String,
    pub body_en: String,
    /// Unix seconds.
    pub at: i64,
}

/// Implemented by the shells (through the FFI) and by tests. Called after the change is stored, from
/// the sync task: keep it quick (post a notification, wake a screen).
pub trait Listener: Send + Sync {
    fn on_notice(&self, notice: Notice);
}

/// A listener that ignores everything.
pub struct NoListener;

impl Listener for NoListener {
    fn on_notice(&self, _notice: Notice) {}
}

/// A listener that keeps what it is told (tests, the demo).
#[derive(Default)]
pub struct Recorder {
    notices: Mutex<Vec<Notice>>,
}

impl Recorder {
    pub fn notices(&self) -> Vec<Notice> {
        self.notices.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

impl Listener for Recorder {
    fn on_notice(&self, notice: Notice) {
        if let Ok(mut g) = self.notices.lock() {
            g.push(notice);
        }
    }
}
