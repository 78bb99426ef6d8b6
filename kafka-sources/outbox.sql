-- Transactional outbox of the device configuration service (MySQL 8).
--
-- The service changes `devices` and records what happened in `outbox` in the
-- SAME transaction; Debezium (debezium-connector.yaml) reads the outbox rows
-- from the binlog and publishes each one as a CloudEvent on the topic
-- kapacitor-alerts-connector.<type>. Nothing is published for a transaction
-- that rolls back, and nothing committed is lost.
--
-- MySQL prerequisites for Debezium: binlog_format=ROW, binlog_row_image=FULL,
-- and an account (the debezium-mysql-credentials Secret) with
--   GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT
--     ON *.* TO 'debezium'@'%';

CREATE TABLE IF NOT EXISTS outbox (
    -- Event id, a UUID: the CloudEvent `id` (and the Kafka header `id`).
    id            CHAR(36)     NOT NULL,
    -- What the event is about, e.g. 'device'.
    aggregatetype VARCHAR(255) NOT NULL,
    -- The Kafka record key: records with one key stay in order in one
    -- partition. Use the device code for single-device events.
    aggregateid   VARCHAR(255) NOT NULL,
    -- The CloudEvent `type` and the routing key: device-created,
    -- device-enabled, device-disabled or device-deleted (EVENT_TYPE_* settings).
    `type`        VARCHAR(255) NOT NULL,
    -- The CloudEvent `data`: {"devicescode": [...], "eventtype": "..."}.
    payload       JSON         NOT NULL,
    -- Becomes the Kafka record timestamp (milliseconds: keep DATETIME(3)).
    -- Write UTC. The CloudEvent `time` is the commit time Debezium reads from
    -- the binlog, not this column.
    `timestamp`   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id)
) ENGINE = InnoDB;

-- Example: enable two devices. `devices` is the service's own table (its
-- columns here are illustrative); the outbox row commits with it or not at all.
START TRANSACTION;

UPDATE devices SET enabled = TRUE WHERE code IN ('dev-1', 'dev-2');

INSERT INTO outbox (id, aggregatetype, aggregateid, `type`, payload, `timestamp`)
VALUES (
    UUID(),
    'device',
    'dev-1',
    'device-enabled',
    '{"devicescode": ["dev-1", "dev-2"], "eventtype": "enabled"}',
    UTC_TIMESTAMP(3)
);

COMMIT;

-- Housekeeping: published rows can be deleted at any time (the connector
-- ignores deletes on the outbox table), e.g. daily:
--   DELETE FROM outbox WHERE `timestamp` < UTC_TIMESTAMP(3) - INTERVAL 7 DAY;
