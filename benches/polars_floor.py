"""The floor of the pipeline bench (issue 15): the current Python polars reading the
ledger files and writing zstd Parquet of our output shapes -- a row per input row
(person_month) and a row per person (person_status) -- with no parsing and no logic,
on its streaming engine (`sink_parquet`).

    python polars_floor.py 'LEDGER/*.parquet' OUT PERSONS
"""

import sys

import polars as pl

ledger_glob, out, persons = sys.argv[1], sys.argv[2], int(sys.argv[3])
ledger = pl.scan_parquet(ledger_glob)
# Both sinks in one query, so the files are read once.
pl.collect_all(
    [
        ledger.sink_parquet(f"{out}/month.parquet", compression="zstd", lazy=True),
        ledger.head(persons).sink_parquet(
            f"{out}/status.parquet", compression="zstd", lazy=True
        ),
    ]
)
