-- Which items each export wrote, so that an eval set can say which earlier training files held
-- its items, and an eval registry that a person can read and undo.

-- Registrations: every item an export put in an eval set or eval split, per export (an item can be
-- held by several eval sets; before this migration only the first one was kept). Never deleted:
-- `prefdesk evals registry remove` records a removal below instead.
CREATE TABLE eval_registry_by_export (
    item_id       VARCHAR NOT NULL,
    export_id     VARCHAR NOT NULL,   -- the export whose eval set or eval split holds the item
    registered_at TIMESTAMP NOT NULL,
    PRIMARY KEY (export_id, item_id)
);
INSERT INTO eval_registry_by_export SELECT item_id, export_id, registered_at FROM eval_registry;
DROP TABLE eval_registry;
ALTER TABLE eval_registry_by_export RENAME TO eval_registry;

-- An eval set whose registrations were undone: its items are no longer kept out of training.
CREATE TABLE eval_registry_removals (
    export_id  VARCHAR PRIMARY KEY,
    removed_at TIMESTAMP NOT NULL
);

-- The items each training export wrote to its training file (its eval split is in eval_registry).
CREATE TABLE export_training_items (
    export_id VARCHAR NOT NULL,
    item_id   VARCHAR NOT NULL
);

-- Exports made before this migration did not record their items: an eval set cannot check them.
ALTER TABLE exports ADD COLUMN items_recorded BOOLEAN DEFAULT false;
