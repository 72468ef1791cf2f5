-- SMS outbox: one row per message, written in the transaction of the event that causes it.
-- The id (a UUID) is passed to the gateway, so a repeat after a crash can be recognised there.
CREATE TABLE sms_outbox (
    id              TEXT PRIMARY KEY,
    phone           TEXT NOT NULL,
    kind            TEXT NOT NULL,
    body            TEXT NOT NULL,
    ticket_id       TEXT,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    submitted_at    BIGINT,
    gateway_ref     TEXT,
    last_error      TEXT,
    dlr_status      TEXT,
    dlr_at          BIGINT,
    survey_open     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sms_outbox_due ON sms_outbox (state, next_attempt_at);
CREATE INDEX sms_outbox_gateway_ref ON sms_outbox (gateway_ref);
CREATE INDEX sms_outbox_survey ON sms_outbox (phone, survey_open, created_at);

-- Answers to satisfaction surveys (1 satisfied, 2 basically satisfied, 3 unsatisfied).
CREATE TABLE sms_survey_answers (
    id          BIGSERIAL PRIMARY KEY,
    sms_id      TEXT NOT NULL REFERENCES sms_outbox (id),
    ticket_id   TEXT,
    answer      BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);

-- A person calls back an unsatisfied caller (003 art. 11).
CREATE TABLE sms_return_visits (
    id          BIGSERIAL PRIMARY KEY,
    ticket_id   TEXT,
    sms_id      TEXT NOT NULL REFERENCES sms_outbox (id),
    phone       TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Replies that matched no open survey, kept for a person to read.
CREATE TABLE sms_unmatched (
    id          BIGSERIAL PRIMARY KEY,
    phone       TEXT NOT NULL,
    body        TEXT NOT NULL,
    source      TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
