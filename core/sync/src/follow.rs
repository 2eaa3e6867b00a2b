//! Following a case by its receipt (凭回执查询): `follow(receipt, ID number or credit code, query code)`
//! asks the platform; the case joins the list with its timeline and deadlines (`cases::insert_followed`),
//! and from then on its events arrive with the phone's own (`GET /v1/events`), so reminders apply too.

use serde_json::json;

use super::PlatformClient;
use crate::cases::{insert_followed, Case, FollowedView};
use crate::store::Store;
use crate::{Error, Result};

/// Checks the three parts of a receipt before asking the platform; each error names its field.
pub fn check_follow_input(receipt: &str, applicant_id: &str, query_code: &str, today: chrono::NaiveDate) -> Result<()> {
    let receipt = receipt.trim();
    if receipt.is_empty() || receipt.len() > 32 || !receipt.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::validation(
            "receipt",
            "受理回执号应为回执上印的字母和数字",
            "the receipt number is the letters and digits printed on the receipt",
        ));
    }
    let id = applicant_id.trim().to_ascii_uppercase();
    let is_person = zhangban_base::ids::validate_id_number(&id, today).is_ok();
    if !is_person && zhangban_base::ids::validate_uscc(&id).is_err() {
        return Err(Error::validation(
            "applicant_id",
            "证件号码有误：请填写申请人的身份证号码或统一社会信用代码",
            "not a valid resident ID number or unified social credit code of the applicant",
        ));
    }
    let code = query_code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::validation(
            "query_code",
            "查询码为回执上的 6 位数字",
            "the query code is the 6 digits on the receipt",
        ));
    }
    Ok(())
}

impl PlatformClient {
    /// Follows the case of a receipt: asks the platform and adds the case (for `subject`) to the list.
    pub async fn follow_case(
        &self,
        store: &Store,
        subject: &str,
        receipt: &str,
        applicant_id: &str,
        query_code: &str,
    ) -> Result<Case> {
        check_follow_input(receipt, applicant_id, query_code, store.today())?;
        let token = super::registration(store)?.map(|r| r.token).ok_or_else(|| {
            Error::validation(
                "device",
                "本机尚未在平台注册：请先联网注册",
                "register this phone with the platform first",
            )
        })?;
        let body = json!({
            "receipt": receipt.trim(),
            "applicant_id": applicant_id.trim().to_ascii_uppercase(),
            "query_code": query_code.trim(),
        });
        let view: FollowedView = self.post_json("/v1/cases/follow", &body, Some(&token), None).await?;
        insert_followed(store, subject, &view)
    }
}
