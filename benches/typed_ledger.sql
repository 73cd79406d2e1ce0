-- Bench data with typed columns (issue 15): one month file of `ledgerflow generate`
-- (all strings, so that a faulty value can be written) rewritten as the ledger of an
-- independent generator with typed columns would be: `amount` DECIMAL(18,2), `base`
-- DOUBLE, `paid_on` DATE, the other columns of CONTRACT.md §2.1 as strings, zstd.
--
-- A faulty copy whose value a typed column cannot hold (a `paid_on` that is no date —
-- every BAD_DATE row — or an `amount` with three decimals, a third of the BAD_AMOUNT
-- rows) is left out rather than nulled or rounded, which would turn it into a
-- different, valid row. The harness reads the counts back from `{{COUNTS}}` and
-- expects the run's rejects to be the generator's minus those.
--
-- The harness replaces {{SRC}}, {{DST}} and {{COUNTS}}.

CREATE OR REPLACE TEMP TABLE month AS
SELECT *,
       paid_on IS NOT NULL
         AND (NOT regexp_full_match(paid_on, '[0-9]{4}-[0-9]{2}-[0-9]{2}')
              OR TRY_CAST(paid_on AS DATE) IS NULL) AS bad_date,
       amount IS NOT NULL
         AND NOT regexp_full_match(amount, '-?[0-9]+([.][0-9]{1,2})?') AS bad_amount
FROM read_parquet('{{SRC}}');

COPY (
    SELECT person_id, period, scheme, payer,
           CAST(amount AS DECIMAL(18, 2)) AS amount,
           CAST(base AS DOUBLE) AS base,
           CAST(paid_on AS DATE) AS paid_on,
           region, employer_id
    FROM month
    WHERE NOT bad_date AND NOT bad_amount
) TO '{{DST}}' (FORMAT parquet, COMPRESSION zstd);

COPY (
    SELECT count(*) FILTER (WHERE NOT bad_date AND NOT bad_amount) AS rows_kept,
           count(*) FILTER (WHERE bad_date) AS dropped_bad_date,
           count(*) FILTER (WHERE bad_amount AND NOT bad_date) AS dropped_bad_amount
    FROM month
) TO '{{COUNTS}}' (FORMAT csv, HEADER false);
