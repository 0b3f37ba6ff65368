-- Published settings (calendar and policy versions): a change bumps the directory version, so
-- nodes fetch the new calendar or policies.
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
