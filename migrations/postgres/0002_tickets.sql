-- Handling units (承办单位): who tickets are dispatched to. Contacts are a JSON array of
-- {"name": …, "phone": …}; the phones get the dispatch reminders.
CREATE TABLE units (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    parent      TEXT REFERENCES units(id),
    contacts    TEXT NOT NULL DEFAULT '[]',
    created_at  BIGINT NOT NULL
);

-- The last ticket number handed out per Shanghai day (numbers are YYYYMMDD-NNNNNN).
CREATE TABLE ticket_counters (
    day         TEXT PRIMARY KEY,
    last        BIGINT NOT NULL
);

-- One row per ticket: a projection of its history for search and lists, rewritten in the same
-- transaction as every history append. `seq` is the seq of the last history row (optimistic
-- concurrency). Times are unix seconds.
CREATE TABLE tickets (
    id              TEXT PRIMARY KEY,
    ticket_type     TEXT NOT NULL,
    urgency         TEXT NOT NULL,
    line            TEXT NOT NULL,
    requester       TEXT,
    contact         TEXT,
    facts           TEXT NOT NULL,
    address         TEXT,
    status          TEXT NOT NULL,
    lead_unit       TEXT,
    assisting_units TEXT NOT NULL DEFAULT '',
    started_at      BIGINT,
    sign_due        BIGINT,
    deadline        BIGINT,
    provisional     INTEGER NOT NULL DEFAULT 0,
    light           TEXT NOT NULL DEFAULT 'none',
    light_due       BIGINT,
    light_next      BIGINT,
    pending         TEXT NOT NULL DEFAULT '',
    call_id         TEXT,
    recording       TEXT,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    seq             BIGINT NOT NULL
);
CREATE INDEX tickets_status ON tickets (status, created_at);
CREATE INDEX tickets_created ON tickets (created_at);
CREATE INDEX tickets_light_next ON tickets (light_next);
CREATE INDEX tickets_call ON tickets (call_id);

-- Which units may see a ticket: its lead (主办) and assisting (协办) units.
CREATE TABLE ticket_units (
    ticket_id   TEXT NOT NULL REFERENCES tickets(id),
    unit_id     TEXT NOT NULL,
    role        TEXT NOT NULL,
    PRIMARY KEY (ticket_id, unit_id, role)
);
CREATE INDEX ticket_units_unit ON ticket_units (unit_id);

-- The history of every ticket: appended, never updated or deleted (triggers refuse both).
CREATE TABLE ticket_events (
    ticket_id   TEXT NOT NULL REFERENCES tickets(id),
    seq         BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    role        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    why         TEXT,
    payload     TEXT NOT NULL,
    PRIMARY KEY (ticket_id, seq)
);

CREATE FUNCTION ticket_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ticket history is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ticket_events_no_update BEFORE UPDATE OR DELETE ON ticket_events
    FOR EACH ROW EXECUTE FUNCTION ticket_events_append_only();
