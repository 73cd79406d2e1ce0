//! Micro-benchmarks (divan) of the per-person engine and of ID parsing, on the bundled
//! sample (400 people × 30 months):
//!
//!     cargo bench --bench engine

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use ledgerflow::commands::{self, Prepared, Progress, Timings};
use ledgerflow::config::RuleSet;
use ledgerflow::domain::Month;
use ledgerflow::engine::{self, Batch};
use ledgerflow::id::PersonId;
use std::path::Path;
use std::sync::OnceLock;

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
        let mut loaded = commands::load(
            Path::new(SAMPLE),
            None,
            false,
            &Progress::new(true),
            &mut Timings::default(),
        )
        .unwrap_or_else(|e| panic!("loading the sample: {e}"));
        let prep = commands::prepare(&mut loaded.inputs);
        let ids = prep.persons.iter().map(|p| p.person.to_string()).collect();
        Sample {
            prep,
            rules: loaded.rules,
            ids,
        }
    })
}

fn main() {
    divan::main();
}

/// One person as of 2025-06, all rules (employee family, resident years, special
/// groups, findings), rows appended to a reused batch.
#[divan::bench]
fn evaluate_person(bencher: Bencher) {
    let s = sample();
    let resolver = s.rules.resolver(&s.prep.regions);
    bencher
        .counter(ItemsCount::new(s.prep.persons.len()))
        .bench_local(|| {
            let mut batch = Batch::default();
            for slot in &s.prep.persons {
                engine::evaluate_person(&s.prep.input(slot), &resolver, AS_OF, &mut batch);
            }
            black_box(batch.months.len())
        });
}

/// The same people through `commands::evaluate`: rayon over person chunks.
#[divan::bench]
fn evaluate_parallel(bencher: Bencher) {
    let s = sample();
    let resolver = s.rules.resolver(&s.prep.regions);
    bencher
        .counter(ItemsCount::new(s.prep.persons.len()))
        .bench_local(|| black_box(commands::evaluate(&s.prep, &resolver, AS_OF).months.len()));
}

/// GB 11643 parsing with the check digit.
#[divan::bench]
fn person_id_parse(bencher: Bencher) {
    let ids = &sample().ids;
    bencher.counter(ItemsCount::new(ids.len())).bench_local(|| {
        ids.iter()
            .filter(|s| PersonId::parse(black_box(s)).is_ok())
            .count()
    });
}
