-- Emergency hand-offs (110/119/120/122 …): one row per hand-off, written when it is asked for
-- and updated as it rings, is answered, the agent leaves and it ends. Times are Unix ms.
-- `call_record` is the citizen call's record id (the row may come before the call ends).
CREATE TABLE handoffs (
    call_record   TEXT   NOT NULL,
    seq           BIGINT NOT NULL,
    agent         TEXT   NOT NULL,
    number        TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    caller        TEXT   NOT NULL,
    reason        TEXT   NOT NULL,
    three_way     BIGINT NOT NULL,
    trunk         TEXT,
    asked_ms      BIGINT NOT NULL,
    ringing_ms    BIGINT,
    answered_ms   BIGINT,
    agent_left_ms BIGINT,
    ended_ms      BIGINT,
    outcome       TEXT,
    alarm         BIGINT NOT NULL,
    PRIMARY KEY (call_record, seq)
);
CREATE INDEX handoffs_asked ON handoffs (asked_ms);
