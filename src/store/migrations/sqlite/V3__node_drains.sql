-- The FreeSWITCH nodes an operator drained (`arsgate nodes drain`): kept in
-- the store so that every replica, and a restarted arsgate, keeps them
-- drained until they are resumed.
CREATE TABLE node_drains (
    node  TEXT    NOT NULL PRIMARY KEY,
    since INTEGER NOT NULL
) STRICT;
