-- PostgREST's anonymous role reads everything in both exposed schemas; drop the private helpers.
DROP SCHEMA fixtures CASCADE;
GRANT USAGE ON SCHEMA public, metric TO web_anon;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO web_anon;
GRANT SELECT ON ALL TABLES IN SCHEMA metric TO web_anon;
ANALYZE;
