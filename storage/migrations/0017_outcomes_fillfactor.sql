-- Room on every page of the maintained outcomes for the fold's updates.
--
-- Each fold updates the row of every (type, version, game) it takes a record of: its count
-- and its latest record. On full pages every such update wrote a new row version elsewhere
-- and an entry in each of the table's four indexes, and the table grew with dead versions
-- faster than autovacuum took them back: after 2.4 million updates the benchmarks' database
-- held 5,000 rows in 268 MB. With half of each page free, an update whose indexed columns
-- stay as they were (a game asked for again at the same instant: a pinned or driven clock)
-- stays on its page with no index entry (a heap-only tuple), and pages prune themselves.
-- Measured on the embedded server (an ad hoc script: 2,400 games, 16,000 records between
-- folds): 46 -> 5.2 us of PostgreSQL CPU a logged record for the fold at one instant, 17.9
-- -> 7.7 with the clock moving on between folds.
ALTER TABLE prediction_outcomes SET (fillfactor = 50);
-- rewritten now (with its indexes), so that the rows already there get the room too
CLUSTER prediction_outcomes USING prediction_outcomes_pkey;
