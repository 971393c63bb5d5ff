-- Items, responses and pairs are what gets judged; judgments are an append-only event log.
CREATE SEQUENCE item_seq START 1;
CREATE SEQUENCE pair_seq START 1;
CREATE SEQUENCE judgment_seq START 1;

CREATE TABLE imports (
    id              VARCHAR PRIMARY KEY,
    dataset         VARCHAR NOT NULL,
    format          VARCHAR NOT NULL,
    sources         JSON NOT NULL,          -- [{"path", "sha256", "records"}]
    items_added     INTEGER NOT NULL,
    responses_added INTEGER NOT NULL,
    pairs_added     INTEGER NOT NULL,
    imported_at     TIMESTAMP NOT NULL
);

CREATE TABLE items (
    id          VARCHAR PRIMARY KEY,        -- "<dataset>/<source id or prompt hash>"
    dataset     VARCHAR NOT NULL,
    source_id   VARCHAR,
    prompt      JSON NOT NULL,              -- [{"role", "content"}], system first, user last
    prompt_hash VARCHAR NOT NULL,
    group_key   VARCHAR NOT NULL,           -- keeps a conversation/source on one side of a split
    metadata    JSON NOT NULL,
    import_id   VARCHAR NOT NULL,
    seq         BIGINT NOT NULL DEFAULT nextval('item_seq'),
    created_at  TIMESTAMP NOT NULL
);

CREATE TABLE responses (
    id         VARCHAR PRIMARY KEY,
    item_id    VARCHAR NOT NULL,
    model      VARCHAR NOT NULL,            -- hidden from annotators
    content    VARCHAR NOT NULL,
    metadata   JSON NOT NULL,
    import_id  VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE pairs (
    id            VARCHAR PRIMARY KEY,
    item_id       VARCHAR NOT NULL,
    response_a_id VARCHAR NOT NULL,         -- canonical order: response_a_id < response_b_id
    response_b_id VARCHAR NOT NULL,
    metadata      JSON NOT NULL,            -- e.g. the source dataset's own label for the pair
    import_id     VARCHAR NOT NULL,
    seq           BIGINT NOT NULL DEFAULT nextval('pair_seq'),
    created_at    TIMESTAMP NOT NULL
);

-- Nothing here is ever updated or deleted. Undo and changes of mind are new rows whose
-- `supersedes` names the judgment they replace.
CREATE TABLE judgments (
    id           VARCHAR PRIMARY KEY,       -- client-generated: a double submit stores one row
    kind         VARCHAR NOT NULL,          -- pair | undo (vibe, rank, edit later)
    annotator    VARCHAR NOT NULL,
    item_id      VARCHAR,
    pair_id      VARCHAR,
    left_id      VARCHAR,                   -- response shown on the left
    right_id     VARCHAR,                   -- response shown on the right
    verdict      VARCHAR,                   -- left | right | tie | both_bad
    strength     INTEGER,
    rationale    VARCHAR,
    tags         JSON,
    supersedes   VARCHAR,
    shown_at     TIMESTAMP,
    submitted_at TIMESTAMP NOT NULL,
    seq          BIGINT NOT NULL DEFAULT nextval('judgment_seq')
);

CREATE TABLE users (
    name          VARCHAR PRIMARY KEY,
    role          VARCHAR NOT NULL,         -- admin | annotator
    password_hash VARCHAR NOT NULL,         -- scrypt$n$r$p$salt$hash
    created_at    TIMESTAMP NOT NULL
);

-- The current state of the log: per annotator and pair, the latest pair judgment that no
-- later event supersedes.
CREATE VIEW current_pair_judgments AS
SELECT * EXCLUDE (rank_in_pair) FROM (
    SELECT j.*,
           row_number() OVER (PARTITION BY j.annotator, j.pair_id ORDER BY j.seq DESC) AS rank_in_pair
    FROM judgments j
    WHERE j.kind = 'pair'
      AND NOT EXISTS (SELECT 1 FROM judgments s WHERE s.supersedes = j.id)
)
WHERE rank_in_pair = 1;

-- Every export is recorded so that a training file can be traced back to what it was made of.
CREATE TABLE exports (
    id         VARCHAR PRIMARY KEY,
    kind       VARCHAR NOT NULL,
    target     VARCHAR NOT NULL,
    out_dir    VARCHAR NOT NULL,
    manifest   JSON NOT NULL,
    created_at TIMESTAMP NOT NULL
);
