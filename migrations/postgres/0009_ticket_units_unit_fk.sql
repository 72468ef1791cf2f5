-- A ticket's unit rows must name a unit that exists. Without the key, removing a unit (which
-- counts its references first) and dispatching a ticket to it could both commit under READ
-- COMMITTED, leaving a ticket with a lead unit that is gone. With it, the later of the two
-- waits for the other and fails. NOT VALID: rows written before the key are not rechecked.
ALTER TABLE ticket_units
    ADD CONSTRAINT ticket_units_unit_fk FOREIGN KEY (unit_id) REFERENCES units(id) NOT VALID;
