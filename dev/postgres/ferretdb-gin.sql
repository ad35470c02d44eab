-- GIN twins of FerretDB's indexes, so that the filters FerretDB v1 pushes down are served by an index.
--
-- FerretDB v1.24 (PostgreSQL handler) turns a top-level equality `{field: value}` into
-- `_jsonb->'field' @> 'value'`, and creates each MongoDB index as a btree on `(_jsonb->'field')`.
-- A btree cannot answer `@>`, so every find would read the whole table (FerretDB issues #4646 and
-- #4209). A GIN index with jsonb_path_ops on the same expression can. This file makes one, named
-- `<index>_gin`, on the leading field of every index FerretDB creates, from now on (an event
-- trigger) and for the indexes that exist already, and drops it with its btree. Applications keep
-- creating ordinary MongoDB indexes; nothing here is needed on a real MongoDB.
--
-- Idempotent: dev/postgres.sh applies it to the FerretDB database at every start.

CREATE OR REPLACE FUNCTION wiber_gin_twin(btree regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  idx record;
BEGIN
  SELECT n.nspname AS schema, t.relname AS tab, i.relname AS name,
         pg_get_indexdef(i.oid, 1, true) AS leading
    INTO idx
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    JOIN pg_am am ON am.oid = i.relam
   WHERE x.indexrelid = btree
     AND am.amname = 'btree'
     -- Only FerretDB's collection tables: a `_jsonb` column, not its own metadata table.
     AND t.relname <> '_ferretdb_database_metadata'
     AND EXISTS (SELECT 1 FROM pg_attribute a
                  WHERE a.attrelid = t.oid AND a.attname = '_jsonb' AND NOT a.attisdropped);
  -- The leading key must be a top-level field, `(_jsonb -> 'field'::text)`: what FerretDB pushes down.
  IF idx.name IS NULL OR idx.leading !~ '^\(?_jsonb -> ''[^'']+''::text\)?$' THEN
    RETURN;
  END IF;
  EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I.%I USING gin ((%s) jsonb_path_ops)',
                 left(idx.name, 59) || '_gin', idx.schema, idx.tab, idx.leading);
END
$$;

CREATE OR REPLACE FUNCTION wiber_gin_twins_on_create() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  cmd record;
BEGIN
  FOR cmd IN SELECT objid FROM pg_event_trigger_ddl_commands()
              WHERE command_tag = 'CREATE INDEX' AND object_type = 'index'
  LOOP
    -- The twin's own CREATE INDEX comes back here and is skipped: it is not a btree.
    PERFORM wiber_gin_twin(cmd.objid::regclass);
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION wiber_gin_twins_on_drop() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  dropped record;
BEGIN
  FOR dropped IN SELECT schema_name, object_name FROM pg_event_trigger_dropped_objects()
                  WHERE object_type = 'index' AND object_name NOT LIKE '%\_gin'
  LOOP
    EXECUTE format('DROP INDEX IF EXISTS %I.%I', dropped.schema_name,
                   left(dropped.object_name, 59) || '_gin');
  END LOOP;
END
$$;

DROP EVENT TRIGGER IF EXISTS wiber_gin_twins_on_create;
CREATE EVENT TRIGGER wiber_gin_twins_on_create ON ddl_command_end
  WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION wiber_gin_twins_on_create();

DROP EVENT TRIGGER IF EXISTS wiber_gin_twins_on_drop;
CREATE EVENT TRIGGER wiber_gin_twins_on_drop ON sql_drop
  WHEN TAG IN ('DROP INDEX') EXECUTE FUNCTION wiber_gin_twins_on_drop();

-- Indexes made before this file was applied (a store that ran without it).
DO $$
DECLARE
  i record;
BEGIN
  FOR i IN SELECT x.indexrelid FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
            JOIN pg_am am ON am.oid = c.relam WHERE am.amname = 'btree'
  LOOP
    PERFORM wiber_gin_twin(i.indexrelid::regclass);
  END LOOP;
END
$$;
