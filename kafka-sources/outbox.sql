-- Transactional outbox of the device configuration service (MySQL 8), as the
-- service already has it: debezium-connector.yaml reads this table unchanged.
--
-- The service changes `devices` and records what happened in `outbox` in the
-- SAME transaction; Debezium reads the outbox rows from the binlog and publishes
-- each one as a CloudEvent on kapacitor-alerts-connector.<type> (or, with
-- components/single-topic, on outbox.event.<aggregatetype>). Nothing is
-- published for a transaction that rolls back, and nothing committed is lost.
--
-- MySQL prerequisites for Debezium: binlog_format=ROW, binlog_row_image=FULL,
-- and an account (the debezium-mysql-credentials Secret) with
--   GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT
--     ON *.* TO 'debezium'@'%';
-- With gtid_mode=ON the events' `time` has millisecond resolution; without, whole
-- seconds, and the functions order events of one second by binlog position.

CREATE TABLE IF NOT EXISTS outbox (
    -- Row id. Not the CloudEvent id: the connector generates that from the
    -- binlog position (value.converter.metadata.source id:generate).
    id            BIGINT       NOT NULL AUTO_INCREMENT,
    -- The CloudEvent `data`: {"devicescode": [...], "eventtype": "..."}.
    -- Must be a JSON object, or the connector task fails.
    payload       JSON         NOT NULL,
    -- The CloudEvent `type` (and, by default, the topic): device-created,
    -- device-enabled, device-disabled or device-deleted (EVENT_TYPE_* settings).
    `type`        VARCHAR(255) NOT NULL,
    -- The Kafka record key: records with one key stay in order in one partition.
    aggregateid   CHAR(36)     NOT NULL,
    -- What the event is about, e.g. 'device': the topic of components/single-topic.
    aggregatetype VARCHAR(100) NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB;

-- Example: enable two devices. `devices` is the service's own table (its
-- columns here are illustrative); the outbox row commits with it or not at all.
START TRANSACTION;

UPDATE devices SET enabled = TRUE WHERE code IN ('dev-1', 'dev-2');

INSERT INTO outbox (payload, `type`, aggregateid, aggregatetype)
VALUES (
    '{"devicescode": ["dev-1", "dev-2"], "eventtype": "enabled"}',
    'device-enabled',
    UUID(),
    'device'
);

COMMIT;

-- Housekeeping: published rows can be deleted at any time (the connector
-- ignores deletes on the outbox table), e.g. keep the last 100,000:
--   DELETE FROM outbox WHERE id < (SELECT MAX(id) - 100000 FROM outbox AS o);
