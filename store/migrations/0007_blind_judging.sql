-- Blind and honest judging.

-- Secrets of this store, made by open_store (32 random bytes from the OS) the first time the
-- store is opened for writing with this table. 'blinding' keys the ids annotators are shown
-- (labeling/blind.py): without it, a shown id cannot be matched to a model. Never shown, never
-- exported; a backup holds it (like the password hashes) so that a restored store shows the same.
CREATE TABLE desk_secrets (
    name       VARCHAR PRIMARY KEY,
    secret     BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- What each event supersedes, once: an undo writes its row here and in `judgments` in one
-- transaction, and the key refuses a second event superseding one event (two undos at once
-- could both withdraw the same judgment, and the queue, counting undos, then undercounted).
-- Undos written that way before this migration stay in the log as they are; the first one is the
-- one that withdrew the judgment, the later ones withdrew nothing.
CREATE TABLE superseded (
    event_id VARCHAR PRIMARY KEY,   -- the event withdrawn (a judgment)
    by_event VARCHAR NOT NULL       -- the event that withdrew it (an undo)
);
INSERT INTO superseded
SELECT supersedes, arg_min(id, seq) FROM judgments WHERE supersedes IS NOT NULL GROUP BY supersedes;
