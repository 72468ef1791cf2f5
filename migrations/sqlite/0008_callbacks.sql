-- Callback requests (回拨): one row per request, written when the caller asks and brought up to
-- date at each attempt; one row per attempt (the INVITE to the citizen), linked to the call
-- in which the caller asked (`origin_record`) and, for the answered one, to the record of the
-- call it became (`call_record`). Times are Unix ms.
CREATE TABLE callbacks (
    id             TEXT   NOT NULL PRIMARY KEY,
    origin_record  TEXT   NOT NULL,
    line           TEXT   NOT NULL,
    queue          TEXT   NOT NULL,
    number         TEXT   NOT NULL,
    requested_ms   BIGINT NOT NULL,
    state          TEXT   NOT NULL,
    attempts       BIGINT NOT NULL,
    attempts_max   BIGINT NOT NULL,
    next_ms        BIGINT,
    updated_ms     BIGINT NOT NULL
);
CREATE INDEX callbacks_state ON callbacks (state);
CREATE TABLE callback_attempts (
    callback       TEXT   NOT NULL,
    attempt        BIGINT NOT NULL,
    agent          TEXT,
    trunk          TEXT,
    started_ms     BIGINT NOT NULL,
    answered_ms    BIGINT,
    ended_ms       BIGINT,
    outcome        TEXT,
    cause          TEXT,
    call_record    TEXT,
    PRIMARY KEY (callback, attempt)
);
