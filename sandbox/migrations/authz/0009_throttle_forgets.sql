-- When a throttle row last counted an attempt, so that rows a day quiet can be forgotten:
-- without it every name ever tried stayed in the table for good (a spray of made-up names
-- would grow it without bound). Existing rows count as quiet since long ago.
ALTER TABLE login_throttle ADD COLUMN last_attempt_at INTEGER NOT NULL DEFAULT 0;
