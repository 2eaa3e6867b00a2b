//! Journey demo chapter: wallet (e-licences: receive and present).
//!
//! Owner: the wallet issue. NOT WRITTEN YET: this chapter is a no-op that returns Ok, so the journey runs
//! end to end while it is being built. Fill it in: start with
//! `j.chapter("wallet", "电子证照：领证与亮证", "E-licences: receive and present")`, act through `j.client` / `j.store`
//! (and `j.platform` for clerk-side actions), and record each result with `j.step` / `j.check`.

use super::{DemoResult, Journey};

pub async fn run(j: &mut Journey) -> DemoResult {
    let _ = j;
    Ok(())
}
