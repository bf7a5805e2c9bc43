-- Layout created by the production pipeline (udata-hydra) in its "csv" database, plus the roles
-- PostgREST needs. Everything here is deterministic: no random(), no now().
SET client_min_messages = warning;

CREATE ROLE web_anon NOLOGIN;
CREATE ROLE authenticator LOGIN NOINHERIT;
GRANT web_anon TO authenticator;

-- one row per parsed resource (latest created_at wins), as udata-hydra's csv_to_db_index writes it
CREATE TABLE public.tables_index (
    id serial PRIMARY KEY,
    parsing_table varchar,
    csv_detective jsonb,
    resource_id uuid,
    url varchar,
    created_at timestamptz DEFAULT now(),
    deleted_at timestamptz,
    dataset_id varchar(24)
);

-- resources with SQL indexes (hydra's RESOURCES_EXCEPTIONS); table_indexes = {"column": "index"}
CREATE TABLE public.resources_exceptions (
    id serial PRIMARY KEY,
    resource_id uuid,
    table_indexes jsonb,
    comment varchar
);

-- hydra's migration bookkeeping; api-tabular's /health/ pings it
CREATE TABLE public.migrations_csv (
    id serial PRIMARY KEY,
    migration varchar,
    applied_at timestamptz
);
INSERT INTO public.migrations_csv (migration, applied_at)
VALUES ('20240101_initial.sql', '2024-01-01 00:00:00+00');

-- private helpers (schema not exposed by PostgREST, dropped at the end of the load)
CREATE SCHEMA fixtures;

-- Build a csv_detective-like analysis from the loaded table itself, so the profile always
-- matches the rows. cols: ordered JSON array of [column, python_type, format].
CREATE FUNCTION fixtures.csv_detective(tbl text, cols jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
    c jsonb;
    col text;
    ptype text;
    fmt text;
    total bigint;
    header jsonb := '[]';
    columns jsonb := '{}';
    formats jsonb := '{}';
    profile jsonb := '{}';
    categorical jsonb := '[]';
    nb_distinct bigint;
    nb_missing bigint;
    tops jsonb;
    stats jsonb;
    grp text;
BEGIN
    EXECUTE format('SELECT count(*) FROM public.%I', tbl) INTO total;
    FOR c IN SELECT value FROM jsonb_array_elements(cols) LOOP
        col := c->>0; ptype := c->>1; fmt := c->>2;
        header := header || to_jsonb(col);
        columns := columns || jsonb_build_object(col,
            jsonb_build_object('python_type', ptype, 'format', fmt, 'score', 1.0));
        formats := formats || jsonb_build_object(fmt, COALESCE(formats->fmt, '[]') || to_jsonb(col));
        -- json values have no equality operator: group them by their text
        grp := CASE WHEN ptype = 'json' THEN format('%I::text', col) ELSE format('%I', col) END;
        EXECUTE format(
            'SELECT count(DISTINCT %1$s), count(*) FILTER (WHERE %2$I IS NULL) FROM public.%3$I',
            grp, col, tbl) INTO nb_distinct, nb_missing;
        -- top 10 values: most frequent first, ties by value
        EXECUTE format(
            'SELECT COALESCE(jsonb_agg(jsonb_build_object(''value'', to_jsonb(k), ''count'', n) ORDER BY n DESC, k), ''[]'')
               FROM (SELECT %1$s AS k, count(*) AS n FROM public.%3$I WHERE %2$I IS NOT NULL
                      GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10) t',
            grp, col, tbl) INTO tops;
        stats := jsonb_build_object('tops', tops, 'nb_distinct', nb_distinct, 'nb_missing_values', nb_missing);
        IF ptype IN ('int', 'float') THEN
            EXECUTE format(
                'SELECT jsonb_build_object(''min'', min(%1$I)::float8, ''max'', max(%1$I)::float8,
                                           ''mean'', avg(%1$I)::float8, ''std'', stddev_samp(%1$I)::float8)
                   FROM public.%2$I', col, tbl) INTO c;
            stats := stats || c;
        END IF;
        profile := profile || jsonb_build_object(col, stats);
        IF nb_distinct <= 10 THEN
            categorical := categorical || to_jsonb(col);
        END IF;
    END LOOP;
    RETURN jsonb_build_object(
        'encoding', 'utf-8',
        'separator', ';',
        'header_row_idx', 0,
        'header', header,
        'total_lines', total,
        'nb_duplicates', 0,
        'heading_columns', 0,
        'trailing_columns', 0,
        'categorical', categorical,
        'columns', columns,
        'formats', formats,
        'profile', profile);
END
$fn$;
