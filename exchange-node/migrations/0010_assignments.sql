-- How far this node has fetched the province's assignments (cases the province opened here).
CREATE TABLE provincial_cursors (
    name TEXT PRIMARY KEY,
    seq BIGINT NOT NULL
);
