-- Items that went into an eval split or eval set. Later training exports keep them out unless
-- told otherwise (--allow-eval-overlap), so that no eval prompt is ever trained on.
CREATE TABLE eval_registry (
    item_id       VARCHAR PRIMARY KEY,
    export_id     VARCHAR NOT NULL,   -- the export that first put the item in an eval split
    registered_at TIMESTAMP NOT NULL
);
