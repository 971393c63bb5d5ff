-- Tokens for the REST API. Only a SHA-256 of the secret part is stored: the token itself is
-- shown once, when it is made. Revoking sets revoked_at; a revoked token never works again.
CREATE TABLE api_tokens (
    id          VARCHAR PRIMARY KEY,        -- the public part, e.g. "3f9a1c2b" (safe in lists and logs)
    user_name   VARCHAR NOT NULL,
    secret_hash VARCHAR NOT NULL,           -- sha256 hex of the secret part
    label       VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP
);
