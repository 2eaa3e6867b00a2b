//! What the one sort of the core costs against the standard one (ADR 0037), measured in one run:
//! `cargo run --release -p zhangban-base --features sandbox-trust --example sort_cost`.
//!
//! Lists shaped like the 待办 home's reminders (urgency, due day, id), sorted with the same comparison by
//! `slice::sort_by` and by `zhangban_base::sort::sort_by`, the two alternated round by round; medians of the
//! rounds and the median of the paired ratios, for 200, 5,000 (an agent's phone) and 50,000 elements.

use std::cmp::Ordering;
use std::time::Instant;

#[derive(Clone)]
struct Need {
    urgency: u8,
    due: i64,
    id: String,
}

fn by_urgency(a: &Need, b: &Need) -> Ordering {
    b.urgency.cmp(&a.urgency).then(a.due.cmp(&b.due)).then(a.id.cmp(&b.id))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    const ROUNDS: usize = 61;
    for n in [200usize, 5_000, 50_000] {
        let mut x: u64 = 12_345;
        let list: Vec<Need> = (0..n)
            .map(|i| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let id = format!("case-{:06}", (x >> 8) % 100_000 + i as u64);
                Need { urgency: (x >> 60) as u8 % 4, due: ((x >> 20) % 400) as i64, id }
            })
            .collect();
        let (mut std_us, mut ours_us) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            for ours in [round % 2 == 0, round % 2 == 1] {
                let mut v = list.clone();
                let t = Instant::now();
                if ours {
                    zhangban_base::sort::sort_by(&mut v, by_urgency);
                } else {
                    v.sort_by(by_urgency);
                }
                let us = t.elapsed().as_secs_f64() * 1e6;
                std::hint::black_box(&v);
                if ours {
                    ours_us.push(us)
                } else {
                    std_us.push(us)
                }
            }
        }
        let ratios: Vec<f64> = ours_us.iter().zip(&std_us).map(|(o, s)| o / s).collect();
        println!(
            "n = {n:>6}: slice::sort_by {:>9.1} µs, zhangban_base::sort::sort_by {:>9.1} µs (medians of {ROUNDS}), \
             median ratio {:.2}",
            median(std_us),
            median(ours_us),
            median(ratios)
        );
    }
}
