-- notify-relay's notification log in PostgreSQL: one row per email, from `queued` to `sent` or
-- `failed`. With NOTIFY_NOTIFICATIONS_DB set, the relay creates this table when it is missing
-- (with the name NOTIFY_NOTIFICATIONS_TABLE in place of `notifications`) and upserts each change
-- of a row by `id`. Run this file with your own migration tool instead if you prefer; the relay
-- then finds the table and leaves its definition alone. Safe to run twice.
CREATE TABLE IF NOT EXISTS notifications (
    id            VARCHAR(64)    PRIMARY KEY,   -- the relay's notification id (X-Notification-Id)
    user_id       VARCHAR(128)   NOT NULL,      -- the recipient, as published
    type          VARCHAR(16)    NOT NULL DEFAULT 'email',
    status        VARCHAR(16)    NOT NULL,      -- queued, sent or failed
    error_message TEXT,                         -- the last failure (while queued: the last retried one)
    attempts      INTEGER        NOT NULL DEFAULT 0,
    email         VARCHAR(320),                 -- the address it went to
    event_ids     JSONB          NOT NULL DEFAULT '[]',  -- the events it carries, oldest first
    smtp_response TEXT,                         -- the SMTP server's answer once sent
    created_at    TIMESTAMPTZ(3) NOT NULL,
    updated_at    TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT notifications_status CHECK (status IN ('queued', 'sent', 'failed'))
);
CREATE INDEX IF NOT EXISTS notifications_user_id_created_at ON notifications (user_id, created_at);
CREATE INDEX IF NOT EXISTS notifications_status_created_at ON notifications (status, created_at);
CREATE INDEX IF NOT EXISTS notifications_created_at ON notifications (created_at);
