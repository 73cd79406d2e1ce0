//! The carried-forward results of `run --incremental`: the state of the last run of
//! the same `as_of`, rules and pipeline ([`crate::carry`]), the people whose input
//! rows changed since (the only ones evaluated), and the new state stored after the
//! snapshot is committed. Without a usable state everyone is evaluated. The tables
//! are the same bytes as a full run's either way.

use super::progress::Timings;
use crate::carry::{self, FilePeople, State};
use crate::config::{Pipeline, RuleSet};
use crate::domain::{Encoding, Month};
use crate::engine::Batch;
use crate::error::Result;
use crate::id::PersonId;
use crate::ledger::{InputKind, Inputs};
use crate::manifest::Incremental;
use crate::partition::Shard;
use crate::validate;
use std::path::PathBuf;

/// The carried results of one incremental run (see the module docs).
pub struct Carried {
    state_path: PathBuf,
    context: String,
    /// The people of each input file now (what the next run compares with).
    files: Vec<FilePeople>,
    /// The ledger cache (`…/_cache/ledger`).
    cache: PathBuf,
    encoding: Encoding,
    shard: Option<Shard>,
    /// The last state and the people touched since (sorted); `None`: no usable state.
    last: Option<(State, Vec<PersonId>)>,
    /// People evaluated and carried forward, for the manifest.
    pub counts: Incremental,
}

impl Carried {
    /// Reads the last state of this `as_of` and finds the people touched since.
    pub fn open(
        pipeline: &Pipeline,
        rules: &RuleSet,
        inputs: &Inputs,
        as_of: Month,
        shard: Option<Shard>,
        timings: &mut Timings,
    ) -> Result<Carried> {
        let cache_dir = crate::privacy::state_dirs(pipeline)?.cache;
        let state_path = carry::path(&cache_dir, shard);
        carry::clean_leftovers(&state_path);
        let claims_given = inputs.files.iter().any(|f| f.kind == InputKind::Claims);
        let context = carry::context(as_of, &pipeline.sha256, &rules.sha256, claims_given, shard);
        let (files, state) = timings.time("carry_forward_load", || {
            (
                carry::file_people(inputs),
                carry::State::load(&state_path, &context),
            )
        });
        let cache = cache_dir.join("ledger");
        let (encoding, sheet) = (pipeline.encoding, pipeline.sheet.as_deref());
        let touched = state.as_ref().and_then(|s| {
            timings.time("carry_forward_touched", || {
                carry::touched(&s.files, &files, |sha| {
                    carry::ledger_people(&cache, encoding, sheet, sha)
                })
            })
        });
        Ok(Carried {
            state_path,
            context,
            files,
            cache,
            encoding,
            shard,
            last: state.zip(touched),
            counts: Incremental::default(),
        })
    }

    /// Where the state is kept.
    pub fn state_path(&self) -> &std::path::Path {
        &self.state_path
    }

    /// The people to evaluate, sorted; `None`: everyone (no usable state).
    pub fn touched(&self) -> Option<&[PersonId]> {
        self.last.as_ref().map(|(_, t)| t.as_slice())
    }

    /// Everyone's results: `fresh` (the touched people's) merged with the carried
    /// ones; `None` when the state turns out damaged (then everyone is evaluated).
    /// `recomputed` is the number of people in `fresh`.
    pub fn merge(&mut self, fresh: Batch, recomputed: u64, timings: &mut Timings) -> Option<Batch> {
        let (state, touched) = self.last.as_ref()?;
        let (batch, carried) = timings.time("carry_forward", || state.merge(fresh, touched))?;
        self.counts = Incremental {
            people_recomputed: recomputed,
            people_carried_forward: carried,
        };
        Some(batch)
    }

    /// Records that everyone (`people`) was evaluated.
    pub fn evaluated_everyone(&mut self, people: u64) {
        self.last = None;
        self.counts = Incremental {
            people_recomputed: people,
            people_carried_forward: 0,
        };
    }

    /// After the commit: stores the new state; only now may the ledger cache forget
    /// the files of the previous one. Shards share the cache and each has its own
    /// state, so shard runs leave the cache alone.
    pub fn store(&self, batch: &Batch) -> Result<()> {
        carry::store(&self.state_path, &self.context, &self.files, batch)?;
        if self.shard.is_none() {
            let keep: Vec<&str> = self.files.iter().map(|f| f.sha256.as_str()).collect();
            validate::retain_cached(&self.cache, self.encoding, &keep)?;
        }
        Ok(())
    }
}
