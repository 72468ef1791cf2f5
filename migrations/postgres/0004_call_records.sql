-- One row per citizen call, written when the call ends (and updated when its recording is
-- finished on disk). Times are Unix milliseconds.
CREATE TABLE call_records (
    id                 TEXT PRIMARY KEY,
    line               TEXT NOT NULL,
    line_name          TEXT NOT NULL,
    dialled            TEXT NOT NULL,
    trunk              TEXT,
    caller             TEXT NOT NULL,
    caller_kind        TEXT NOT NULL,
    arrived_ms         BIGINT NOT NULL,
    queue              TEXT,
    queued_ms          BIGINT,
    wait_ms            BIGINT,
    ring_attempts      BIGINT  NOT NULL,
    agent              TEXT,
    answered_ms        BIGINT,
    ended_ms           BIGINT NOT NULL,
    hangup_cause       TEXT NOT NULL,
    recording          TEXT,
    recording_secs     DOUBLE PRECISION,
    abandoned          BIGINT  NOT NULL,
    rating             TEXT,
    callback_requested BIGINT  NOT NULL,
    service_level_met  BIGINT  NOT NULL
);
CREATE INDEX call_records_arrived ON call_records (arrived_ms);
CREATE INDEX call_records_agent ON call_records (agent, arrived_ms);
