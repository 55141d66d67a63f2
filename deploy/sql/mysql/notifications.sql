-- notify-relay's notification log in MySQL (8.0 and later) or MariaDB (10.5 and later): one row
-- per email, from `queued` to `sent` or `failed`. With NOTIFY_NOTIFICATIONS_DB set, the relay
-- creates this table when it is missing (with the name NOTIFY_NOTIFICATIONS_TABLE in place of
-- `notifications`) and upserts each change of a row by `id`. Run this file with your own
-- migration tool instead if you prefer; the relay then finds the table and leaves its
-- definition alone. Safe to run twice. Times are UTC.
CREATE TABLE IF NOT EXISTS notifications (
    id            VARCHAR(64)  NOT NULL PRIMARY KEY,  -- the relay's notification id (X-Notification-Id)
    user_id       VARCHAR(128) NOT NULL,              -- the recipient, as published
    type          VARCHAR(16)  NOT NULL DEFAULT 'email',
    status        VARCHAR(16)  NOT NULL,              -- queued, sent or failed
    error_message TEXT,                               -- the last failure (while queued: the last retried one)
    attempts      INT          NOT NULL DEFAULT 0,
    email         VARCHAR(320),                       -- the address it went to
    event_ids     JSON         NOT NULL,              -- the events it carries, oldest first
    smtp_response TEXT,                               -- the SMTP server's answer once sent
    created_at    DATETIME(3)  NOT NULL,
    updated_at    DATETIME(3)  NOT NULL,
    KEY notifications_user_id_created_at (user_id, created_at),
    KEY notifications_status_created_at (status, created_at),
    KEY notifications_created_at (created_at),
    CONSTRAINT notifications_status CHECK (status IN ('queued', 'sent', 'failed'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
