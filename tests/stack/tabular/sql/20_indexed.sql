-- Fixtures `indexed` (10000000-0000-4000-8000-000000000002, listed in ALLOW_AGGREGATION_EXCEPTIONS)
-- and `not_aggregated` (10000000-0000-4000-8000-000000000003, not listed): the same 100 rows each,
-- both with SQL indexes declared in resources_exceptions on "categorie", "score" and "annee" (so only
-- those three columns can be aggregated, and the per-resource swagger lists only them).
-- Row i (= __id), i = 1..100:
--   categorie string  CATS[1 + i % 5], CATS = alpha, bêta, gamma, delta, epsilon  (20 rows each)
--   score     int     (i * 7) % 100
--   annee     int     2020 + i % 4                                               (25 rows each)
--   region    string  NULL if i % 10 = 0, else REGIONS[1 + i % 3], REGIONS = Île-de-France, Bretagne, Occitanie
--   poids     float   i * 0.5
CREATE TABLE public."72e2ae52941ca698cb8bde29b7e51437" (
    __id serial PRIMARY KEY,
    categorie varchar,
    score bigint,
    annee bigint,
    region varchar,
    poids float
);
CREATE TABLE public."60bafd9ec72ef39986c213782b977302" (
    __id serial PRIMARY KEY,
    categorie varchar,
    score bigint,
    annee bigint,
    region varchar,
    poids float
);

INSERT INTO public."72e2ae52941ca698cb8bde29b7e51437" (categorie, score, annee, region, poids)
SELECT (ARRAY['alpha', 'bêta', 'gamma', 'delta', 'epsilon'])[1 + i % 5],
       (i * 7) % 100,
       2020 + i % 4,
       CASE WHEN i % 10 = 0 THEN NULL ELSE (ARRAY['Île-de-France', 'Bretagne', 'Occitanie'])[1 + i % 3] END,
       i * 0.5
FROM generate_series(1, 100) AS i
ORDER BY i;
INSERT INTO public."60bafd9ec72ef39986c213782b977302" (categorie, score, annee, region, poids)
SELECT categorie, score, annee, region, poids FROM public."72e2ae52941ca698cb8bde29b7e51437" ORDER BY __id;

-- the SQL indexes hydra creates for resources_exceptions (named <table>_<slug(column)>_idx)
CREATE INDEX "72e2ae52941ca698cb8bde29b7e51437_categorie_idx" ON public."72e2ae52941ca698cb8bde29b7e51437" (categorie);
CREATE INDEX "72e2ae52941ca698cb8bde29b7e51437_score_idx" ON public."72e2ae52941ca698cb8bde29b7e51437" (score);
CREATE INDEX "72e2ae52941ca698cb8bde29b7e51437_annee_idx" ON public."72e2ae52941ca698cb8bde29b7e51437" (annee);
CREATE INDEX "60bafd9ec72ef39986c213782b977302_categorie_idx" ON public."60bafd9ec72ef39986c213782b977302" (categorie);
CREATE INDEX "60bafd9ec72ef39986c213782b977302_score_idx" ON public."60bafd9ec72ef39986c213782b977302" (score);
CREATE INDEX "60bafd9ec72ef39986c213782b977302_annee_idx" ON public."60bafd9ec72ef39986c213782b977302" (annee);

INSERT INTO public.resources_exceptions (resource_id, table_indexes, comment) VALUES
    ('10000000-0000-4000-8000-000000000002', '{"categorie": "index", "score": "index", "annee": "index"}',
     'Ressource indexée, agrégation autorisée'),
    ('10000000-0000-4000-8000-000000000003', '{"categorie": "index", "score": "index", "annee": "index"}',
     'Ressource indexée, agrégation refusée');

INSERT INTO public.tables_index (parsing_table, csv_detective, resource_id, url, created_at, deleted_at, dataset_id)
SELECT t.parsing_table,
       fixtures.csv_detective(t.parsing_table, '[
           ["categorie", "string", "string"],
           ["score", "int", "int"],
           ["annee", "int", "year"],
           ["region", "string", "region"],
           ["poids", "float", "float"]
       ]'),
       t.resource_id::uuid, t.url, t.created_at::timestamptz, NULL, 'd00000000000000000000002'
FROM (VALUES
    ('72e2ae52941ca698cb8bde29b7e51437', '10000000-0000-4000-8000-000000000002',
     'https://static.data.gouv.fr/resources/datagouv-rs-fixtures/indexed.csv', '2024-05-02 11:00:00+00'),
    ('60bafd9ec72ef39986c213782b977302', '10000000-0000-4000-8000-000000000003',
     'https://static.data.gouv.fr/resources/datagouv-rs-fixtures/not_aggregated.csv', '2024-05-02 12:00:00+00')
) AS t(parsing_table, resource_id, url, created_at);
