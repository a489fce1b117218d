-- 0009: the claim of an outbox delivery gets a token (PostgreSQL only; see 0003's claimed_until).
--
-- claimed_by: the token of the claim that took the row (one per due_deliveries call: the
-- worker's pid and a random part). An outcome is recorded only WHERE claimed_by is the
-- recording worker's token, so a worker whose lease ran out while it was still sending
-- cannot overwrite what the worker that took the row over recorded (it was sent a second
-- time, and a late "failed, try again" set a sent row pending: a third send).
-- claimed_until is now written from the database's clock (now()), not each worker's.
-- Idempotent (ADD COLUMN IF NOT EXISTS), like 0007.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS claimed_by text;
