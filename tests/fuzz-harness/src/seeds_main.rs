//! `fuzz-seeds DIR`: writes every target's seeds to `DIR/<target>/seed-N` (the cargo-fuzz corpora).

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "tests/fuzz/corpus".into());
    for (name, _) in zhangban_fuzz_harness::TARGETS {
        let d = std::path::Path::new(&dir).join(name);
        std::fs::create_dir_all(&d)?;
        for (i, s) in zhangban_fuzz_harness::seeds::seeds(name).iter().enumerate() {
            std::fs::write(d.join(format!("seed-{i}")), s)?;
        }
        println!("{name}: {} seeds", zhangban_fuzz_harness::seeds::seeds(name).len());
    }
    Ok(())
}
