//! A shard's bucket of a partition as the run engine's input source ([`ShardRead`])
//! and the share of the rejects it writes for `merge-manifests`.

use super::files::*;
use super::merge::*;
use super::*;
/// A shard's bucket of a partition, as the run engine's input source: one part
/// ([`ShardRead::load`]), then the shard's share of the rejects ([`ShardRead::finish`]),
/// written for `merge-manifests` before the shard's manifest ([`ShardRead::write_share`]).
pub struct ShardRead {
    pub(super) root: PathBuf,
    pub(super) shard: Shard,
    pub(super) parts: Vec<(PathBuf, Meta)>,
    /// The ledger files (the first `n_ledger` input files).
    pub(super) n_ledger: usize,
    /// Until [`ShardRead::finish`].
    pub(super) buckets: Option<Buckets>,
    pub(super) rows_read: u64,
    /// After [`ShardRead::finish`]: the files with the share's counts and its rejects.
    pub(super) finished: Inputs,
    pub(super) share: Vec<(u32, Reject)>,
}

impl ShardRead {
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn file_parts(&self) -> u32 {
        self.parts.len() as u32
    }

    /// The input files (their counts are final only after [`ShardRead::finish`]).
    pub fn files(&self) -> &[InputFile] {
        match &self.buckets {
            Some(b) => b.files(),
            None => &self.finished.files,
        }
    }

    /// The buckets being read (`None` once finished).
    pub fn buckets(&self) -> Option<&Buckets> {
        self.buckets.as_ref()
    }

    /// The shard's accepted rows of every file part (rows ahead of the reference
    /// month and exact duplicates removed), its registry entries and claims; an error
    /// when the bucket files hold another number of rows than their file parts wrote.
    pub fn load(&mut self) -> Result<Inputs> {
        let shard = self.shard;
        let b = self
            .buckets
            .as_mut()
            .ok_or_else(|| Error::Internal("partition bucket read twice".into()))?;
        let (ledger, rows_read) = b.rows_of_all()?;
        let expected: u64 = self
            .parts
            .iter()
            .map(|(_, meta)| {
                meta.bucket_rows
                    .get(shard.index as usize)
                    .copied()
                    .unwrap_or(0)
            })
            .sum();
        if rows_read != expected {
            return Err(Error::input(
                &self.root,
                format!(
                    "bucket {} of the partition holds {rows_read} rows, its file parts wrote {expected}; re-run `ledgerflow partition`",
                    shard.index
                ),
            ));
        }
        self.rows_read = rows_read;
        Ok(Inputs {
            files: b.files().to_vec(),
            ledger,
            registry: b.registry.filtered(|p| shard.contains(p)),
            claims: b.claims.filtered(|p| shard.contains(p)),
            rejects: Vec::new(),
        })
    }

    /// The shard's share of the rejects once its bucket is loaded: the duplicates
    /// and rows ahead of its people, shard 0 also the registry's and claims' and the
    /// file parts' own; the per-file counts recounted from them.
    pub fn finish(&mut self) -> Result<&Inputs> {
        if let Some(b) = self.buckets.take() {
            let (mut files, own) = b.finish()?;
            let index: HashMap<String, u32> = files
                .iter()
                .enumerate()
                .map(|(i, f)| (f.path.clone(), i as u32))
                .collect();
            let (shard, n_ledger) = (self.shard, self.n_ledger);
            let mut share: Vec<(u32, Reject)> = own
                .into_iter()
                .map(|r| (index.get(&r.source_file).copied().unwrap_or(0), r))
                .filter(|(i, _)| shard.index == 0 || (*i as usize) < n_ledger)
                .collect();
            if shard.index == 0 {
                for (dir, _) in &self.parts {
                    share.extend(decode_rejects(&dir.join(REJECTS))?);
                }
            }
            share.sort_by_key(|(i, r)| (*i, r.line));
            recount(&mut files, share.iter().map(|(i, _)| *i));
            self.finished = Inputs {
                files,
                rejects: share.iter().map(|(_, r)| r.clone()).collect(),
                ..Inputs::default()
            };
            self.share = share;
        }
        Ok(&self.finished)
    }

    /// Writes the share (rows read, `future` rows per input file, the rejects) to
    /// `ROOT/shards/as_of=M/shard-K-of-N.bin`; returns what the shard's manifest
    /// records of the partition. Called after [`ShardRead::finish`], before the
    /// shard's manifest is written (a shard with a manifest has its share there).
    pub fn write_share(&self, as_of: Month, future: &[u64]) -> Result<manifest::PartitionRead> {
        if self.buckets.is_some() {
            return Err(Error::Internal("partition share before its rejects".into()));
        }
        let share = ShareFile {
            inputs_sha256: self
                .finished
                .files
                .iter()
                .map(|f| f.sha256.clone())
                .collect(),
            rows_read: self.rows_read,
            file_parts: self.file_parts(),
            future: future.to_vec(),
            rejects: self.share.clone(),
        };
        let path = share_path(&self.root, as_of, self.shard);
        store::write_file_atomically(&path, &encode_share(&share))?;
        Ok(manifest::PartitionRead {
            file_parts: self.file_parts(),
            rows_read: self.rows_read,
            rows_read_by_shard: Vec::new(),
        })
    }
}
