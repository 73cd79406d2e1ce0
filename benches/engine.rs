//! Micro-benchmarks of the per-person engine and of ID parsing, on the bundled sample
//! (400 people × 30 months):
//!
//!     cargo bench --bench engine
//!
//! A small harness instead of a benchmark crate (a dev-dependency changes feature
//! unification, which rebuilt polars for `cargo run` after `cargo test`): each case
//! runs for about a second in 25 samples; the median per item is printed.

use ledgerflow::config::RuleSet;
use ledgerflow::domain::Month;
use ledgerflow::engine::{self, Batch};
use ledgerflow::id::PersonId;
use ledgerflow::run::prepare::{self, Prepared};
use ledgerflow::run::{Progress, Timings, load};
use std::hint::black_box;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/sample.toml");
const AS_OF: Month = Month(2025 * 12 + 5); // 2025-06

struct Sample {
    prep: Prepared,
    rules: RuleSet,
    ids: Vec<String>,
}

fn sample() -> &'static Sample {
    static SAMPLE_DATA: OnceLock<Sample> = OnceLock::new();
    SAMPLE_DATA.get_or_init(|| {
        let mut loaded = load::load(
            Path::new(SAMPLE),
            None,
            None,
            &Progress::new(true),
            &mut Timings::default(),
        )
        .unwrap_or_else(|e| panic!("loading the sample: {e}"));
        let prep = prepare::prepare(&mut loaded.inputs);
        let ids = prep.persons.iter().map(|p| p.person.to_string()).collect();
        Sample {
            prep,
            rules: loaded.rules,
            ids,
        }
    })
}

fn main() {
    // `cargo bench` passes `--bench`; a name filter may follow.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let s = sample();
    let resolver = s.rules.resolver(&s.prep.regions);
    let people = s.prep.persons.len();
    let cases: [(&str, usize, &dyn Fn() -> usize); 3] = [
        // One person as of 2025-06, all rules (employee family, resident years, special
        // groups, findings), rows appended to one batch per pass.
        ("evaluate_person", people, &|| {
            let mut batch = Batch::default();
            for slot in &s.prep.persons {
                engine::evaluate_person(&s.prep.input(slot), &resolver, AS_OF, &mut batch);
            }
            batch.months.len()
        }),
        // The same people through `run::prepare::evaluate`: rayon over person chunks.
        ("evaluate_parallel", people, &|| {
            prepare::evaluate(&s.prep, &resolver, AS_OF).months.len()
        }),
        // GB 11643 parsing with the check digit.
        ("person_id_parse", s.ids.len(), &|| {
            s.ids
                .iter()
                .filter(|id| PersonId::parse(black_box(id)).is_ok())
                .count()
        }),
    ];
    println!("{:<20} {:>14} {:>14}", "case", "median/item", "items/s");
    for (name, items, f) in cases {
        if filter.as_deref().is_some_and(|p| !name.contains(p)) {
            continue;
        }
        let per_item = median_per_item(items, f);
        println!(
            "{name:<20} {:>11.1} ns {:>14.0}",
            per_item * 1e9,
            1.0 / per_item
        );
    }
}

/// The median time per item (seconds) of 25 samples, each about 40 ms of passes.
fn median_per_item(items: usize, pass: &dyn Fn() -> usize) -> f64 {
    let t = Instant::now();
    black_box(pass());
    let once = t.elapsed().max(Duration::from_nanos(1));
    let passes = (Duration::from_millis(40).as_nanos() / once.as_nanos()).max(1) as u32;
    let mut samples: Vec<f64> = (0..25)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..passes {
                black_box(pass());
            }
            t.elapsed().as_secs_f64() / f64::from(passes) / items.max(1) as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}
