//! Journey demo chapter: forms (find a service, the checklist, the form).
//!
//! Owner: the forms issue. NOT WRITTEN YET: this chapter is a no-op that returns Ok, so the journey runs
//! end to end while it is being built. Fill it in: start with
//! `j.chapter("forms", "找事项、一次性告知与填表", "Find a service, the checklist, the form")`, act through `j.client` / `j.store`
//! (and `j.platform` for clerk-side actions), and record each result with `j.step` / `j.check`.

use super::{DemoResult, Journey};

pub async fn run(j: &mut Journey) -> DemoResult {
    let _ = j;
    Ok(())
}
