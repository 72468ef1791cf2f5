-- Softphone accounts (credentials only; what an account may do lives in the dialplans).
CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT,
    realm       TEXT NOT NULL,
    ha1_md5     TEXT NOT NULL,
    ha1_sha256  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Bearer tokens for the HTTP API, stored as SHA-256 of the token.
CREATE TABLE api_tokens (
    id          BIGSERIAL PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    subject     TEXT,
    created_at  BIGINT NOT NULL,
    revoked     INTEGER NOT NULL DEFAULT 0
);

-- Security events (auth failures, lockouts, refused calls). Never holds a plain number.
CREATE TABLE security_events (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    source      TEXT NOT NULL,
    detail      TEXT NOT NULL
);
