//! Journey demo chapter: cases (submit, follow, rate).
//!
//! Owner: the cases issue. NOT WRITTEN YET: this chapter is a no-op that returns Ok, so the journey runs
//! end to end while it is being built. Fill it in: start with
//! `j.chapter("cases", "提交办件、跟踪进度与评价", "Submit, follow, rate")`, act through `j.client` / `j.store`
//! (and `j.platform` for clerk-side actions), and record each result with `j.step` / `j.check`.

use super::{DemoResult, Journey};

pub async fn run(j: &mut Journey) -> DemoResult {
    let _ = j;
    Ok(())
}
