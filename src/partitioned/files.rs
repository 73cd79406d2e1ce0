//! The formats of a partition's files: `meta.json` of a file part, the rejects of a
//! file part (`rejects.bin`) and a shard's share for `merge-manifests`.

use super::*;
/// What one file part was made from and found (`meta.json`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(super) struct Meta {
    pub(super) format: u32,
    pub(super) build: String,
    pub(super) rules_sha256: String,
    pub(super) encoding: String,
    pub(super) sheet: Option<String>,
    pub(super) shards: u32,
    pub(super) file_part: u32,
    pub(super) file_parts: u32,
    /// Every ledger file of the pipeline, in input order.
    pub(super) all_files: Vec<String>,
    /// The index of this part's first file among `all_files`.
    pub(super) first_file: u32,
    pub(super) files: Vec<MetaFile>,
    /// The latest month this part's rows offer as the plausibility reference.
    pub(super) latest: Option<i32>,
    /// The (period, paid_on month) pairs of the spilled rows (the default as_of).
    pub(super) months: Vec<(i32, Option<i32>)>,
    /// Rows written to each bucket.
    pub(super) bucket_rows: Vec<u64>,
    pub(super) rejects: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(super) struct MetaFile {
    pub(super) path: String,
    pub(super) bytes: u64,
    pub(super) sha256: String,
    pub(super) rows_read: u64,
    pub(super) unknown_columns: Vec<String>,
}
/// Appends rejects with their file's index (count first).
pub(super) fn put_rejects(w: &mut Vec<u8>, rejects: &[(u32, &Reject)]) {
    binfmt::put_u64(w, rejects.len() as u64);
    for (file, r) in rejects {
        binfmt::put_u32(w, *file);
        binfmt::put_u64(w, r.line);
        binfmt::put_u8(w, r.column.is_some() as u8);
        binfmt::put_str(w, r.column.as_deref().unwrap_or(""));
        binfmt::put_str(w, r.error_type.as_str());
        binfmt::put_str(w, &r.source_file);
        binfmt::put_str(w, &r.message);
        binfmt::put_str(w, &r.raw);
    }
}

/// A file part's `rejects.bin`: the format, the rejects, a checksum.
pub(super) fn encode_rejects(rejects: &[(u32, &Reject)]) -> Vec<u8> {
    let mut w = Vec::new();
    binfmt::put_u32(&mut w, FORMAT);
    put_rejects(&mut w, rejects);
    binfmt::seal(&mut w);
    w
}

pub(super) fn read_rejects(r: &mut Reader) -> Option<Vec<(u32, Reject)>> {
    let n = r.u64()?;
    let mut out = Vec::new();
    for _ in 0..n {
        let file = r.u32()?;
        let line = r.u64()?;
        let has_column = r.flag()?;
        let column = r.string()?;
        let kind = r.string()?;
        let error_type = *RejectType::ALL.iter().find(|t| t.as_str() == kind)?;
        out.push((
            file,
            Reject {
                source_file: r.string()?,
                line,
                column: has_column.then_some(column),
                error_type,
                message: r.string()?,
                raw: r.string()?,
            },
        ));
    }
    Some(out)
}

pub(super) fn decode_rejects(path: &Path) -> Result<Vec<(u32, Reject)>> {
    let data = std::fs::read(path).map_err(|e| Error::input(path, format!("cannot read: {e}")))?;
    binfmt::unseal(&data)
        .and_then(|body| {
            let mut r = Reader::new(body);
            (r.u32()? == FORMAT).then_some(())?;
            let v = read_rejects(&mut r)?;
            r.done().then_some(v)
        })
        .ok_or_else(|| {
            Error::input(
                path,
                "damaged partition file; re-run `ledgerflow partition`",
            )
        })
}

/// A shard's share for `merge-manifests`: rows read, future rows per input file,
/// its rejects (with their file's index).
pub(super) struct ShareFile {
    pub(super) inputs_sha256: Vec<String>,
    pub(super) rows_read: u64,
    pub(super) file_parts: u32,
    pub(super) future: Vec<u64>,
    pub(super) rejects: Vec<(u32, Reject)>,
}

pub(super) fn encode_share(s: &ShareFile) -> Vec<u8> {
    let mut w = Vec::new();
    binfmt::put_u32(&mut w, FORMAT);
    binfmt::put_u32(&mut w, s.inputs_sha256.len() as u32);
    for h in &s.inputs_sha256 {
        binfmt::put_str(&mut w, h);
    }
    binfmt::put_u64(&mut w, s.rows_read);
    binfmt::put_u32(&mut w, s.file_parts);
    binfmt::put_u32(&mut w, s.future.len() as u32);
    for f in &s.future {
        binfmt::put_u64(&mut w, *f);
    }
    let refs: Vec<(u32, &Reject)> = s.rejects.iter().map(|(i, r)| (*i, r)).collect();
    put_rejects(&mut w, &refs);
    binfmt::seal(&mut w);
    w
}

pub(super) fn decode_share(path: &Path) -> Result<ShareFile> {
    let data = std::fs::read(path).map_err(|e| Error::input(path, format!("cannot read: {e}")))?;
    binfmt::unseal(&data)
        .and_then(|body| {
            let mut r = Reader::new(body);
            (r.u32()? == FORMAT).then_some(())?;
            let n = r.u32()?;
            let inputs_sha256 = (0..n).map(|_| r.string()).collect::<Option<Vec<_>>>()?;
            let rows_read = r.u64()?;
            let file_parts = r.u32()?;
            let n = r.u32()?;
            let future = (0..n).map(|_| r.u64()).collect::<Option<Vec<_>>>()?;
            let rejects = read_rejects(&mut r)?;
            r.done().then_some(ShareFile {
                inputs_sha256,
                rows_read,
                file_parts,
                future,
                rejects,
            })
        })
        .ok_or_else(|| Error::input(path, "damaged shard file; re-run this shard"))
}
