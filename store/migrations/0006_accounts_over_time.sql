-- Accounts over time: an account can be disabled (its sessions and tokens stop at once, its
-- judgments stay) and enabled again; a password change or a disable ends the browser sessions
-- started before it. Tokens may expire and say who made them. Every change to an account or a
-- token is recorded in audit_log, which is never updated or deleted from.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP;        -- NULL: the account may sign in
ALTER TABLE users ADD COLUMN sessions_reset_at TIMESTAMP;  -- sessions started before this are over

ALTER TABLE api_tokens ADD COLUMN expires_at TIMESTAMP;    -- NULL: works until revoked
ALTER TABLE api_tokens ADD COLUMN created_by VARCHAR;      -- an account name, or "cli:<os user>"; NULL before 0006

CREATE SEQUENCE audit_seq START 1;

CREATE TABLE audit_log (
    seq        BIGINT NOT NULL DEFAULT nextval('audit_seq'),
    changed_at TIMESTAMP NOT NULL,
    actor      VARCHAR,                 -- who: an admin's account name (REST), "cli:<os user>" (a command); NULL: not recorded
    action     VARCHAR NOT NULL,        -- user.add, user.disable, user.enable, user.password, user.role, token.create, token.revoke
    target     VARCHAR NOT NULL,        -- the account name, or the token's public id
    detail     JSON NOT NULL            -- e.g. {"from": "annotator", "to": "admin"}; never a password, hash or secret
);
