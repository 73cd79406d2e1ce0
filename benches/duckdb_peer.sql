-- The DuckDB peer of `ledgerflow run` (issue 6, benchmark 2): the same core job —
-- paid months, gaps with back-payment, person status — as idiomatic DuckDB SQL, run on
-- the same generated Parquet ledger in the same benchmark run.
--
-- It is written the way an analyst would write it in DuckDB (window functions,
-- gaps-and-islands, an ASOF join), with the national defaults of RULES.md §3–4 inlined
-- (rate 0.10, due lag 0, employer window 6, short gap 3, back-pay deadline 3 months,
-- waits 6 / 3, employee retroactive). It is the *core* of our job, not all of it:
-- no regional rule blocks, no resident scheme, no special groups, no findings, no
-- rejects table. So the comparison flatters the peer, not us.
--
-- The harness replaces {{LEDGER_GLOB}}, {{OUT}}, {{A}} (first day of the as-of month)
-- and {{K}} (its last day).

-- Rows as known on K (RULES §1), employee family only, well-formed only.
CREATE TEMP TABLE ledger AS
SELECT person_id,
       CAST(try_strptime(period || '-01', '%Y-%m-%d') AS DATE) AS month,
       scheme,
       payer,
       TRY_CAST(amount AS DECIMAL(18, 2)) AS amount,
       TRY_CAST(base AS DECIMAL(18, 2)) AS base,
       TRY_CAST(paid_on AS DATE) AS paid_on
FROM read_parquet('{{LEDGER_GLOB}}')
WHERE scheme IN ('employee', 'flexible')
  AND length(person_id) = 18
  AND try_strptime(period || '-01', '%Y-%m-%d') IS NOT NULL
  AND TRY_CAST(amount AS DECIMAL(18, 2)) IS NOT NULL
  AND TRY_CAST(base AS DECIMAL(18, 2)) IS NOT NULL
  AND (paid_on IS NULL OR TRY_CAST(paid_on AS DATE) <= DATE '{{K}}');

-- Paid months (RULES §3): the month is paid on the paid_on at which the running sum
-- first reaches required = round(max(base) × rate, 2).
CREATE TEMP TABLE paid AS
WITH required AS (
    SELECT person_id, month,
           round(max(base) * 0.10, 2) AS required,
           bool_or(payer IN ('employer', 'unemployment_fund')) AS institution,
           arg_max(scheme, amount) AS scheme
    FROM ledger
    GROUP BY ALL
), running AS (
    SELECT person_id, month, paid_on,
           sum(amount) OVER (PARTITION BY person_id, month
                             ORDER BY paid_on
                             ROWS UNBOUNDED PRECEDING) AS cum
    FROM ledger
    WHERE paid_on IS NOT NULL
)
SELECT q.person_id, q.month, q.institution, q.scheme,
       min(r.paid_on) FILTER (WHERE r.cum >= q.required) AS paid_date
FROM required q
LEFT JOIN running r USING (person_id, month)
GROUP BY ALL;

-- Every month from the first paid month F to A, on time or not.
CREATE TEMP TABLE history AS
WITH first_paid AS (
    SELECT person_id, min(month) AS f
    FROM paid
    WHERE paid_date IS NOT NULL
    GROUP BY ALL
), grid AS (
    SELECT person_id,
           CAST(unnest(generate_series(CAST(f AS TIMESTAMP), TIMESTAMP '{{A}}',
                                       INTERVAL 1 MONTH)) AS DATE) AS month
    FROM first_paid
)
SELECT g.person_id, g.month, p.paid_date,
       coalesce(p.institution, false) AS institution,
       coalesce(p.scheme, 'employee') AS scheme,
       coalesce(p.paid_date <= last_day(g.month), false) AS on_time
FROM grid g
LEFT JOIN paid p USING (person_id, month);

-- Gaps (RULES §4): islands of months not paid on time.
CREATE TEMP TABLE gaps AS
WITH islands AS (
    SELECT *,
           datediff('month', DATE '2000-01-01', month)
             - row_number() OVER (PARTITION BY person_id, on_time ORDER BY month) AS island
    FROM history
), runs AS (
    SELECT person_id,
           min(month) AS g1,
           max(month) AS g2,
           count(*) AS months,
           bool_or(institution) AS employer,
           bool_and(paid_date IS NOT NULL) AS back_paid,
           max(paid_date) AS b,
           arg_min(scheme, month) AS scheme
    FROM islands
    WHERE NOT on_time
    GROUP BY person_id, island
)
SELECT *,
       CASE WHEN employer THEN last_day(g1 + INTERVAL 5 MONTH)
            WHEN months <= 3 THEN last_day(g2 + INTERVAL 3 MONTH)
       END AS deadline,
       CASE WHEN back_paid AND b <= deadline THEN 'bridged'
            WHEN deadline IS NULL OR DATE '{{K}}' > deadline THEN 'break'
            ELSE 'pending'
       END AS state,
       CASE WHEN scheme = 'employee' THEN b + INTERVAL 1 DAY
            ELSE date_trunc('month', b) + INTERVAL 1 MONTH
       END AS resume,
       g2 + INTERVAL 1 MONTH AS r,
       CASE WHEN scheme = 'employee' THEN 6 ELSE 3 END AS wait
FROM runs;

-- Month statuses: in a gap, or after the latest gap before the month (ASOF join).
CREATE TEMP TABLE person_month AS
SELECT h.person_id, h.month, h.paid_date, h.on_time,
       CASE
           WHEN h.month BETWEEN g.g1 AND g.g2 THEN
               CASE WHEN g.state = 'bridged' AND g.scheme = 'employee' THEN 'restored'
                    ELSE 'suspended' END
           WHEN g.state = 'pending' THEN 'suspended'
           WHEN g.state = 'break' AND h.month < g.r + to_months(g.wait) THEN 'waiting'
           WHEN g.state = 'bridged' AND g.resume > last_day(h.month) THEN
               CASE WHEN g.scheme = 'employee' THEN 'restored' ELSE 'suspended' END
           ELSE 'active'
       END AS status
FROM history h
ASOF LEFT JOIN gaps g ON h.person_id = g.person_id AND h.month >= g.g1;

CREATE TEMP TABLE person_status AS
SELECT person_id,
       arg_max(status, month) AS status,
       count(paid_date) AS cumulative_months,
       count(*) FILTER (WHERE NOT on_time AND paid_date IS NULL) AS unpaid_months,
       min(month) AS first_month
FROM person_month
GROUP BY ALL;

COPY (SELECT * FROM person_month ORDER BY person_id, month)
    TO '{{OUT}}/person_month.parquet' (FORMAT parquet, COMPRESSION zstd);
COPY (SELECT * FROM person_status ORDER BY person_id)
    TO '{{OUT}}/person_status.parquet' (FORMAT parquet, COMPRESSION zstd);
COPY (SELECT person_id, g1, g2, months, employer, back_paid, b, deadline, state
      FROM gaps ORDER BY person_id, g1)
    TO '{{OUT}}/gaps.parquet' (FORMAT parquet, COMPRESSION zstd);
