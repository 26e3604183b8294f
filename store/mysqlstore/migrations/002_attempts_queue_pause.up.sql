-- The failed attempts of each task (store.AttemptStore). They keep a foreign
-- key: they are written only when an attempt fails, off the hot path, and
-- the key deletes them with their task (Remove, Purge) without a statement
-- of their own.
CREATE TABLE {attempts} (
    id          BIGINT      NOT NULL AUTO_INCREMENT,
    task_id     BINARY(16)  NOT NULL,
    run         INT         NOT NULL,
    number      INT         NOT NULL,
    started_at  DATETIME(6) NOT NULL,
    duration_us BIGINT      NOT NULL DEFAULT 0,
    error_text  MEDIUMTEXT  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    PRIMARY KEY (id),
    KEY task_idx (task_id, id),
    KEY started_idx (started_at),
    FOREIGN KEY (task_id) REFERENCES {tasks} (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Paused queues (store.QueuePauser): a row per paused queue, shared by every
-- node on the tables and kept across restarts. The name is bytes, as in the
-- tasks table, so it orders as Go strings do.
CREATE TABLE {queue_pauses} (
    queue     VARBINARY(255) NOT NULL,
    paused_at DATETIME(6)    NOT NULL,
    PRIMARY KEY (queue)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
