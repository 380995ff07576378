-- Cluster the queue by recipient: InnoDB keeps a table's rows in its
-- primary key's order, so with (recipient, id) one recipient's queue is one
-- contiguous range of the table, read and deleted in key order. With the
-- primary key on id alone, every row a delivery read through the
-- (recipient, id) index was one more look-up in a clustered index the size
-- of every queue: with a million rows stored for other users, MariaDB spent
-- twice the CPU per drained row (docs/performance.md, growth by rows).
-- The unique key on id keeps AUTO_INCREMENT valid (its column must lead a
-- key) and ids unique; the old (recipient, id) key is the primary key now.
-- InnoDB rebuilds the table to do this: on a large queue the first start
-- after the upgrade takes about as long as copying the table, during which
-- that node does not serve (docs/operators.md, "Upgrading").
ALTER TABLE offline_messages
    DROP PRIMARY KEY,
    ADD PRIMARY KEY (recipient, id),
    ADD UNIQUE KEY offline_messages_id (id),
    DROP KEY offline_messages_recipient_id;
