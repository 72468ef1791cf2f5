-- Agents' own outbound calls (回访, 督办, reminders, calling back) are call records too:
-- `direction` tells them from citizens' calls, `ticket` names the ticket a call was about.
ALTER TABLE call_records ADD COLUMN direction TEXT NOT NULL DEFAULT 'inbound';
ALTER TABLE call_records ADD COLUMN ticket TEXT;
CREATE INDEX call_records_ticket ON call_records (ticket);
