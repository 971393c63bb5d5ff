-- How each dataset's pairs are put to annotators: the Compare screen's question and the labels
-- of the prompt's turns. Versioned rows, never updated: the latest row of a dataset is its
-- wording, and earlier rows say what was asked when (a judgment's submitted_at against set_at).
-- A NULL field is the neutral default ("Which response is better?", User, Assistant).
CREATE SEQUENCE dataset_wording_seq START 1;

CREATE TABLE dataset_wording (
    dataset         VARCHAR NOT NULL,
    question        VARCHAR,
    user_label      VARCHAR,
    assistant_label VARCHAR,
    system_label    VARCHAR,
    set_by          VARCHAR NOT NULL,       -- what set it: "import", "prefdesk datasets set", ...
    seq             BIGINT NOT NULL DEFAULT nextval('dataset_wording_seq'),
    set_at          TIMESTAMP NOT NULL
);
