"""The demo Tool Catalog schema (after the seed's database/tool-catalog-schema.sql and
performance-optimizations.sql, research/seed_origin.md §4). Inline rather than a .sql file so a non-editable
install ships it without package-data rules. Idempotent: run at every start."""

from __future__ import annotations

import re

__all__ = ["DROPPABLE_INDEXES", "SCHEMA_SQL"]

SCHEMA_SQL = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE SCHEMA IF NOT EXISTS tool_catalog;

CREATE TABLE IF NOT EXISTS tool_catalog.tools (
    id                serial PRIMARY KEY,
    tool_name         varchar(100) NOT NULL,
    version           varchar(20)  NOT NULL,
    description       text,
    platform          varchar(20)  NOT NULL
        CHECK (platform IN ('linux', 'windows', 'macos', 'docker', 'kubernetes', 'cloud')),
    category          varchar(30)  NOT NULL
        CHECK (category IN ('system', 'network', 'security', 'monitoring', 'development', 'database',
                            'storage', 'utility')),
    status            varchar(20)  NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'deprecated', 'disabled', 'testing', 'draft')),
    enabled           boolean      NOT NULL DEFAULT true,
    defaults          jsonb        NOT NULL DEFAULT '{}'::jsonb,
    dependencies      jsonb        NOT NULL DEFAULT '[]'::jsonb,
    metadata          jsonb        NOT NULL DEFAULT '{}'::jsonb,
    parent_version_id integer      REFERENCES tool_catalog.tools (id) ON DELETE SET NULL,
    is_latest         boolean      NOT NULL DEFAULT true,
    created_at        timestamptz  NOT NULL DEFAULT now(),
    updated_at        timestamptz  NOT NULL DEFAULT now(),
    created_by        varchar(100),
    updated_by        varchar(100),
    UNIQUE (tool_name, version)
);

CREATE TABLE IF NOT EXISTS tool_catalog.tool_capabilities (
    id          serial PRIMARY KEY,
    tool_id     integer NOT NULL REFERENCES tool_catalog.tools (id) ON DELETE CASCADE,
    name        varchar(100) NOT NULL,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tool_id, name)
);

-- Daily downloads per tool version (seeded with 30 days per version, ~24k rows): big enough that
-- losing its index turns the versions endpoint's lookup into a sequential scan that costs milliseconds.
-- No primary key on purpose: its index could not be dropped, and the drop_indexes fault needs one that can.
CREATE TABLE IF NOT EXISTS tool_catalog.tool_downloads (
    tool_id  integer NOT NULL REFERENCES tool_catalog.tools (id) ON DELETE CASCADE,
    day      date    NOT NULL,
    count    integer NOT NULL
);

CREATE OR REPLACE FUNCTION tool_catalog.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS tools_touch_updated_at ON tool_catalog.tools;
CREATE TRIGGER tools_touch_updated_at BEFORE UPDATE ON tool_catalog.tools
    FOR EACH ROW EXECUTE FUNCTION tool_catalog.touch_updated_at();

CREATE INDEX IF NOT EXISTS idx_tools_name        ON tool_catalog.tools (tool_name);
CREATE INDEX IF NOT EXISTS idx_tools_platform    ON tool_catalog.tools (platform);
CREATE INDEX IF NOT EXISTS idx_tools_category    ON tool_catalog.tools (category);
CREATE INDEX IF NOT EXISTS idx_tools_status      ON tool_catalog.tools (status);
CREATE INDEX IF NOT EXISTS idx_tools_enabled     ON tool_catalog.tools (enabled);
CREATE INDEX IF NOT EXISTS idx_tools_is_latest   ON tool_catalog.tools (is_latest);
CREATE INDEX IF NOT EXISTS idx_tools_created_at  ON tool_catalog.tools (created_at);
CREATE INDEX IF NOT EXISTS idx_tools_metadata    ON tool_catalog.tools USING gin (metadata);
-- get by name: the latest enabled version
CREATE INDEX IF NOT EXISTS idx_tools_name_latest_enabled ON tool_catalog.tools (tool_name)
    WHERE is_latest AND enabled;
-- list ordered by name with the common filters
CREATE INDEX IF NOT EXISTS idx_tools_list_order ON tool_catalog.tools (tool_name, id);
-- search: substring (ILIKE) and similarity over name and description
CREATE INDEX IF NOT EXISTS idx_tools_name_trgm ON tool_catalog.tools USING gin (tool_name gin_trgm_ops);
CREATE INDEX IF NOT EXISTS idx_tools_description_trgm ON tool_catalog.tools USING gin (description gin_trgm_ops);
CREATE INDEX IF NOT EXISTS idx_capabilities_tool ON tool_catalog.tool_capabilities (tool_id);
CREATE INDEX IF NOT EXISTS idx_capabilities_name ON tool_catalog.tool_capabilities (name);
-- versions: the downloads of a tool's versions
CREATE INDEX IF NOT EXISTS idx_downloads_tool_day ON tool_catalog.tool_downloads (tool_id, day);
"""

# name -> its CREATE statement: the indexes the drop_indexes fault may drop (and re-create, exactly as here)
DROPPABLE_INDEXES: dict[str, str] = {
    m.group(1): m.group(0)
    for m in re.finditer(r"CREATE INDEX IF NOT EXISTS (\w+)\s+ON [^;]+;", SCHEMA_SQL)
}
