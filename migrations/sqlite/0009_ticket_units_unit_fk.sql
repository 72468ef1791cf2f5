-- The PostgreSQL migration of this number adds a foreign key from ticket_units to units, against
-- a unit removed while a ticket is dispatched to it. SQLite runs every write transaction with
-- BEGIN IMMEDIATE, so the two cannot interleave here, and adding a key would mean rebuilding
-- the table; this migration only keeps the two sets numbered alike.
SELECT 1;
