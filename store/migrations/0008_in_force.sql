-- Which judgments are in force, defined here once for the queue, the stats and the exports.
--
-- An event withdraws another by a row in `superseded` (an undo does; later kinds of event may).
-- A pair judgment is in force while nothing withdrew it and it is the latest such judgment of
-- its annotator and pair. Counted as changes, for readers that keep a tally (the queue's index):
-- each pair judgment counts +1 for its annotator and pair at its seq, each withdrawal of a pair
-- judgment -1 for that judgment's annotator and pair at the withdrawing event's seq, and every
-- other event nothing; a pair is judged by an annotator when the sum is above 0.

CREATE OR REPLACE VIEW in_force_changes AS
SELECT seq, annotator, pair_id, 1 AS change FROM judgments WHERE kind = 'pair'
UNION ALL
SELECT by_event.seq, withdrawn.annotator, withdrawn.pair_id, -1 AS change
FROM superseded s
JOIN judgments withdrawn ON withdrawn.id = s.event_id AND withdrawn.kind = 'pair'
JOIN judgments by_event ON by_event.id = s.by_event;

CREATE OR REPLACE VIEW current_pair_judgments AS
SELECT * EXCLUDE (rank_in_pair) FROM (
    SELECT j.*,
           row_number() OVER (PARTITION BY j.annotator, j.pair_id ORDER BY j.seq DESC) AS rank_in_pair
    FROM judgments j
    WHERE j.kind = 'pair'
      AND NOT EXISTS (SELECT 1 FROM superseded s WHERE s.event_id = j.id)
)
WHERE rank_in_pair = 1;
